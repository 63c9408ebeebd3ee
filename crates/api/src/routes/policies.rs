//! `/policies`: the vendor's policy.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use prm_domain::DomainError;
use prm_domain::error::one_per_field;
use prm_domain::policy::{Policy, Weights};
use prm_domain::reason;
use prm_store::Connection;
use prm_store::policies::PolicyRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::ReasonCodeDto;
use crate::error::ApiError;
use crate::extract::{IfMatch, JsonChecked};
use crate::routes::single;
use crate::service::policies;
use crate::state::AppState;

/// Weights of the automatic-distribution score parts (0 to 100 each).
/// Defaults: country 30, industry 20, product_lines 25, tier 10, capacity 10,
/// history 5. A part is its weight times a share: country and industry match
/// (0 or 1), share of the wanted product lines covered, tier (platinum 1,
/// gold 0.75, silver 0.5, registered 0.25), share of capacity free, and
/// history (half acceptance rate, half win rate).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScoreWeights)]
pub struct WeightsDto {
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 30)]
    pub country: u32,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 20)]
    pub industry: u32,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 25)]
    pub product_lines: u32,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 10)]
    pub tier: u32,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 10)]
    pub capacity: u32,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100, example = 5)]
    pub history: u32,
}

/// The policy, as written by `PUT` (every field required, `reason_codes`
/// too: a `PUT` replaces the whole policy; read it first to change a part).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"acceptance_window_hours": 72, "auto_reassign": true, "max_auto_reassignments": 3,
    "max_extensions": 2, "max_extension_days": 90, "registration_exclusivity_days": 90,
    "opportunity_validity_days": 90,
    "weights": {"country": 30, "industry": 20, "product_lines": 25, "tier": 10, "capacity": 10, "history": 5},
    "reason_codes": ["no_capacity", "not_our_territory", "customer_not_interested", "budget",
                     "competitor", "timing", "duplicate", "other"]}))]
pub struct PolicyInput {
    /// Hours a partner has to accept or decline an offer (default 72).
    #[validate(range(min = 1, max = 2160))]
    #[schema(minimum = 1, maximum = 2160)]
    pub acceptance_window_hours: u32,
    /// Re-assign automatically on decline or expiry (default true).
    pub auto_reassign: bool,
    #[validate(range(min = 0, max = 20))]
    #[schema(minimum = 0, maximum = 20)]
    pub max_auto_reassignments: u32,
    /// Extensions allowed per opportunity (default 2).
    #[validate(range(min = 0, max = 20))]
    #[schema(minimum = 0, maximum = 20)]
    pub max_extensions: u32,
    /// How far ahead of today an extension may set the expiry (default 90).
    #[validate(range(min = 1, max = 730))]
    #[schema(minimum = 1, maximum = 730)]
    pub max_extension_days: u32,
    /// Default exclusivity of an approved deal registration (default 90).
    #[validate(range(min = 1, max = 730))]
    #[schema(minimum = 1, maximum = 730)]
    pub registration_exclusivity_days: u32,
    /// Days an opportunity stays valid once accepted (default 90).
    #[validate(range(min = 1, max = 730))]
    #[schema(minimum = 1, maximum = 730)]
    pub opportunity_validity_days: u32,
    #[validate(nested)]
    pub weights: WeightsDto,
    /// The reason codes decline, return, reject, cancel and a lost close
    /// take: 1 to 50 distinct codes, `other` among them (it is the code of
    /// a reason given only as text, and needs the text). Default:
    /// `no_capacity`, `not_our_territory`, `customer_not_interested`,
    /// `budget`, `competitor`, `timing`, `duplicate`, `other`. Past reasons
    /// keep the code they were given when it leaves the list.
    #[schema(min_items = 1, max_items = 50)]
    pub reason_codes: Vec<ReasonCodeDto>,
}

