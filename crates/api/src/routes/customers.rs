//! `/customers`: end-customer accounts held by orgs.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_domain::customer as rules;
use prm_domain::external_ref::ExternalRef;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{RegistrationDto, not_blank, valid_country, valid_external_ref};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::customers::{self, CustomerRead};
use crate::service::external_refs;
use crate::state::AppState;

/// An end-customer account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer, example = json!({"id": "0193a2c6-2222-7cc3-9d5e-5b3c2a1f0e9d", "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "name": "Fabrikam GmbH", "name_masked": false, "external_ref": "001A000001XyZ12", "country": "DE", "industry": "retail", "tax_id": null,
    "web_domain": "fabrikam.example", "registration": "preregistered", "version": 1,
    "created_at": "2026-11-03T10:00:00Z", "updated_at": "2026-11-03T10:00:00Z"}))]
pub struct CustomerDto {
    pub id: Uuid,
    /// The org that holds this customer.
    pub org_id: Uuid,
    /// Masked (`F••••••• G•••`) when `name_masked` is true.
    #[schema(example = "Fabrikam GmbH")]
    pub name: String,
    /// The name is masked: the customer is held by another org the caller
    /// acts for (a distributor's reseller). Ask with `reveal=true` to see it;
    /// reveals are recorded.
    pub name_masked: bool,
    /// The caller's org's own reference to it (its CRM's id), set on create
    /// or with `PUT …/external-ref`; no other org sees it.
    #[schema(example = "001A000001XyZ12", max_length = 200)]
    pub external_ref: Option<String>,
    #[schema(example = "DE")]
    pub country: String,
    #[schema(example = "retail")]
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    #[schema(example = "fabrikam.example")]
    pub web_domain: Option<String>,
    pub registration: RegistrationDto,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CustomerDto {
    /// The customer as the caller meets it: its name masked or not, the
    /// caller's org's own reference.
    pub fn from_read(read: CustomerRead) -> Result<Self, ApiError> {
        let CustomerRead {
            customer: c,
            masked,
            external_ref,
        } = read;
        Ok(Self {
            external_ref,
            registration: c.registration.into(),
            id: c.id.into(),
            org_id: c.org_id.into(),
            name: if masked {
                rules::mask_name(&c.name)
            } else {
                c.name
            },
            name_masked: masked,
            country: c.country,
            industry: c.industry,
            tax_id: c.tax_id,
            web_domain: c.web_domain,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }
}

/// A new customer.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Fabrikam GmbH", "country": "DE", "industry": "retail",
    "registration": "preregistered"}))]
pub struct CreateCustomer {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// ISO 3166-1 alpha-2.
    #[validate(custom(function = "valid_country"))]
    #[schema(
        min_length = 2,
        max_length = 2,
        pattern = "^[A-Za-z]{2}$",
        example = "DE"
    )]
    pub country: String,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub industry: Option<String>,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub tax_id: Option<String>,
    #[validate(length(min = 3, max = 253))]
    #[schema(min_length = 3, max_length = 253, example = "fabrikam.example")]
    pub web_domain: Option<String>,
    /// Partners: `preregistered` (default). Vendor: `vendor_owned` for its own
    /// customers (default), `preregistered` or `associated` for a partner's.
    pub registration: Option<RegistrationDto>,
    /// The holding org; vendor only (partners hold their own customers).
    pub org_id: Option<Uuid>,
    /// The caller's org's own reference (its CRM's id): unique per org among
    /// customers; a second create with it is a 409 `external_ref_exists`
    /// naming the first (`existing_id`).
    #[validate(custom(function = "valid_external_ref"))]
    #[schema(min_length = 1, max_length = 200, example = "001A000001XyZ12")]
    pub external_ref: Option<String>,
}

impl CreateCustomer {
    /// The use case's command.
    pub fn command(self) -> Result<customers::NewCustomerCommand, ApiError> {
        Ok(customers::NewCustomerCommand {
            external_ref: parse_ref(self.external_ref.as_deref())?,
            org_id: self.org_id.map(Into::into),
            name: self.name,
            country: self.country,
            industry: self.industry,
            tax_id: self.tax_id,
            web_domain: self.web_domain,
            registration: self.registration.map(Into::into),
        })
    }
}

