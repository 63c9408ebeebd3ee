//! Lifecycle actions on an opportunity: `POST /opportunities/{id}/<action>`.
//! Each runs under a row lock in one transaction: load, let the domain decide,
//! check `If-Match`, write the change and its status event, answer the
//! opportunity as the caller now sees it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::Actor;
use prm_domain::events::{EventType, for_transition};
use prm_domain::lifecycle::{
    Command, PartnerState, check_close, check_distribution, check_extension, transition,
};
use prm_domain::opportunity::{Action, Status};
use prm_domain::org::OrgKind;
use prm_domain::policy::Policy;
use prm_domain::values::CurrencyCode;
use prm_store::assignment;
use prm_store::opportunities::{self as store, NewEvent, Opportunity, StateChanges};
use prm_store::orgs::Org;
use prm_store::policies::PolicyRow;
use prm_store::users::User;
use prm_store::{Connection, PgConnection, deals};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{MoneyDto, OrgKindDto, ReasonBody, RoleDto, not_blank};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody};
use crate::notify;
use crate::routes::assignment::mark_reassignment;
use crate::routes::opportunities::{
    OpportunityDto, changed, locked, locked_for, opportunity_response, visible_view,
};
use crate::state::AppState;

/// Extra column changes an action makes beyond the domain's outcome.
type Extra<'a> =
    Box<dyn FnOnce(&Opportunity, &Policy, &mut StateChanges) -> Result<(), ApiError> + 'a>;

/// Applies one lifecycle command inside the caller's transaction.
pub fn apply(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    command: Command,
    reason: Option<&str>,
    extra: Extra<'_>,
) -> Result<OpportunityDto, ApiError> {
    let (row, facts) = locked(conn, id)?;
    let policy = PolicyRow::load(conn)?.policy();
    let vendor = Org::vendor(conn)?.ok_or_else(|| ApiError::Internal("no vendor org".into()))?;
    let outcome = transition(actor, &facts, &command, vendor.id.into())?;
    if_match.check(row.version)?;
    let mut changes = StateChanges {
        status: Some(outcome.to.as_str().to_owned()),
        primary_partner_id: outcome.primary.map(|p| Some(p.0)),
        owner_org_id: outcome.owner.map(|(o, _)| o.0),
        owner_user_id: outcome.owner.map(|(_, u)| u.0),
        ..StateChanges::default()
    };
    extra(&row, &policy, &mut changes)?;
    Opportunity::change_state(conn, id, &changes)?;
    if let Some(c) = &outcome.collaborators {
        let ids: Vec<Uuid> = c.iter().map(|o| o.0).collect();
        store::set_collaborators(conn, id, &ids)?;
    }
    let (closed, ended) = match outcome.to {
        Status::Won | Status::Lost => (deals::close_for_opportunity(conn, id)?, Vec::new()),
        Status::Canceled | Status::Rejected | Status::Returned | Status::Declined => {
            (Vec::new(), deals::end_for_opportunity(conn, id)?)
        }
        _ => (Vec::new(), Vec::new()),
    };
    for r in &closed {
        notify::registration(conn, EventType::DealRegistrationClosed, r)?;
    }
    for r in &ended {
        notify::registration(conn, EventType::DealRegistrationWithdrawn, r)?;
    }
    let auto = matches!(command, Command::AutoAssign { .. });
    mark_reassignment(conn, &policy, &row, outcome.to, auto)?;
    if let Some(p) = outcome.primary.filter(|_| outcome.to == Status::Delivered) {
        assignment::mark_assigned(conn, p.0)?;
    }
    store::record_event(
        conn,
        &NewEvent {
            id: Uuid::now_v7(),
            opportunity_id: id,
            actor_user_id: Some(actor.user_id.0),
            actor_org_id: Some(actor.org_id.0),
            partner_org_id: outcome.partner.map(|p| p.0),
            action: command.action().as_str(),
            from_status: Some(&row.status),
            to_status: outcome.to.as_str(),
            reason,
        },
    )?;
    changed(
        conn,
        actor,
        for_transition(command.action(), outcome.to),
        Some(&facts),
        id,
        json!({"action": command.action().as_str(), "reason": reason, "actor_org_id": actor.org_id.0}),
    )
}

