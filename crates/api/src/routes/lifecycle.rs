//! Lifecycle actions on an opportunity: `POST /opportunities/{id}/<action>`.
//! Each runs under a row lock in one transaction: load, let the domain decide,
//! check `If-Match`, write the change and its status event, answer the
//! opportunity as the caller now sees it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationErrors};

use crate::auth::Caller;
use crate::dto::FullDate;
use crate::dto::{MoneyDto, ReasonBody, ReasonCodeDto, reason_fields, validation_result};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody};
use crate::pagination::Page;
use crate::routes::csv::{self, ListFormat};
use crate::routes::opportunities::{OpportunityDto, read_response};
use crate::service::lifecycle::{self, Request};
use crate::service::opportunities::OpportunityRead;
use crate::state::AppState;
use prm_domain::OrgId;
use prm_domain::ids::{OpportunityId, UserId};
use prm_domain::lifecycle::Command;
use prm_domain::reason::ReasonInput;

/// What a `POST /opportunities/{id}/<action>` asks for: a lifecycle
/// request, or a new owner.
#[derive(Debug, Clone)]
pub enum Act {
    Lifecycle(Request),
    AssignOwner(UserId),
}

impl From<Request> for Act {
    fn from(r: Request) -> Self {
        Act::Lifecycle(r)
    }
}

/// Runs one action in its own transaction (a savepoint of a keyed
/// request's): what each action endpoint, and each item of a batch, runs.
pub fn perform(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    act: Act,
) -> Result<OpportunityRead, ApiError> {
    conn.transaction(|conn| match act {
        Act::Lifecycle(request) => lifecycle::perform(conn, actor, id, if_match, request),
        Act::AssignOwner(target) => lifecycle::assign_owner(conn, actor, id, if_match, target),
    })
}

/// Runs one action as its own unit of work and answers the opportunity as
/// the caller now sees it: the one handler helper every action endpoint
/// shares.
pub async fn respond(
    state: web::Data<AppState>,
    caller: Caller,
    id: Uuid,
    if_match: IfMatch,
    act: impl Into<Act>,
) -> Result<HttpResponse, ApiError> {
    let act = act.into();
    let read = state
        .run(caller, move |conn, actor| {
            perform(conn, actor, id.into(), &if_match, act)
        })
        .await?;
    read_response(StatusCode::OK, read)
}

/// Approve a partner-created opportunity: it becomes `accepted`, with the
/// creating org as primary partner (vendor writers).
#[utoipa::path(
    operation_id = "approve_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/approve")]
pub async fn approve(
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
        Request::Command(Command::Approve),
    )
    .await
}

/// Reject a partner-created opportunity, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "reject_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/reject")]
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
        Request::Command(Command::Reject {
            reason: body.0.into_input(),
        }),
    )
    .await
}

/// Withdraw a partner-created opportunity still awaiting approval (its
/// creator or the creating org's admin): it becomes `canceled`.
#[utoipa::path(
    operation_id = "withdraw_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `pending_approval` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/withdraw")]
pub async fn withdraw(
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
        Request::Command(Command::Withdraw),
    )
    .await
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

/// Distribute to one partner or in collaboration (vendor writers), from
/// `draft`, `declined`, `returned` or `expired`.
#[utoipa::path(
    operation_id = "distribute_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = DistributeBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not distributable in its status (`invalid_transition`), or the partner paused itself (`partner_not_accepting`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/distribute")]
pub async fn distribute(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<DistributeBody>,
) -> Result<HttpResponse, ApiError> {
    respond(state, caller, id.into_inner(), if_match, body.0.request()).await
}

impl DistributeBody {
    /// The lifecycle request this body asks for.
    pub fn request(self) -> Request {
        Request::Distribute {
            partner: self.partner_id.into(),
            accept_by: self.accept_by,
            collaborators: self
                .collaborator_ids
                .map(|c| c.into_iter().map(OrgId::from).collect()),
        }
    }
}

/// Accept an offer (the offered org's admin): `accepted`, owned by the
/// accepting admin until it assigns an owner; contact details now shown.
#[utoipa::path(
    operation_id = "accept_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `delivered` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/accept")]
pub async fn accept(
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
        Request::Command(Command::Accept),
    )
    .await
}

/// Decline an offer, with a reason (the offered org's admin): `declined`,
/// back with the vendor and no longer visible to the partner.
#[utoipa::path(
    operation_id = "decline_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `delivered` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/decline")]
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
        Request::Command(Command::Decline {
            reason: body.0.into_input(),
        }),
    )
    .await
}

/// Return an accepted opportunity to the vendor, with a reason (the primary
/// partner's admin or owner; never collaborators).
#[utoipa::path(
    operation_id = "return_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/return")]
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
        Request::Command(Command::Return {
            reason: body.0.into_input(),
        }),
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

