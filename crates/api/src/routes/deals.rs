//! Deal registration: `/opportunities/{id}/deal-registration` and
//! `/deal-registrations`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::Actor;
use prm_domain::deal::RegStatus;
use prm_domain::ids::OpportunityId;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::FullDate;
use crate::dto::{RegActionDto, RegStatusDto, not_blank, valid_labels};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::deals::{self, NewRegistrationCommand, RegistrationRead};
use crate::state::AppState;

/// A partner's claim to exclusivity for a customer and product lines.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DealRegistration, example = json!({"id": "0193a2c8-4444-7cc3-9d5e-5b3c2a1f0e9d", "opportunity_id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d",
    "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "customer_id": "0193a2c6-2222-7cc3-9d5e-5b3c2a1f0e9d",
    "product_lines": ["cloud"], "justification": "we sourced this customer", "status": "submitted",
    "exclusive_until": null, "decision_reason": null, "conflicts": [],
    "submitted_by_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d", "decided_at": null, "version": 1,
    "created_at": "2026-11-12T11:00:00Z", "updated_at": "2026-11-12T11:00:00Z",
    "allowed_actions": ["approve", "reject"]}))]
pub struct RegistrationDto {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    /// The registering org.
    pub org_id: Uuid,
    pub customer_id: Uuid,
    #[schema(example = json!(["cloud"]))]
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
    pub status: RegStatusDto,
    /// Set when approved.
    pub exclusive_until: Option<NaiveDate>,
    pub decision_reason: Option<String>,
    /// Vendor users only: other orgs' registrations claiming the same
    /// customer and a shared product line when this one was submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<Uuid>>,
    pub submitted_by_user_id: Uuid,
    pub decided_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Exactly what the caller may do to it now.
    pub allowed_actions: Vec<RegActionDto>,
}

fn dto(read: RegistrationRead) -> RegistrationDto {
    let RegistrationRead {
        row: r,
        facts,
        allowed,
        conflicts_visible,
    } = read;
    RegistrationDto {
        allowed_actions: allowed.into_iter().map(RegActionDto::from).collect(),
        status: facts.status.into(),
        conflicts: conflicts_visible.then_some(r.conflict_ids),
        id: r.id,
        opportunity_id: r.opportunity_id.into(),
        org_id: r.org_id.into(),
        customer_id: r.customer_id.into(),
        product_lines: r.product_lines,
        justification: r.justification,
        exclusive_until: r.exclusive_until,
        decision_reason: r.decision_reason,
        submitted_by_user_id: r.submitted_by_user_id.into(),
        decided_at: r.decided_at,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Register a deal on an opportunity the caller's org created.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_lines": ["cloud"], "justification": "we sourced this customer"}))]
pub struct CreateRegistration {
    #[validate(length(min = 1, max = 20), custom(function = "valid_labels"))]
    #[schema(min_items = 1, max_items = 20)]
    pub product_lines: Vec<String>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub justification: Option<String>,
}

/// Approve with an exclusivity end date.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"exclusive_until": "2027-04-30"}))]
pub struct ApproveRegistration {
    /// Default: today plus the policy's `registration_exclusivity_days`.
    #[schema(value_type = Option<NaiveDate>)]
    pub exclusive_until: Option<FullDate>,
}

/// Register a deal (the creating org's admin or the owner). Conflicting
/// registrations of other orgs are recorded on it.
#[utoipa::path(
    operation_id = "register_deal",
    tag = "deal-registrations",
    params(("id" = Uuid, Path, description = "Opportunity id")),
    request_body = CreateRegistration,
    responses(
        (status = 201, body = RegistrationDto, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The opportunity is not open (`invalid_transition`) or already has a live registration (`registration_exists`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/deal-registration")]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<CreateRegistration>,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    let body = body.0;
    let command = NewRegistrationCommand {
        product_lines: body.product_lines,
        justification: body.justification,
    };
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| deals::register(conn, actor, id, command))
        })
        .await?;
    let reg = dto(reg);
    Ok(created(
        format!("/api/v1/deal-registrations/{}", reg.id),
        reg.version,
        &reg,
    ))
}

/// The opportunity's latest deal registration.
#[utoipa::path(
    operation_id = "get_opportunity_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path, description = "Opportunity id")),
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))))
)]
#[get("/deal-registration")]
pub async fn get_for_opportunity(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    let reg = state
        .run(caller, move |conn, actor| {
            deals::latest_for(conn, actor, id)
        })
        .await
        .map(dto)?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegistrationListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    #[param(inline)]
    pub status: Option<RegStatusDto>,
}

/// Registrations the caller may see: all for vendor users; a partner's own
/// org's (and its resellers').
#[utoipa::path(
    operation_id = "list_deal_registrations",tag = "deal-registrations", params(RegistrationListParams), responses((status = 200, body = Page<RegistrationDto>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<RegistrationListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let status = params.status.map(RegStatus::from);
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_cursor(cursor)?;
        let rows = deals::list(conn, actor, status, after, fetch_size(Some(limit)))?;
        into_page(
            rows,
            Some(limit),
            |r| r.row.id,
            |r| Ok::<_, ApiError>(dto(r)),
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "deal-registrations",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// One registration.
#[utoipa::path(
    operation_id = "get_deal_registration",tag = "deal-registrations", params(("id" = Uuid, Path)), responses((status = 200, body = RegistrationDto, headers(("ETag" = String)))))]
#[get("/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reg = state
        .run(caller, move |conn, actor| deals::get(conn, actor, id))
        .await
        .map(dto)?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

/// Approve a submitted registration (vendor writers). While another org holds
/// an approved registration for the same customer and a shared product line,
/// this is a 409 naming the holder; two approvals racing never both pass.
#[utoipa::path(
    operation_id = "approve_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ApproveRegistration,
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`), or another org holds exclusivity (`registration_exclusivity`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ApproveRegistration>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let until = body.0.exclusive_until.map(NaiveDate::from);
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| deals::approve(conn, actor, id, &if_match, until))
        })
        .await
        .map(dto)?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

/// Why a registration is rejected: a text (registrations take no reason
/// code; those are the opportunity's).
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "another partner holds this customer"}))]
pub struct RejectRegistrationBody {
    #[validate(length(min = 1, max = 1000), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// Reject a submitted registration, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "reject_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), IfMatch),
    request_body = RejectRegistrationBody,
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<RejectRegistrationBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reason = body.0.reason;
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| deals::reject(conn, actor, id, &if_match, &reason))
        })
        .await
        .map(dto)?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

/// Withdraw a submitted registration (the registering org's admin or the submitter).
#[utoipa::path(
    operation_id = "withdraw_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), IfMatch),
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| deals::withdraw(conn, actor, id, &if_match))
        })
        .await
        .map(dto)?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}