/// A lifecycle request with what it carries.
#[derive(Debug)]
pub enum Request {
    Approve,
    Reject(String),
    Withdraw,
    Distribute(DistributeBody),
    AutoAssign,
    Accept,
    Decline(String),
    Return(String),
    Close(CloseBody),
    Extend(NaiveDate),
    Cancel(String),
}

/// Performs a lifecycle request inside the caller's transaction: the one
/// place each action's rules and side effects are applied.
pub fn perform(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    request: Request,
) -> Result<OpportunityDto, ApiError> {
    match request {
        Request::Approve => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Approve,
            None,
            Box::new(start_validity),
        ),
        Request::Reject(reason) => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Reject,
            Some(reason.trim()),
            Box::new(|_, _, _| Ok(())),
        ),
        Request::Withdraw => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Withdraw,
            None,
            Box::new(|_, _, _| Ok(())),
        ),
        Request::Distribute(body) => distribute_in(conn, actor, id, if_match, body),
        Request::AutoAssign => {
            let partner = crate::routes::assignment::best_partner(conn, actor, id)?;
            apply(
                conn,
                actor,
                id,
                if_match,
                Command::AutoAssign {
                    partner: partner.into(),
                },
                None,
                Box::new(offer_window(None)),
            )
        }
        Request::Accept => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Accept,
            None,
            Box::new(start_validity),
        ),
        Request::Decline(reason) => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Decline,
            Some(reason.trim()),
            Box::new(|_, _, c| {
                c.accept_by = Some(None);
                Ok(())
            }),
        ),
        Request::Return(reason) => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Return,
            Some(reason.trim()),
            Box::new(|_, _, _| Ok(())),
        ),
        Request::Close(body) => close_in(conn, actor, id, if_match, body),
        Request::Extend(date) => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Extend,
            None,
            Box::new(move |row, policy, c| {
                let count = u32::try_from(row.extension_count).unwrap_or(u32::MAX);
                check_extension(policy, count, row.expires_on, date, Utc::now().date_naive())?;
                c.expires_on = Some(Some(date));
                c.extension_count = Some(row.extension_count + 1);
                Ok(())
            }),
        ),
        Request::Cancel(reason) => apply(
            conn,
            actor,
            id,
            if_match,
            Command::Cancel,
            Some(reason.trim()),
            Box::new(|_, _, c| {
                c.accept_by = Some(None);
                Ok(())
            }),
        ),
    }
}

/// Runs one request as its own HTTP request and answers the opportunity.
pub async fn respond(
    state: web::Data<AppState>,
    caller: Caller,
    id: Uuid,
    if_match: IfMatch,
    request: Request,
) -> Result<HttpResponse, ApiError> {
    let dto = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| perform(conn, actor, id, &if_match, request))
        })
        .await?;
    Ok(opportunity_response(StatusCode::OK, &dto))
}

fn validity_from_today(policy: &Policy) -> NaiveDate {
    Utc::now().date_naive() + chrono::Days::new(u64::from(policy.opportunity_validity_days))
}

/// Sets an offer's deadline: the one given, or now plus the policy's window.
pub fn offer_window(
    accept_by: Option<DateTime<Utc>>,
) -> impl FnOnce(&Opportunity, &Policy, &mut StateChanges) -> Result<(), ApiError> {
    move |_, policy, c| {
        let window = policy.acceptance_window_hours;
        c.accept_by = Some(Some(
            accept_by.unwrap_or(Utc::now() + chrono::Duration::hours(i64::from(window))),
        ));
        Ok(())
    }
}

/// Sets the expiry an accepted opportunity starts with, unless it has one.
fn start_validity(
    row: &Opportunity,
    policy: &Policy,
    c: &mut StateChanges,
) -> Result<(), ApiError> {
    if row.expires_on.is_none() {
        c.expires_on = Some(Some(validity_from_today(policy)));
    }
    c.accept_by = Some(None);
    Ok(())
}

/// Approve a partner-created opportunity: it becomes `accepted`, with the
/// creating org as primary partner (vendor writers).
#[utoipa::path(
    operation_id = "approve_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    respond(state, caller, id.into_inner(), if_match, Request::Approve).await
}

