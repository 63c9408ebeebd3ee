//! Deal registration: `/opportunities/{id}/deal-registration` and
//! `/deal-registrations`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::Actor;
use prm_domain::customer::CustomerIdentity;
use prm_domain::deal::{self as rules, OtherRegistration, RegAction, RegStatus, RegistrationFacts};
use prm_domain::opportunity::Action;
use prm_domain::values::{CountryCode, labels};
use prm_store::customers::Customer;
use prm_store::deals::{self as store, NewRegistration, Registration, RegistrationChanges};
use prm_store::policies::PolicyRow;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{ReasonBody, RegActionDto, RegStatusDto, valid_labels};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::notify;
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::opportunities::{locked_for, visible_view};
use crate::routes::{created, single};
use crate::state::AppState;
use prm_domain::events::EventType;

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

fn facts(r: &Registration) -> Result<RegistrationFacts, ApiError> {
    Ok(RegistrationFacts {
        status: RegStatusDto::from_stored(&r.status)?.into(),
        org_id: r.org_id.into(),
        submitted_by: r.submitted_by_user_id.into(),
    })
}

fn dto(r: Registration, actor: &Actor) -> Result<RegistrationDto, ApiError> {
    let f = facts(&r)?;
    Ok(RegistrationDto {
        allowed_actions: rules::allowed_actions(actor, &f)
            .into_iter()
            .map(RegActionDto::from)
            .collect(),
        status: f.status.into(),
        conflicts: actor.is_vendor().then_some(r.conflict_ids),
        id: r.id,
        opportunity_id: r.opportunity_id,
        org_id: r.org_id,
        customer_id: r.customer_id,
        product_lines: r.product_lines,
        justification: r.justification,
        exclusive_until: r.exclusive_until,
        decision_reason: r.decision_reason,
        submitted_by_user_id: r.submitted_by_user_id,
        decided_at: r.decided_at,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
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
    pub exclusive_until: Option<NaiveDate>,
}

fn identity(c: &Customer) -> Result<CustomerIdentity, ApiError> {
    let country: CountryCode = c
        .country
        .parse()
        .map_err(|e: String| ApiError::Internal(e))?;
    Ok(CustomerIdentity {
        name_key: c.name_key.clone(),
        country,
        tax_id: c.tax_id_key.clone(),
        web_domain: c.domain_key.clone(),
    })
}

fn others(
    conn: &mut PgConnection,
    lines: &[String],
) -> Result<Vec<OtherRegistration<Uuid>>, ApiError> {
    store::active_with_lines(conn, lines)?
        .into_iter()
        .map(|(r, c, org_name)| {
            Ok(OtherRegistration {
                id: r.id,
                org_id: r.org_id.into(),
                org_name,
                status: RegStatusDto::from_stored(&r.status)?.into(),
                identity: identity(&c)?,
                product_lines: r.product_lines,
            })
        })
        .collect()
}

/// Registers a deal in the caller's transaction.
pub fn register_in(
    conn: &mut PgConnection,
    actor: &prm_domain::Actor,
    id: Uuid,
    body: CreateRegistration,
) -> Result<RegistrationDto, ApiError> {
    let (row, _) = locked_for(conn, actor, id, Action::RegisterDeal)?;
    if !Registration::active_for_update(conn, id)?.is_empty() {
        return Err(ApiError::Conflict {
            code: "registration_exists",
            detail: "this opportunity already has a submitted or approved registration".into(),
        });
    }
    let lines =
        labels(&body.product_lines).map_err(|e| ApiError::validation("product_lines", e))?;
    let customer = Customer::find(conn, row.customer_id)?
        .ok_or_else(|| ApiError::Internal("customer gone".into()))?;
    let conflicts = rules::conflicts(
        actor.org_id,
        &identity(&customer)?,
        &lines,
        &others(conn, &lines)?,
    );
    let r = Registration::insert(
        conn,
        &NewRegistration {
            id: Uuid::now_v7(),
            opportunity_id: id,
            org_id: actor.org_id.0,
            customer_id: row.customer_id,
            product_lines: lines,
            justification: body
                .justification
                .map(|j| j.trim().to_owned())
                .filter(|j| !j.is_empty()),
            status: RegStatus::Submitted.as_str().to_owned(),
            conflict_ids: conflicts,
            submitted_by_user_id: actor.user_id.0,
        },
    )?;
    notify::registration(conn, EventType::DealRegistrationSubmitted, &r)?;
    notify::registration(conn, EventType::DealRegistrationSubmitted, &r)?;
    dto(r, actor)
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
#[post("/opportunities/{id}/deal-registration")]
pub async fn register(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<CreateRegistration>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.0;
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| register_in(conn, actor, id, body))
        })
        .await?;
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
#[get("/opportunities/{id}/deal-registration")]
pub async fn get_for_opportunity(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reg = state
        .run(caller, move |conn, actor| {
            visible_view(conn, actor, id)?;
            let r = Registration::latest_for(conn, id)?.ok_or(ApiError::NotFound)?;
            if !rules::can_view(actor, &facts(&r)?) {
                return Err(ApiError::NotFound);
            }
            dto(r, actor)
        })
        .await?;
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
#[get("/deal-registrations")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<RegistrationListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let after = decode_cursor(params.cursor.as_deref())?;
    let page = state
        .run(caller, move |conn, actor| {
            let scope: Option<Vec<Uuid>> =
                (!actor.is_vendor()).then(|| actor.org_scope().iter().map(|o| o.0).collect());
            let status = params.status.map(|s| RegStatus::from(s).as_str());
            let rows = Registration::list(
                conn,
                scope.as_deref(),
                status,
                after,
                fetch_size(params.limit),
            )?;
            into_page(rows, params.limit, |r| r.id, |r| dto(r, actor))
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One registration.
#[utoipa::path(
    operation_id = "get_deal_registration",tag = "deal-registrations", params(("id" = Uuid, Path)), responses((status = 200, body = RegistrationDto, headers(("ETag" = String)))))]
#[get("/deal-registrations/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reg = state
        .run(caller, move |conn, actor| {
            let r = Registration::find(conn, id)?.ok_or(ApiError::NotFound)?;
            if !rules::can_view(actor, &facts(&r)?) {
                return Err(ApiError::NotFound);
            }
            dto(r, actor)
        })
        .await?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

fn decide_on(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    action: RegAction,
) -> Result<Registration, ApiError> {
    let r = Registration::find_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
    rules::decide(actor, &facts(&r)?, action)?;
    if_match.check(r.version)?;
    Ok(r)
}

/// Approves a registration in the caller's transaction.
pub fn approve_in(
    conn: &mut PgConnection,
    actor: &prm_domain::Actor,
    id: Uuid,
    if_match: &IfMatch,
    until: Option<NaiveDate>,
) -> Result<RegistrationDto, ApiError> {
    // Serialize approvals so the exclusivity check sees every
    // approval committed before it.
    store::lock_approvals(conn)?;
    let r = decide_on(conn, actor, id, if_match, RegAction::Approve)?;
    let today = Utc::now().date_naive();
    let until = match until {
        Some(d) if d <= today => {
            return Err(ApiError::validation(
                "exclusive_until",
                "must be after today",
            ));
        }
        Some(d) => d,
        None => {
            let days = PolicyRow::load(conn)?
                .policy()
                .registration_exclusivity_days;
            today + chrono::Days::new(u64::from(days))
        }
    };
    let customer = Customer::find(conn, r.customer_id)?
        .ok_or_else(|| ApiError::Internal("customer gone".into()))?;
    rules::check_exclusivity(
        r.org_id.into(),
        &identity(&customer)?,
        &r.product_lines,
        &others(conn, &r.product_lines)?,
    )?;
    let r = Registration::update(
        conn,
        id,
        &RegistrationChanges {
            status: Some(RegStatus::Approved.as_str().to_owned()),
            exclusive_until: Some(Some(until)),
            decided_by_user_id: Some(Some(actor.user_id.0)),
            decided_at: Some(Some(Utc::now())),
            ..RegistrationChanges::default()
        },
    )?;
    notify::registration(conn, EventType::DealRegistrationApproved, &r)?;
    dto(r, actor)
}

/// Approve a submitted registration (vendor writers). While another org holds
/// an approved registration for the same customer and a shared product line,
/// this is a 409 naming the holder; two approvals racing never both pass.
#[utoipa::path(
    operation_id = "approve_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ApproveRegistration,
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`), or another org holds exclusivity (`registration_exclusivity`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/deal-registrations/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ApproveRegistration>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let until = body.0.exclusive_until;
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| approve_in(conn, actor, id, &if_match, until))
        })
        .await?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

/// Reject a submitted registration, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "reject_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ReasonBody,
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/deal-registrations/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reason = body.0.reason.trim().to_owned();
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                decide_on(conn, actor, id, &if_match, RegAction::Reject)?;
                let r = Registration::update(
                    conn,
                    id,
                    &RegistrationChanges {
                        status: Some(RegStatus::Rejected.as_str().to_owned()),
                        decision_reason: Some(Some(reason)),
                        decided_by_user_id: Some(Some(actor.user_id.0)),
                        decided_at: Some(Some(Utc::now())),
                        ..RegistrationChanges::default()
                    },
                )?;
                notify::registration(conn, EventType::DealRegistrationRejected, &r)?;
                dto(r, actor)
            })
        })
        .await?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}

/// Withdraw a submitted registration (the registering org's admin or the submitter).
#[utoipa::path(
    operation_id = "withdraw_deal_registration",
    tag = "deal-registrations",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = RegistrationDto, headers(("ETag" = String))),
              (status = 409, description = "Not `submitted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/deal-registrations/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reg = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                decide_on(conn, actor, id, &if_match, RegAction::Withdraw)?;
                let r = Registration::update(
                    conn,
                    id,
                    &RegistrationChanges {
                        status: Some(RegStatus::Withdrawn.as_str().to_owned()),
                        ..RegistrationChanges::default()
                    },
                )?;
                notify::registration(conn, EventType::DealRegistrationWithdrawn, &r)?;
                dto(r, actor)
            })
        })
        .await?;
    Ok(single(StatusCode::OK, reg.version, &reg))
}