/// The vendor's policy.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Policy, example = json!({"acceptance_window_hours": 72, "auto_reassign": true, "max_auto_reassignments": 3,
    "max_extensions": 2, "max_extension_days": 90, "registration_exclusivity_days": 90,
    "opportunity_validity_days": 90,
    "weights": {"country": 30, "industry": 20, "product_lines": 25, "tier": 10, "capacity": 10, "history": 5},
    "reason_codes": ["no_capacity", "not_our_territory", "customer_not_interested", "budget",
                     "competitor", "timing", "duplicate", "other"],
    "version": 1, "updated_at": "2026-11-01T08:00:00Z"}))]
pub struct PolicyDto {
    pub acceptance_window_hours: u32,
    pub auto_reassign: bool,
    pub max_auto_reassignments: u32,
    pub max_extensions: u32,
    pub max_extension_days: u32,
    pub registration_exclusivity_days: u32,
    pub opportunity_validity_days: u32,
    pub weights: WeightsDto,
    /// The reason codes decline, return, reject, cancel and a lost close
    /// take (see `PolicyInput`).
    pub reason_codes: Vec<ReasonCodeDto>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

fn dto(row: PolicyRow) -> PolicyDto {
    let p = row.policy();
    let w = p.weights;
    PolicyDto {
        acceptance_window_hours: p.acceptance_window_hours,
        auto_reassign: p.auto_reassign,
        max_auto_reassignments: p.max_auto_reassignments,
        max_extensions: p.max_extensions,
        max_extension_days: p.max_extension_days,
        registration_exclusivity_days: p.registration_exclusivity_days,
        opportunity_validity_days: p.opportunity_validity_days,
        weights: WeightsDto {
            country: w.country,
            industry: w.industry,
            product_lines: w.product_lines,
            tier: w.tier,
            capacity: w.capacity,
            history: w.history,
        },
        reason_codes: p
            .reason_codes
            .into_iter()
            .map(ReasonCodeDto::from)
            .collect(),
        version: row.version,
        updated_at: row.updated_at,
    }
}

/// The policy (every user may read it: partners see extension limits).
#[utoipa::path(
    operation_id = "get_policy",tag = "policies", responses((status = 200, body = PolicyDto, headers(("ETag" = String)))))]
#[get("")]
pub async fn get(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let row = state.run(caller, |conn, _| policies::get(conn)).await?;
    let d = dto(row);
    Ok(single(StatusCode::OK, d.version, &d))
}

/// Replace the policy (vendor admin).
#[utoipa::path(
    operation_id = "replace_policy",
    tag = "policies",
    params(IfMatch),
    request_body = PolicyInput,
    responses((status = 200, body = PolicyDto, headers(("ETag" = String))))
)]
#[put("")]
pub async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    if_match: IfMatch,
    body: JsonChecked<PolicyInput>,
) -> Result<HttpResponse, ApiError> {
    let JsonChecked(b, mut errors) = body;
    // The codes' rules are the domain's; told in the same 422 as the rest.
    let codes: Vec<&str> = b.reason_codes.iter().map(|c| c.0.as_str()).collect();
    let reason_codes = match reason::parse_codes(&codes) {
        Ok(codes) => codes,
        Err(DomainError::Invalid(found)) => {
            errors.extend(found);
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(one_per_field(errors)));
    }
    let w = b.weights;
    let policy = Policy {
        acceptance_window_hours: b.acceptance_window_hours,
        auto_reassign: b.auto_reassign,
        max_auto_reassignments: b.max_auto_reassignments,
        max_extensions: b.max_extensions,
        max_extension_days: b.max_extension_days,
        registration_exclusivity_days: b.registration_exclusivity_days,
        opportunity_validity_days: b.opportunity_validity_days,
        weights: Weights {
            country: w.country,
            industry: w.industry,
            product_lines: w.product_lines,
            tier: w.tier,
            capacity: w.capacity,
            history: w.history,
        },
        reason_codes,
    };
    let row = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| policies::replace(conn, actor, &if_match, policy))
        })
        .await?;
    let d = dto(row);
    Ok(single(StatusCode::OK, d.version, &d))
}