/// Reject a partner-created opportunity, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "reject_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Reject(body.0.reason),
    )
    .await
}

/// Withdraw a partner-created opportunity still awaiting approval (its
/// creator or the creating org's admin): it becomes `canceled`.
#[utoipa::path(
    operation_id = "withdraw_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    respond(state, caller, id.into_inner(), if_match, Request::Withdraw).await
}

/// To one partner (`delivered`, answer due by `accept_by`), or to a primary
/// partner with collaborators (`accepted` at once).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "accept_by": "2027-01-10T12:00:00Z"}))]
pub struct DistributeBody {
    /// The partner org offered the opportunity (the primary partner).
    pub partner_id: Uuid,
    /// Single-partner form only: the answer deadline. Default: now plus the
    /// policy's acceptance window. Must be in the future.
    pub accept_by: Option<DateTime<Utc>>,
    /// Collaboration form: the collaborating partner orgs (1 to 20). When
    /// given, the opportunity is `accepted` at once.
    #[validate(length(min = 1, max = 20))]
    #[schema(min_items = 1, max_items = 20)]
    pub collaborator_ids: Option<Vec<Uuid>>,
}

fn partner_state(conn: &mut PgConnection, id: Uuid) -> Result<Option<PartnerState>, ApiError> {
    Ok(match Org::find(conn, id)? {
        None => None,
        Some(o) => Some(PartnerState {
            id: o.id.into(),
            is_partner: OrgKind::from(OrgKindDto::from_stored(&o.kind)?).is_partner(),
            active: o.active,
            accepting: o.accepting,
        }),
    })
}

fn distribute_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    body: DistributeBody,
) -> Result<OpportunityDto, ApiError> {
    let now = Utc::now();
    if body.collaborator_ids.is_some() && body.accept_by.is_some() {
        return Err(ApiError::validation(
            "accept_by",
            "a collaboration is accepted at once; leave accept_by out",
        ));
    }
    if body.accept_by.is_some_and(|t| t <= now) {
        return Err(ApiError::validation("accept_by", "must be in the future"));
    }
    // Decide visibility and permission before looking at targets, so a
    // caller who may not distribute learns nothing about orgs.
    locked_for(conn, actor, id, Action::Distribute)?;
    let primary = partner_state(conn, body.partner_id)?;
    let others = body
        .collaborator_ids
        .iter()
        .flatten()
        .map(|c| partner_state(conn, *c))
        .collect::<Result<Vec<_>, _>>()?;
    check_distribution(primary, &others)?;
    let partner = body.partner_id.into();
    let command = match &body.collaborator_ids {
        Some(c) => Command::DistributeCollaboration {
            partner,
            collaborators: c.iter().map(|o| (*o).into()).collect(),
        },
        None => Command::DistributeOne { partner },
    };
    let collaboration = body.collaborator_ids.is_some();
    let accept_by = body.accept_by;
    apply(
        conn,
        actor,
        id,
        if_match,
        command,
        None,
        Box::new(move |row, policy, c| {
            if collaboration {
                start_validity(row, policy, c)
            } else {
                let window = policy.acceptance_window_hours;
                c.accept_by = Some(Some(
                    accept_by.unwrap_or(now + chrono::Duration::hours(i64::from(window))),
                ));
                Ok(())
            }
        }),
    )
}

/// Distribute to one partner or in collaboration (vendor writers), from
/// `draft`, `declined`, `returned` or `expired`.
#[utoipa::path(
    operation_id = "distribute_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = DistributeBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not distributable in its status (`invalid_transition`), or the partner paused itself (`partner_not_accepting`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/distribute")]
pub async fn distribute(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<DistributeBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Distribute(body.0),
    )
    .await
}

/// Accept an offer (the offered org's admin): `accepted`, owned by the
/// accepting admin until it assigns an owner; contact details now shown.
#[utoipa::path(
    operation_id = "accept_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `delivered` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    respond(state, caller, id.into_inner(), if_match, Request::Accept).await
}

/// Decline an offer, with a reason (the offered org's admin): `declined`,
/// back with the vendor and no longer visible to the partner.
#[utoipa::path(
    operation_id = "decline_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `delivered` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/decline")]