/// Close won or lost. A loss takes a `reason_code` from the policy's list
/// (as decline does: a body with only `reason` means `other`, which needs
/// the text); a win takes no code, and its `reason` text is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "lost", "reason_code": "competitor", "reason": "chose a local provider"}))]
pub struct CloseBody {
    pub outcome: CloseOutcome,
    /// `lost` only: one of the policy's `reason_codes` (422 listing them
    /// otherwise); absent, `other` when a `reason` is given. A `won` close
    /// with a code is a 422.
    pub reason_code: Option<ReasonCodeDto>,
    /// Free text; `lost` with `other` needs it.
    #[schema(min_length = 1, max_length = 1000, example = "signed")]
    pub reason: Option<String>,
    /// Required when won; in the opportunity's currency.
    pub actual_revenue: Option<MoneyDto>,
}

impl Validate for CloseBody {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let lost = matches!(self.outcome, CloseOutcome::Lost);
        let mut errors = reason_fields(self.reason_code.as_ref(), self.reason.as_deref(), lost);
        if let Some(m) = &self.actual_revenue {
            errors.merge_self("actual_revenue", m.validate());
        }
        validation_result(errors)
    }
}

/// Close an accepted opportunity won or lost (vendor writers; the primary
/// partner's admin or owner; never collaborators). Approved deal
/// registrations on it close with it.
#[utoipa::path(
    operation_id = "close_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = CloseBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/close")]
pub async fn close(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<CloseBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0.request()?;
    respond(state, caller, id.into_inner(), if_match, request).await
}

impl CloseBody {
    /// The lifecycle request this body asks for.
    pub fn request(self) -> Result<Request, ApiError> {
        let actual = self
            .actual_revenue
            .as_ref()
            .map(|m| m.parse("actual_revenue"))
            .transpose()?;
        Ok(Request::Command(Command::Close {
            won: matches!(self.outcome, CloseOutcome::Won),
            reason: ReasonInput {
                code: self.reason_code.map(|c| c.0),
                text: self.reason,
            },
            actual,
        }))
    }
}

/// Extend an accepted opportunity's expiry.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expires_on": "2027-06-30"}))]
pub struct ExtendBody {
    /// Later than the current expiry, within the policy's horizon.
    #[schema(value_type = NaiveDate)]
    pub expires_on: FullDate,
}

/// Extend the expiry within the vendor's policy (vendor writers; the primary
/// partner's admin or owner; never collaborators).
#[utoipa::path(
    operation_id = "extend_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ExtendBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`), or no extensions left (`extension_limit_reached`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/extend")]
pub async fn extend(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    respond(state, caller, id.into_inner(), if_match, body.0.request()).await
}

impl ExtendBody {
    /// The lifecycle request this body asks for.
    pub fn request(self) -> Request {
        Request::Command(Command::Extend {
            expires_on: self.expires_on.into(),
        })
    }
}

/// Cancel an opportunity that is not closed, with a reason (vendor writers).
#[utoipa::path(
    operation_id = "cancel_opportunity",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = ReasonBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Already ended (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/cancel")]
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
        Request::Command(Command::Cancel {
            reason: body.0.into_input(),
        }),
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

/// Assign the owner: the holding partner's admin picks a user of its org; a
/// vendor writer does so for vendor-owned opportunities.
#[utoipa::path(
    operation_id = "assign_opportunity_owner",
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = AssignOwnerBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))))
)]
#[post("/assign-owner")]
pub async fn assign_owner(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<AssignOwnerBody>,
) -> Result<HttpResponse, ApiError> {
    let act = Act::AssignOwner(body.0.user_id.into());
    respond(state, caller, id.into_inner(), if_match, act).await
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
#[get("/collaborators")]
pub async fn list_collaborators(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    // At most 20 collaborators: one page, whole.
    let page = move |conn: &mut PgConnection, actor: &Actor, _: Option<&str>, _| {
        let items = lifecycle::collaborators(conn, actor, id)?
            .into_iter()
            .map(|org| CollaboratorDto {
                org_id: org.id.into(),
                name: org.name,
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: None,
        })
    };
    if format == ListFormat::Csv {
        return csv::stream(
            state,
            caller,
            "collaborators",
            None,
            std::sync::Arc::new(page),
        )
        .await;
    }
    let list = state
        .run(caller, move |conn, actor| page(conn, actor, None, 0))
        .await?;
    Ok(HttpResponse::Ok().json(list.items))
}

/// Add a collaborating partner to an accepted opportunity (vendor writers;
/// partners never assign an opportunity to another partner).
#[utoipa::path(
    tag = "lifecycle",
    params(("id" = Uuid, Path), IfMatch),
    request_body = AddCollaboratorBody,
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[post("/collaborators")]
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
    params(("id" = Uuid, Path), ("org_id" = Uuid, Path), IfMatch),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = Problem, content_type = "application/problem+json"))
)]
#[delete("/collaborators/{org_id}")]
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
    let read = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                lifecycle::change_collaborators(conn, actor, id.into(), &if_match, org.into(), add)
            })
        })
        .await?;
    read_response(StatusCode::OK, read)
}
