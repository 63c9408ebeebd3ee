//! HTTP handlers, one module per resource. Each handler extracts, runs one
//! unit of work on the database queue, and writes a response DTO.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
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
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(me::get_me)
        .service(orgs::create_org)
        .service(orgs::list_orgs)
        .service(orgs::get_org)
        .service(orgs::update_org)
        .service(users::create_user)
        .service(users::list_users)
        .service(users::get_user)
        .service(users::update_user)
        .service(customers::create_customer)
        .service(customers::list_customers)
        .service(customers::get_customer)
        .service(customers::set_external_ref)
        .service(customers::remove_external_ref)
        .service(opportunities::create_opportunity)
        .service(opportunities::list_opportunities)
        .service(opportunities::get_opportunity)
        .service(opportunities::update_opportunity)
        .service(opportunities::set_external_ref)
        .service(opportunities::remove_external_ref)
        .service(lifecycle_description::describe)
        .service(batch::run)
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
        .service(deals::get_for_opportunity)
        .service(deals::list)
        .service(deals::get)
        .service(deals::approve)
        .service(deals::reject)
        .service(deals::withdraw)
        .service(marketing::create)
        .service(marketing::list)
        .service(marketing::get)
        .service(policies::get)
        .service(policies::put)
        .service(dashboard::get)
        .service(webhooks::create)
        .service(webhooks::list)
        .service(webhooks::get)
        .service(webhooks::remove)
        .service(webhooks::deliveries)
        .service(webhooks::event_feed)
        .service(imports::create)
        .service(imports::get)
        .service(imports::list_errors);
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