pub async fn decline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Decline(body.0.reason),
    )
    .await
}

/// Return an accepted opportunity to the vendor, with a reason (the primary
/// partner's admin or owner; never collaborators).
#[utoipa::path(
    operation_id = "return_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/return")]
pub async fn return_(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Return(body.0.reason),
    )
    .await
}

/// How an opportunity ended.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseOutcome {
    Won,
    Lost,
}

/// Close won or lost.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "won", "reason": "signed", "actual_revenue": {"amount": "118000.00", "currency": "EUR"}}))]
pub struct CloseBody {
    pub outcome: CloseOutcome,
    #[validate(length(min = 1, max = 1000), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    /// Required when won; in the opportunity's currency.
    #[validate(nested)]
    pub actual_revenue: Option<MoneyDto>,
}

fn close_in(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    body: CloseBody,
) -> Result<OpportunityDto, ApiError> {
    let won = matches!(body.outcome, CloseOutcome::Won);
    let actual = body
        .actual_revenue
        .as_ref()
        .map(|m| m.parse("actual_revenue"))
        .transpose()?;
    let reason = body.reason.trim().to_owned();
    let stored_reason = reason.clone();
    apply(
        conn,
        actor,
        id,
        if_match,
        Command::Close { won },
        Some(&reason),
        Box::new(move |row, _, c| {
            let currency: Option<CurrencyCode> = row
                .currency
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: String| ApiError::Internal(e))?;
            check_close(won, actual.as_ref(), currency)?;
            c.close_reason = Some(Some(stored_reason));
            c.actual_revenue = Some(actual.as_ref().map(|m| m.amount().clone()));
            c.closed_at = Some(Some(Utc::now()));
            c.accept_by = Some(None);
            if currency.is_none() && actual.is_some() {
                // No estimate was given: the actual revenue sets the currency.
                c.currency = actual.as_ref().map(|m| Some(m.currency().to_string()));
            }
            Ok(())
        }),
    )
}

/// Close an accepted opportunity won or lost (vendor writers; the primary
/// partner's admin or owner; never collaborators). Approved deal
/// registrations on it close with it.
#[utoipa::path(
    operation_id = "close_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = CloseBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<CloseBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Close(body.0),
    )
    .await
}

/// Extend an accepted opportunity's expiry.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expires_on": "2027-06-30"}))]
pub struct ExtendBody {
    /// Later than the current expiry, within the policy's horizon.
    pub expires_on: NaiveDate,
}

/// Extend the expiry within the vendor's policy (vendor writers; the primary
/// partner's admin or owner; never collaborators).
#[utoipa::path(
    operation_id = "extend_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ExtendBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`), or no extensions left (`extension_limit_reached`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/extend")]
pub async fn extend(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Extend(body.0.expires_on),
    )
    .await
}

/// Cancel an opportunity that is not closed, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "cancel_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Already ended (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ReasonBody>,
) -> Result<HttpResponse, ApiError> {
    respond(
        state,
        caller,
        id.into_inner(),
        if_match,
        Request::Cancel(body.0.reason),
    )
    .await
}

/// Make a user of the caller's own org the owner.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d"}))]
pub struct AssignOwnerBody {
    /// An active user of the caller's org who may write (not a director or viewer).
    pub user_id: Uuid,
}

/// Assigns the owner in the caller's transaction.
pub fn assign_owner_in(
    conn: &mut PgConnection,
    actor: &prm_domain::Actor,
    id: Uuid,
    if_match: &IfMatch,
    target: Uuid,
) -> Result<OpportunityDto, ApiError> {
    let (row, _) = locked_for(conn, actor, id, Action::AssignOwner)?;
    if_match.check(row.version)?;
    // Same answer for a user of another org as for no user at all.
    let user = User::find(conn, target)?
        .filter(|u| u.org_id == actor.org_id.0)
        .ok_or_else(|| ApiError::validation("user_id", "no such user in your org"))?;
    let role = prm_domain::Role::from(RoleDto::from_stored(&user.role)?);
    if !user.active || role.is_read_only() {
        return Err(ApiError::validation(
            "user_id",
            "the owner must be an active user who may write",
        ));
    }
    Opportunity::change_state(
        conn,
        id,
        &StateChanges {
            owner_org_id: Some(user.org_id),
            owner_user_id: Some(user.id),
            ..StateChanges::default()
        },
    )?;
    changed(
        conn,
        actor,
        EventType::OpportunityOwnerAssigned,
        None,
        id,
        json!({"owner_user_id": target}),
    )
}

