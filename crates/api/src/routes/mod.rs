//! HTTP handlers, one module per resource. Each handler extracts, runs one
//! unit of work on the database queue, and writes a response DTO.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
use utoipa_actix_web::scope::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;
use crate::extract::etag;
use crate::json::WriteJson;

pub mod activity;
pub mod assignment;
pub mod batch;
pub mod csv;
pub mod customers;
pub mod dashboard;
pub mod deals;
pub mod health;
pub mod imports;
pub mod lifecycle;
pub mod lifecycle_description;
pub mod marketing;
pub mod me;
pub mod opportunities;
pub mod orgs;
pub mod policies;
pub mod users;
pub mod webhooks;

/// Registers every `/api/v1` handler; `service` (not `route`) so each
/// reaches the OpenAPI document.
///
/// As a tree of scopes, one per collection and one per opportunity, each
/// handler's path relative to its scope. actix tries the resources of a
/// scope in order, each with its own pattern (a regex where the path has a
/// parameter), so in one flat list a request was matched against every
/// route registered before its own: the dashboard, 56th, spent about a
/// fifth of its own instructions there. Now a request passes one prefix
/// per collection, and within an opportunity the routes of one. A literal
/// route is registered before the `/{id}` scope it would also fit
/// (`/opportunities/batch`), since a scope that matches is not left again.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(scope("/me").service(me::get_me));
    cfg.service(
        scope("/orgs")
            .service(orgs::create_org)
            .service(orgs::list_orgs)
            .service(orgs::get_org)
            .service(orgs::update_org),
    );
    cfg.service(
        scope("/users")
            .service(users::create_user)
            .service(users::list_users)
            .service(users::get_user)
            .service(users::update_user),
    );
    cfg.service(
        scope("/customers")
            .service(customers::create_customer)
            .service(customers::list_customers)
            .service(customers::get_customer)
            .service(customers::set_external_ref)
            .service(customers::remove_external_ref),
    );
    cfg.service(
        scope("/opportunities")
            .service(opportunities::create_opportunity)
            .service(opportunities::list_opportunities)
            .service(batch::run)
            .service(
                scope("/{id}")
                    .service(opportunities::get_opportunity)
                    .service(opportunities::update_opportunity)
                    .service(opportunities::set_external_ref)
                    .service(opportunities::remove_external_ref)
                    .service(lifecycle::approve)
                    .service(lifecycle::reject)
                    .service(lifecycle::withdraw)
                    .service(lifecycle::distribute)
                    .service(assignment::candidates)
                    .service(assignment::auto_assign)
                    .service(lifecycle::accept)
                    .service(lifecycle::decline)
                    .service(lifecycle::return_)
                    .service(lifecycle::close)
                    .service(lifecycle::extend)
                    .service(lifecycle::cancel)
                    .service(lifecycle::assign_owner)
                    .service(lifecycle::list_collaborators)
                    .service(lifecycle::add_collaborator)
                    .service(lifecycle::remove_collaborator)
                    .service(activity::add_progress)
                    .service(activity::list_progress)
                    .service(activity::add_note)
                    .service(activity::list_notes)
                    .service(activity::timeline)
                    .service(deals::register)
                    .service(deals::get_for_opportunity),
            ),
    );
    cfg.service(scope("/lifecycle").service(lifecycle_description::describe));
    cfg.service(
        scope("/deal-registrations")
            .service(deals::list)
            .service(deals::get)
            .service(deals::approve)
            .service(deals::reject)
            .service(deals::withdraw),
    );
    cfg.service(
        scope("/marketing-tasks")
            .service(marketing::create)
            .service(marketing::list)
            .service(marketing::get),
    );
    cfg.service(
        scope("/policies")
            .service(policies::get)
            .service(policies::put),
    );
    cfg.service(scope("/dashboard").service(dashboard::get));
    cfg.service(
        scope("/webhooks")
            .service(webhooks::create)
            .service(webhooks::list)
            .service(webhooks::get)
            .service(webhooks::remove)
            .service(webhooks::deliveries),
    );
    cfg.service(scope("/events").service(webhooks::event_feed));
    cfg.service(
        scope("/imports")
            .service(imports::create)
            .service(imports::get)
            .service(imports::list_errors),
    );
}

/// A single resource with its strong `ETag`.
pub fn single<T: Serialize>(status: StatusCode, version: i32, body: &T) -> HttpResponse {
    match JsonBytes::new(body, SINGLE_JSON_BYTES) {
        Ok(json) => json.single(status, version),
        Err(e) => e.error_response(),
    }
}

/// About what one resource takes as JSON, to size its buffer once.
const SINGLE_JSON_BYTES: usize = 1536;

/// A response body already serialized to JSON. Handlers that send large
/// pages make it inside their unit of work on the database queue, so the
/// event loop that serves many connections only writes bytes.
#[derive(Debug)]
pub struct JsonBytes(Vec<u8>);

impl JsonBytes {
    /// Serializes `value` into a buffer of about `size_hint` bytes.
    pub fn new<T: Serialize>(value: &T, size_hint: usize) -> Result<Self, ApiError> {
        let mut buf = Vec::with_capacity(size_hint);
        serde_json::to_writer(&mut buf, value)
            .map_err(|e| ApiError::Internal(format!("serializing a response: {e}")))?;
        Ok(Self(buf))
    }

    /// A value that writes its own JSON, into a buffer of about `size_hint`
    /// bytes.
    pub fn written<T: WriteJson + ?Sized>(value: &T, size_hint: usize) -> Self {
        Self(crate::json::to_vec(value, size_hint))
    }

    pub fn ok(self) -> HttpResponse {
        self.into_response(HttpResponse::Ok())
    }

    /// As a single resource with its strong `ETag`.
    pub fn single(self, status: StatusCode, version: i32) -> HttpResponse {
        let mut res = HttpResponse::build(status);
        res.insert_header((header::ETAG, etag(version)));
        self.into_response(res)
    }

    /// As a `201 Created` with `Location` and `ETag`.
    pub fn created(self, location: String, version: i32) -> HttpResponse {
        let mut res = HttpResponse::Created();
        res.insert_header((header::LOCATION, location))
            .insert_header((header::ETAG, etag(version)));
        self.into_response(res)
    }

    fn into_response(self, mut res: HttpResponseBuilder) -> HttpResponse {
        res.content_type("application/json").body(self.0)
    }
}

/// A `201 Created` with `Location` and `ETag`.
pub fn created<T: Serialize>(location: String, version: i32, body: &T) -> HttpResponse {
    match JsonBytes::new(body, SINGLE_JSON_BYTES) {
        Ok(json) => json.created(location, version),
        Err(e) => e.error_response(),
    }
}
