//! Preferred-partner assignment: the explainable ranking and `auto-assign`.

use actix_web::{HttpResponse, get, post, web};
use prm_domain::assignment::{History, Partner, PastAnswer, Ranking, Wanted, rank};
use prm_domain::lifecycle::should_reassign;
use prm_domain::opportunity::{Action, Status};
use prm_domain::org::Tier;
use prm_domain::policy::{Policy, Weights};
use prm_store::PgConnection;
use prm_store::assignment::{partners_for, set_reassign};
use prm_store::opportunities::Opportunity;
use prm_store::policies::PolicyRow;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::IfMatch;
use crate::routes::lifecycle::{Request, respond};
use crate::routes::opportunities::{OpportunityDto, locked_for, visible_view};
use crate::state::AppState;

/// Each part of a candidate's score, already weighted by the policy.
#[derive(Debug, Serialize, ToSchema)]
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

/// Marks the locked opportunity `row` for automatic re-assignment when the
/// policy says its move to `to` calls for one (the deadline worker does it),
/// clears the mark otherwise, and counts an automatic assignment when `auto`.
pub fn mark_reassignment(
    conn: &mut PgConnection,
    policy: &Policy,
    row: &Opportunity,
    to: Status,
    auto: bool,
) -> Result<(), ApiError> {
    let count = u32::try_from(row.auto_assignments).unwrap_or(u32::MAX);
    set_reassign(conn, row.id, should_reassign(policy, to, count), auto)?;
    Ok(())
}

/// Ranks every partner org for an opportunity with the policy's weights.
pub fn ranking_for(
    conn: &mut PgConnection,
    row: &Opportunity,
    weights: Weights,
) -> Result<Ranking, ApiError> {
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let partners = partners_for(conn, row.id)?
        .into_iter()
        .map(|p| {
            Ok(Partner {
                id: p.id.into(),
                name: p.name,
                active: p.active,
                accepting: p.accepting,
                countries: p.countries,
                industries: p.industries,
                product_lines: p.product_lines,
                tier: p.tier.parse::<Tier>().map_err(ApiError::Internal)?,
                capacity: u32::try_from(p.capacity).unwrap_or(0),
                open: n(p.open),
                history: History {
                    offered: n(p.offered),
                    accepted: n(p.accepted),
                    won: n(p.won),
                    closed: n(p.closed),
                },
                last_assigned_at: p.last_assigned_at,
                past: match p.past.as_deref() {
                    Some("decline") => Some(PastAnswer::Declined),
                    Some("return") => Some(PastAnswer::Returned),
                    Some("expire") => Some(PastAnswer::Expired),
                    _ => None,
                },
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let wanted = Wanted {
        country: row.country.clone(),
        industry: row.industry.clone(),
        product_lines: row.product_lines.clone(),
    };
    Ok(rank(&wanted, &partners, &weights))
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

/// Why nobody can be offered the opportunity, for a 409.
pub fn no_candidate(r: &Ranking) -> ApiError {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in &r.excluded {
        match counts.iter_mut().find(|(k, _)| *k == e.reason.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.reason.as_str(), 1)),
        }
    }
    let why = counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::Conflict {
        code: "no_candidate",
        detail: if why.is_empty() {
            "no partner org exists to offer it to".to_owned()
        } else {
            format!("no partner can take it: {why}")
        },
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
#[get("/opportunities/{id}/candidates")]
pub async fn candidates(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let ranking = state
        .run(caller, move |conn, actor| {
            let view = visible_view(conn, actor, id)?;
            if !actor.is_vendor() {
                return Err(ApiError::Forbidden {
                    code: "forbidden",
                    detail: "only vendor users see the partner ranking".to_owned(),
                });
            }
            let weights = PolicyRow::load(conn)?.policy().weights;
            ranking_for(conn, &view.row, weights)
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
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not distributable in its status (`invalid_transition`), or no partner can take it (`no_candidate`, saying why)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/auto-assign")]
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

/// Decides and ranks; used by `perform` for `Request::AutoAssign`.
pub fn best_partner(
    conn: &mut PgConnection,
    actor: &prm_domain::Actor,
    id: Uuid,
) -> Result<Uuid, ApiError> {
    let (row, _) = locked_for(conn, actor, id, Action::AutoAssign)?;
    let weights = PolicyRow::load(conn)?.policy().weights;
    let ranking = ranking_for(conn, &row, weights)?;
    ranking
        .best()
        .map(|b| b.id.0)
        .ok_or_else(|| no_candidate(&ranking))
}