/// Assign the owner: the holding partner's admin picks a user of its org; a
/// vendor writer does so for vendor-owned opportunities.
#[utoipa::path(
    operation_id = "assign_opportunity_owner",
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = AssignOwnerBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))))
)]
#[post("/opportunities/{id}/assign-owner")]
pub async fn assign_owner(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<AssignOwnerBody>,
) -> Result<HttpResponse, ApiError> {
    let target = body.0.user_id;
    let id = id.into_inner();
    let dto = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| assign_owner_in(conn, actor, id, &if_match, target))
        })
        .await?;
    Ok(opportunity_response(StatusCode::OK, &dto))
}

/// A collaborating org.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Collaborator)]
pub struct CollaboratorDto {
    pub org_id: Uuid,
    #[schema(example = "Contoso Reseller")]
    pub name: String,
}

/// Add a collaborating org.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d"}))]
pub struct AddCollaboratorBody {
    pub org_id: Uuid,
}

/// The orgs collaborating on an opportunity.
#[utoipa::path(
    tag = "lifecycle",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<CollaboratorDto>))
)]
#[get("/opportunities/{id}/collaborators")]
pub async fn list_collaborators(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let list = state
        .run(caller, move |conn, actor| {
            let view = visible_view(conn, actor, id)?;
            view.collaborator_ids
                .iter()
                .map(|o| {
                    let org = Org::find(conn, *o)?
                        .ok_or_else(|| ApiError::Internal("collaborator org gone".into()))?;
                    Ok(CollaboratorDto {
                        org_id: org.id,
                        name: org.name,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Add a collaborating partner to an accepted opportunity (vendor writers;
/// partners never assign an opportunity to another partner).
#[utoipa::path(
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    request_body = AddCollaboratorBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/opportunities/{id}/collaborators")]
pub async fn add_collaborator(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<AddCollaboratorBody>,
) -> Result<HttpResponse, ApiError> {
    let org = body.0.org_id;
    change_collaborators(state, caller, id.into_inner(), if_match, org, true).await
}

/// Remove a collaborating partner (vendor writers).
#[utoipa::path(
    tag = "lifecycle",
    params(("id" = Uuid, Path), ("org_id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag last seen; 412 if stale")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[delete("/opportunities/{id}/collaborators/{org_id}")]
pub async fn remove_collaborator(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let (id, org) = path.into_inner();
    change_collaborators(state, caller, id, if_match, org, false).await
}

async fn change_collaborators(
    state: web::Data<AppState>,
    caller: Caller,
    id: Uuid,
    if_match: IfMatch,
    org: Uuid,
    add: bool,
) -> Result<HttpResponse, ApiError> {
    let dto = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                let (row, facts) = locked_for(conn, actor, id, Action::ManageCollaborators)?;
                if_match.check(row.version)?;
                if add {
                    if facts.collaborator_ids.contains(&org.into()) {
                        return Err(ApiError::validation("org_id", "already collaborates"));
                    }
                    let eligible = partner_state(conn, org)?
                        .is_some_and(|p| p.is_partner && p.active)
                        && row.primary_partner_id.is_some_and(|p| p != org);
                    if !eligible {
                        return Err(ApiError::validation(
                            "org_id",
                            "must be an active partner org other than the primary partner",
                        ));
                    }
                    store::add_collaborators(conn, id, &[org])?;
                } else if !store::remove_collaborator(conn, id, org)? {
                    return Err(ApiError::NotFound);
                }
                Opportunity::change_state(conn, id, &StateChanges::default())?;
                changed(
                    conn,
                    actor,
                    EventType::OpportunityCollaboratorsChanged,
                    Some(&facts),
                    id,
                    json!({"org_id": org, "added": add}),
                )
            })
        })
        .await?;
    Ok(opportunity_response(StatusCode::OK, &dto))
}
