//! Preferred-partner assignment: the explainable ranking and `auto-assign`.

use actix_web::{HttpResponse, get, post, web};
use prm_domain::assignment::Ranking;
use prm_domain::ids::OpportunityId;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::IfMatch;
use crate::routes::lifecycle::respond;
use crate::routes::opportunities::OpportunityDto;
use crate::service::assignment;
use crate::service::lifecycle::Request;
use crate::state::AppState;

/// Each part of a candidate's score, already weighted by the policy.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ScoreParts)]
pub struct ScorePartsDto {
    #[schema(example = 30.0)]
    pub country: f64,
    #[schema(example = 20.0)]
    pub industry: f64,
    #[schema(example = 25.0)]
    pub product_lines: f64,
    #[schema(example = 7.5)]
    pub tier: f64,
    #[schema(example = 5.0)]
    pub capacity: f64,
    #[schema(example = 0.0)]
    pub history: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Candidate)]
pub struct CandidateDto {
    pub org_id: Uuid,
    #[schema(example = "Northwind Distribution")]
    pub name: String,
    /// Sum of the parts; higher is better.
    #[schema(example = 87.5)]
    pub score: f64,
    pub parts: ScorePartsDto,
}

/// Why a partner is not a candidate.
#[derive(Debug, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    Inactive,
    Paused,
    AtCapacity,
    Declined,
    Returned,
    Expired,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ExcludedPartner)]
pub struct ExcludedDto {
    pub org_id: Uuid,
    #[schema(example = "Contoso Reseller")]
    pub name: String,
    pub reason: ExclusionReason,
}

/// Every eligible partner, best first, and every excluded one with its reason.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Candidates)]
pub struct CandidatesDto {
    pub items: Vec<CandidateDto>,
    pub excluded: Vec<ExcludedDto>,
}

fn dto(r: Ranking) -> CandidatesDto {
    use prm_domain::assignment::Exclusion as E;
    CandidatesDto {
        items: r
            .candidates
            .into_iter()
            .map(|c| CandidateDto {
                org_id: c.id.0,
                name: c.name,
                score: c.score,
                parts: ScorePartsDto {
                    country: c.parts.country,
                    industry: c.parts.industry,
                    product_lines: c.parts.product_lines,
                    tier: c.parts.tier,
                    capacity: c.parts.capacity,
                    history: c.parts.history,
                },
            })
            .collect(),
        excluded: r
            .excluded
            .into_iter()
            .map(|e| ExcludedDto {
                org_id: e.id.0,
                name: e.name,
                reason: match e.reason {
                    E::Inactive => ExclusionReason::Inactive,
                    E::Paused => ExclusionReason::Paused,
                    E::AtCapacity => ExclusionReason::AtCapacity,
                    E::Declined => ExclusionReason::Declined,
                    E::Returned => ExclusionReason::Returned,
                    E::Expired => ExclusionReason::Expired,
                },
            })
            .collect(),
    }
}

/// The ranking: every eligible partner with its score and parts, and every
/// excluded partner with its reason (vendor users).
#[utoipa::path(
    operation_id = "list_candidates",
    tag = "lifecycle",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CandidatesDto))
)]
#[get("/candidates")]
pub async fn candidates(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    let ranking = state
        .run(caller, move |conn, actor| {
            assignment::candidates(conn, actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(dto(ranking)))
}

/// Offer the opportunity to the best-ranked candidate, answer due within the
/// policy's acceptance window (vendor writers; from `draft`, `declined`,
/// `returned` or `expired`).
#[utoipa::path(
    operation_id = "auto_assign_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not distributable in its status (`invalid_transition`), or no partner can take it (`no_candidate`, saying why)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/auto-assign")]
pub async fn auto_assign(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::AutoAssign,
    )
    .await
}