/// Which of a distributor's customer lists to show.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerScope {
    /// Customers the caller's own org holds.
    Mine,
    /// Customers the caller's resellers hold (distributors).
    Resellers,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// For partners: `mine` or `resellers`; both when absent.
    #[param(inline)]
    pub scope: Option<CustomerScope>,
    /// Vendor users: only this org's customers.
    pub org_id: Option<Uuid>,
    /// The one whose `external_ref` (the caller's org's own reference) is
    /// exactly this.
    #[param(min_length = 1, max_length = 200)]
    pub external_ref: Option<String>,
    /// Show masked names in full; the reveal is recorded.
    pub reveal: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerGetParams {
    /// Show a masked name in full; the reveal is recorded.
    pub reveal: Option<bool>,
}

/// Register a customer.
#[utoipa::path(
    tag = "customers",
    request_body = CreateCustomer,
    responses(
        (status = 201, description = "Created", body = CustomerDto,
         headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The org already holds this customer \
            (`duplicate_customer`), another partner is its associated holder \
            (`customer_already_associated`, naming the holder), or the org's \
            `external_ref` already names another customer (`external_ref_exists`, \
            with `existing_id`)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("")]
pub async fn create_customer(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateCustomer>,
) -> Result<HttpResponse, ApiError> {
    let command = body.0.command()?;
    let customer = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| customers::create(conn, actor, command))
        })
        .await?;
    let dto = CustomerDto::from_read(customer)?;
    Ok(created(
        format!("/api/v1/customers/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// List the customers the caller may see. Distributors choose `scope=mine`
/// or `scope=resellers`.
#[utoipa::path(tag = "customers", params(CustomerListParams), responses((status = 200, body = Page<CustomerDto>)))]
#[get("")]
pub async fn list_customers(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<CustomerListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let query = customers::CustomerQuery {
        only: params.org_id.map(Into::into),
        scope: params.scope.map(|s| match s {
            CustomerScope::Mine => customers::Scope::Mine,
            CustomerScope::Resellers => customers::Scope::Resellers,
        }),
        external_ref: parse_ref(params.external_ref.as_deref())?,
        reveal: params.reveal.unwrap_or(false),
        after: None,
        fetch: 0,
    };
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let query = customers::CustomerQuery {
            after: decode_cursor(cursor)?,
            fetch: fetch_size(Some(limit)),
            ..query.clone()
        };
        let rows = customers::list(conn, actor, &query)?;
        into_page(
            rows,
            Some(limit),
            |r| r.customer.id.0,
            CustomerDto::from_read,
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "customers",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// Get one customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), CustomerGetParams),
    responses((status = 200, body = CustomerDto, headers(("ETag" = String))))
)]
#[get("/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<CustomerGetParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let params = params.0;
    let customer = state
        .run(caller, move |conn, actor| {
            customers::get(conn, actor, id, params.reveal.unwrap_or(false))
        })
        .await?;
    let dto = CustomerDto::from_read(customer)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}

/// An optional external reference of a request, or its 422.
pub fn parse_ref(text: Option<&str>) -> Result<Option<ExternalRef>, ApiError> {
    text.map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::validation("external_ref", e))
}

/// The caller's org's own reference to a resource.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"external_ref": "001A000001XyZ12"}))]
pub struct ExternalRefBody {
    /// 1 to 200 characters, kept exactly (case matters), without control
    /// characters or surrounding spaces; unique per org among resources of
    /// the kind.
    #[validate(custom(function = "valid_external_ref"))]
    #[schema(min_length = 1, max_length = 200)]
    pub external_ref: String,
}

/// Set the caller's org's own reference to a customer it can see (its CRM's
/// id); it replaces the org's earlier one. Only the caller's org sees it.
#[utoipa::path(
    operation_id = "set_customer_external_ref",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = ExternalRefBody,
    responses(
        (status = 200, body = CustomerDto, headers(("ETag" = String))),
        (status = 409, description = "The org's reference already names another customer \
            (`external_ref_exists`, with `existing_id`)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/{id}/external-ref")]
pub async fn set_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<ExternalRefBody>,
) -> Result<HttpResponse, ApiError> {
    let external_ref = parse_ref(Some(&body.0.external_ref))?;
    change_external_ref(state, caller, id.into_inner(), external_ref).await
}

/// Remove the caller's org's own reference to a customer.
#[utoipa::path(
    operation_id = "remove_customer_external_ref",
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses((status = 200, body = CustomerDto, headers(("ETag" = String))))
)]
#[delete("/{id}/external-ref")]
pub async fn remove_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    change_external_ref(state, caller, id.into_inner(), None).await
}

async fn change_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: Uuid,
    external_ref: Option<ExternalRef>,
) -> Result<HttpResponse, ApiError> {
    let read = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                external_refs::set_on_customer(conn, actor, id.into(), external_ref)
            })
        })
        .await?;
    let dto = CustomerDto::from_read(read)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}
