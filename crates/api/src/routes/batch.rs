//! `POST /opportunities/batch` (API.md, "Bulk"): up to 100 actions on
//! opportunities in one request, each run as its own request would run —
//! its body checked as that endpoint checks it, its own authorization, its
//! own transaction, its own `If-Match` — and answered item by item with the
//! status and body that request would have had.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};
use prm_domain::lifecycle::Command;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::ReasonBody;
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody, etag, parse_value_checked};
use crate::routes::lifecycle::{
    Act, AssignOwnerBody, CloseBody, DistributeBody, ExtendBody, perform,
};
use crate::routes::opportunities::OpportunityDto;
use crate::service::lifecycle::Request;
use crate::state::AppState;

/// The most items one batch holds.
pub const MAX_ITEMS: usize = 100;

/// An action a batch item takes: each is the `POST
/// /opportunities/{id}/<action>` of that name (`auto_assign` is
/// `auto-assign`, `assign_owner` is `assign-owner`), with that endpoint's
/// body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BatchAction)]
pub enum BatchAction {
    Approve,
    Reject,
    Withdraw,
    Distribute,
    AutoAssign,
    Accept,
    Decline,
    Return,
    Close,
    Extend,
    Cancel,
    AssignOwner,
}

/// One action of a batch.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BatchItem, example = json!({"id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d",
    "action": "decline", "body": {"reason_code": "no_capacity"}, "if_match": "\"3\""}))]
pub struct BatchItemInput {
    /// The opportunity.
    pub id: Uuid,
    pub action: BatchAction,
    /// The action endpoint's body (`DistributeBody`, `ReasonBody`,
    /// `CloseBody`, `ExtendBody`, `AssignOwnerBody`); left out for an
    /// action that takes none.
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// What the endpoint's `If-Match` header would carry: the `ETag` last
    /// seen (`"3"`), or `*`.
    #[validate(length(max = 200))]
    #[schema(max_length = 200, example = "\"3\"")]
    pub if_match: Option<String>,
}

/// Actions to run, in order.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BatchRequest, example = json!({"items": [
    {"id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d", "action": "distribute",
     "body": {"partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d"}},
    {"id": "0193a2c7-4444-7cc3-9d5e-5b3c2a1f0e9d", "action": "cancel",
     "body": {"reason_code": "duplicate"}, "if_match": "\"2\""}]}))]
pub struct BatchBody {
    /// 1 to 100 actions, run one after the other.
    #[validate(length(min = 1, max = 100), nested)]
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<BatchItemInput>,
}

/// What one action answered: the status and body its own request would
/// have had.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BatchItemResult)]
pub struct BatchItemResult {
    pub id: Uuid,
    pub action: BatchAction,
    /// The HTTP status its own request would have had.
    #[schema(example = 200)]
    pub status: u16,
    /// The opportunity's `ETag` after a success.
    pub etag: Option<String>,
    /// After a success (2xx): the opportunity as the caller now sees it.
    pub opportunity: Option<OpportunityDto>,
    /// After a failure: the problem its own request would have answered.
    pub problem: Option<Problem>,
}

/// Each action's answer, in the order asked.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BatchResult, example = json!({"items": [
    {"id": "0193a2c7-4444-7cc3-9d5e-5b3c2a1f0e9d", "action": "cancel", "status": 412, "etag": null,
     "opportunity": null, "problem": {"type": "urn:prm:problem:version_mismatch",
       "title": "Precondition Failed", "status": 412,
       "detail": "If-Match does not match the current version 3", "code": "version_mismatch",
       "errors": [], "current_version": 3, "changed_fields": ["topic"]}}]}))]
pub struct BatchResult {
    pub items: Vec<BatchItemResult>,
}

/// The body an item's action takes, checked as its endpoint checks it.
fn body<T>(value: Option<serde_json::Value>) -> Result<T, ApiError>
where
    T: DeserializeOwned + Validate + ToSchema + 'static,
{
    let (parsed, errors) = parse_value_checked::<T>(value.unwrap_or(serde_json::Value::Null))?;
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// What an item asks for, read as its endpoint reads its request.
fn act(action: BatchAction, value: Option<serde_json::Value>) -> Result<Act, ApiError> {
    let reason = |v| body::<ReasonBody>(v).map(ReasonBody::into_input);
    Ok(match action {
        BatchAction::Approve => Request::Command(Command::Approve).into(),
        BatchAction::Withdraw => Request::Command(Command::Withdraw).into(),
        BatchAction::Accept => Request::Command(Command::Accept).into(),
        BatchAction::AutoAssign => Request::AutoAssign.into(),
        BatchAction::Reject => Request::Command(Command::Reject {
            reason: reason(value)?,
        })
        .into(),
        BatchAction::Decline => Request::Command(Command::Decline {
            reason: reason(value)?,
        })
        .into(),
        BatchAction::Return => Request::Command(Command::Return {
            reason: reason(value)?,
        })
        .into(),
        BatchAction::Cancel => Request::Command(Command::Cancel {
            reason: reason(value)?,
        })
        .into(),
        BatchAction::Distribute => body::<DistributeBody>(value)?.request().into(),
        BatchAction::Close => body::<CloseBody>(value)?.request()?.into(),
        BatchAction::Extend => body::<ExtendBody>(value)?.request().into(),
        BatchAction::AssignOwner => {
            Act::AssignOwner(body::<AssignOwnerBody>(value)?.user_id.into())
        }
    })
}

/// Run up to 100 actions on opportunities in one request. Each runs as its
/// own `POST /opportunities/{id}/<action>` would: its body checked as that
/// endpoint checks it, its own authorization, its own transaction, its own
/// `If-Match`; one failing changes nothing of the others. They run in the
/// order given, so a later item sees what an earlier one did. The answer
/// lists each item's status and body (the opportunity, or the problem) as
/// its own request would have had them; the batch itself answers 200 once
/// its shape is valid.
#[utoipa::path(
    operation_id = "run_opportunity_batch",
    tag = "lifecycle",
    request_body = BatchBody,
    responses((status = 200, body = BatchResult))
)]
#[post("/batch")]
pub async fn run(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<BatchBody>,
) -> Result<HttpResponse, ApiError> {
    let items = body.0.items;
    let results = state
        .run(caller, move |conn, actor| {
            Ok(items
                .into_iter()
                .map(|item| {
                    let (id, action) = (item.id, item.action);
                    let if_match = IfMatch::parse(item.if_match.as_deref());
                    let done = act(action, item.body)
                        .and_then(|act| perform(conn, actor, id.into(), &if_match, act))
                        .and_then(OpportunityDto::from_read);
                    match done {
                        Ok(o) => BatchItemResult {
                            id,
                            action,
                            status: StatusCode::OK.as_u16(),
                            etag: Some(etag(o.version)),
                            opportunity: Some(o),
                            problem: None,
                        },
                        Err(e) => {
                            let problem = e.logged_problem();
                            BatchItemResult {
                                id,
                                action,
                                status: problem.status,
                                etag: None,
                                opportunity: None,
                                problem: Some(problem),
                            }
                        }
                    }
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(BatchResult { items: results }))
}
