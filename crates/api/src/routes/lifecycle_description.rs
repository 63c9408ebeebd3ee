//! `GET /lifecycle`: the opportunity's status machine as data, translated
//! from the domain's own table (`prm_domain::lifecycle::table`, the rows
//! `decide` reads). Each action names the endpoint that takes it; the body
//! each endpoint takes is read from the served OpenAPI document itself, so
//! it is always a component schema of that document.

use actix_web::{HttpResponse, get, web};
use prm_domain::lifecycle::{Action, Condition, Relation, system_transitions, table};
use prm_domain::opportunity::Status;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

use crate::auth::Caller;
use crate::dto::{ActionDto, RelationDto, RoleDto, StatusDto};
use crate::error::ApiError;
use crate::state::AppState;

/// A status an opportunity can be in.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleStatus)]
pub struct StatusInfo {
    pub name: StatusDto,
    #[schema(example = "vendor-created, not yet distributed")]
    pub description: &'static str,
    /// Closed for good: no action moves it any more.
    pub terminal: bool,
}

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Post,
    Patch,
    Delete,
}

/// An endpoint that takes an action.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleEndpoint)]
pub struct EndpointInfo {
    pub method: HttpMethod,
    /// The path, as the OpenAPI document's `paths` names it.
    #[schema(example = "/api/v1/opportunities/{id}/decline")]
    pub path: &'static str,
    /// The request body's schema, a name in the OpenAPI document's
    /// `components.schemas`; `null` when the endpoint takes none.
    #[schema(example = "ReasonBody")]
    pub body: Option<String>,
}

/// One row of the table: who may take the action, and from which statuses.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleRow)]
pub struct WhoInfo {
    pub relation: RelationDto,
    /// What the relation means.
    #[schema(example = "the admin of the partner org it is offered to (its primary partner)")]
    pub description: &'static str,
    /// The roles whose users can hold the relation.
    pub roles: Vec<RoleDto>,
    pub from: Vec<StatusDto>,
}

/// A condition beyond the table that closes the action although a row
/// allows it: a 409 with `code`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleCondition)]
pub struct ConditionInfo {
    #[schema(example = "extension_limit_reached")]
    pub code: &'static str,
    #[schema(
        example = "closed once the opportunity has been extended the policy's `max_extensions` times"
    )]
    pub description: &'static str,
}

/// An action on an opportunity: its endpoint, where it goes and who may
/// take it. A caller may take it when it can see the opportunity (404
/// otherwise), its role is one of a row's `roles`, it holds that row's
/// `relation`, the opportunity is in one of that row's `from` statuses (409
/// `invalid_transition` otherwise) and no condition stands in the way (409
/// with the condition's code); no row for it is a 403. Every opportunity's
/// `allowed_actions` lists exactly the actions its reader may take now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleAction)]
pub struct ActionInfo {
    pub name: ActionDto,
    /// The method of the first of `endpoints`.
    pub method: HttpMethod,
    /// The path of the first of `endpoints`.
    #[schema(example = "/api/v1/opportunities/{id}/decline")]
    pub path: &'static str,
    /// The body of the first of `endpoints`: a name in the OpenAPI
    /// document's `components.schemas`, or `null`.
    #[schema(example = "ReasonBody")]
    pub body: Option<String>,
    /// Every endpoint that takes the action (adding and removing
    /// collaborators are two).
    pub endpoints: Vec<EndpointInfo>,
    /// Every status it may be taken from.
    pub from: Vec<StatusDto>,
    /// Every status it may leave the opportunity in (`from` itself when it
    /// does not move the status).
    pub to: Vec<StatusDto>,
    /// Whether it moves the status.
    pub changes_status: bool,
    pub who: Vec<WhoInfo>,
    pub conditions: Vec<ConditionInfo>,
}

/// A transition only the system takes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleSystemTransition)]
pub struct SystemTransitionInfo {
    /// The name its status event records in the timeline.
    #[schema(example = "expire")]
    pub name: &'static str,
    pub from: Vec<StatusDto>,
    pub to: StatusDto,
    #[schema(example = "an offer not answered before its `accept_by`")]
    pub description: &'static str,
}

/// A relation of a caller to an opportunity, as the rows name it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LifecycleRelation)]
pub struct RelationInfo {
    pub name: RelationDto,
    #[schema(example = "a vendor admin or channel manager")]
    pub description: &'static str,
    pub roles: Vec<RoleDto>,
}

/// The opportunity's status machine as data, generated from the table the
/// service decides with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Lifecycle, example = json!({
    "statuses": [{"name": "delivered", "description": "offered to one partner, awaiting its accept or decline before `accept_by`", "terminal": false}],
    "actions": [{"name": "decline", "method": "POST", "path": "/api/v1/opportunities/{id}/decline",
        "body": "ReasonBody",
        "endpoints": [{"method": "POST", "path": "/api/v1/opportunities/{id}/decline", "body": "ReasonBody"}],
        "from": ["delivered"], "to": ["declined"], "changes_status": true,
        "who": [{"relation": "offered_admin", "description": "the admin of the partner org it is offered to (its primary partner)",
                 "roles": ["partner_admin"], "from": ["delivered"]}],
        "conditions": []}],
    "system_transitions": [{"name": "expire", "from": ["delivered"], "to": "expired",
        "description": "an offer not answered before its `accept_by`"}],
    "relations": [{"name": "offered_admin", "description": "the admin of the partner org it is offered to (its primary partner)",
        "roles": ["partner_admin"]}]
}))]
pub struct LifecycleDto {
    pub statuses: Vec<StatusInfo>,
    pub actions: Vec<ActionInfo>,
    pub system_transitions: Vec<SystemTransitionInfo>,
    pub relations: Vec<RelationInfo>,
}

/// The endpoints that take `action`, the first the main one.
fn endpoints(action: Action) -> &'static [(HttpMethod, &'static str)] {
    use HttpMethod::{Delete, Patch, Post};
    match action {
        Action::Edit => &[(Patch, "/api/v1/opportunities/{id}")],
        Action::Approve => &[(Post, "/api/v1/opportunities/{id}/approve")],
        Action::Reject => &[(Post, "/api/v1/opportunities/{id}/reject")],
        Action::Withdraw => &[(Post, "/api/v1/opportunities/{id}/withdraw")],
        Action::Distribute => &[(Post, "/api/v1/opportunities/{id}/distribute")],
        Action::AutoAssign => &[(Post, "/api/v1/opportunities/{id}/auto-assign")],
        Action::Accept => &[(Post, "/api/v1/opportunities/{id}/accept")],
        Action::Decline => &[(Post, "/api/v1/opportunities/{id}/decline")],
        Action::Return => &[(Post, "/api/v1/opportunities/{id}/return")],
        Action::Close => &[(Post, "/api/v1/opportunities/{id}/close")],
        Action::Extend => &[(Post, "/api/v1/opportunities/{id}/extend")],
        Action::Cancel => &[(Post, "/api/v1/opportunities/{id}/cancel")],
        Action::AssignOwner => &[(Post, "/api/v1/opportunities/{id}/assign-owner")],
        Action::ManageCollaborators => &[
            (Post, "/api/v1/opportunities/{id}/collaborators"),
            (Delete, "/api/v1/opportunities/{id}/collaborators/{org_id}"),
        ],
        Action::AddNote => &[(Post, "/api/v1/opportunities/{id}/notes")],
        Action::AddProgress => &[(Post, "/api/v1/opportunities/{id}/progress")],
        Action::RegisterDeal => &[(Post, "/api/v1/opportunities/{id}/deal-registration")],
    }
}

/// The operation at `method` `path` of the document.
fn operation<'d>(doc: &'d OpenApi, method: HttpMethod, path: &str) -> Option<&'d Operation> {
    let item = doc.paths.paths.get(path)?;
    match method {
        HttpMethod::Post => item.post.as_ref(),
        HttpMethod::Patch => item.patch.as_ref(),
        HttpMethod::Delete => item.delete.as_ref(),
    }
}

/// The component schema an operation's JSON request body names.
fn body_of(op: &Operation) -> Option<String> {
    let content = op.request_body.as_ref()?.content.get("application/json")?;
    match content.schema.as_ref()? {
        RefOr::Ref(r) => r
            .ref_location
            .strip_prefix("#/components/schemas/")
            .map(str::to_owned),
        RefOr::T(_) => None,
    }
}

fn statuses(list: &[Status]) -> Vec<StatusDto> {
    list.iter().copied().map(StatusDto::from).collect()
}

fn roles(relation: Relation) -> Vec<RoleDto> {
    relation
        .roles()
        .iter()
        .copied()
        .map(RoleDto::from)
        .collect()
}

fn condition(c: Condition) -> ConditionInfo {
    ConditionInfo {
        code: c.code(),
        description: c.description(),
    }
}

impl LifecycleDto {
    /// The domain's table, each action's endpoints and their bodies as
    /// `doc` (the served document) declares them. An endpoint the
    /// document lacks is an internal error (a test keeps them in step).
    pub fn from_table(doc: &OpenApi) -> Result<Self, ApiError> {
        let actions = table()
            .into_iter()
            .map(|d| {
                let endpoints = endpoints(d.action)
                    .iter()
                    .map(|&(method, path)| {
                        let op = operation(doc, method, path).ok_or_else(|| {
                            ApiError::Internal(format!(
                                "{}: no {method:?} {path} in the OpenAPI document",
                                d.action
                            ))
                        })?;
                        Ok(EndpointInfo {
                            method,
                            path,
                            body: body_of(op),
                        })
                    })
                    .collect::<Result<Vec<_>, ApiError>>()?;
                let first = endpoints
                    .first()
                    .ok_or_else(|| ApiError::Internal(format!("{}: no endpoint", d.action)))?;
                Ok(ActionInfo {
                    name: d.action.into(),
                    method: first.method,
                    path: first.path,
                    body: first.body.clone(),
                    from: statuses(&d.from),
                    to: statuses(&d.to),
                    changes_status: d.changes_status,
                    who: d
                        .who
                        .iter()
                        .map(|w| WhoInfo {
                            relation: w.relation.into(),
                            description: w.relation.description(),
                            roles: roles(w.relation),
                            from: statuses(w.from),
                        })
                        .collect(),
                    conditions: d.conditions.iter().copied().map(condition).collect(),
                    endpoints,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(LifecycleDto {
            statuses: Status::ALL
                .into_iter()
                .map(|s| StatusInfo {
                    name: s.into(),
                    description: s.description(),
                    terminal: s.is_terminal(),
                })
                .collect(),
            actions,
            system_transitions: system_transitions()
                .into_iter()
                .map(|t| SystemTransitionInfo {
                    name: t.name,
                    from: statuses(t.from),
                    to: t.to.into(),
                    description: t.description,
                })
                .collect(),
            relations: Relation::ALL
                .into_iter()
                .map(|r| RelationInfo {
                    name: r.into(),
                    description: r.description(),
                    roles: roles(r),
                })
                .collect(),
        })
    }
}

/// The description's JSON, made once at start-up from the served document
/// (or why it could not be).
#[derive(Debug)]
pub struct LifecycleJson(Result<web::Bytes, String>);

impl LifecycleJson {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        Self(
            LifecycleDto::from_table(doc)
                .and_then(|d| {
                    serde_json::to_vec(&d)
                        .map_err(|e| ApiError::Internal(format!("serializing the lifecycle: {e}")))
                })
                .map(web::Bytes::from)
                .map_err(|e| e.to_string()),
        )
    }
}

/// The opportunity's status machine, as data (any authenticated user).
///
/// Its statuses; its actions, each with its endpoints and their bodies, the
/// statuses it is taken from and leads to, the rows of who may take it
/// (a relation to the opportunity, the roles that can hold it, the
/// statuses it may be taken from) and the conditions beyond the table; the
/// transitions only the system takes; and the relations. It is generated
/// from the table the service decides with: every opportunity's
/// `allowed_actions` is this table applied to its reader.
#[utoipa::path(
    operation_id = "describe_lifecycle",
    tag = "lifecycle",
    responses((status = 200, body = LifecycleDto))
)]
#[get("")]
pub async fn describe(
    state: web::Data<AppState>,
    description: web::Data<LifecycleJson>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // Only the caller is resolved: the answer is the same for everyone.
    state.run(caller, |_, _| Ok(())).await?;
    match &description.0 {
        Ok(json) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json.clone())),
        Err(e) => Err(ApiError::Internal(e.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action's endpoints are operations of the served document, and
    /// the bodies named are its component schemas.
    #[test]
    fn every_action_is_taken_by_an_operation_of_the_document() {
        let doc = crate::startup::openapi_document();
        let d = LifecycleDto::from_table(&doc).unwrap();
        let schemas = &doc.components.as_ref().unwrap().schemas;
        assert_eq!(d.actions.len(), Action::ALL.len());
        for a in &d.actions {
            for e in &a.endpoints {
                if let Some(body) = &e.body {
                    assert!(schemas.contains_key(body), "{body}");
                }
            }
        }
        let body = |a: Action| {
            let name = ActionDto::from(a);
            d.actions
                .iter()
                .find(|x| x.name == name)
                .unwrap()
                .body
                .as_deref()
        };
        assert_eq!(body(Action::Edit), Some("UpdateOpportunity"));
        assert_eq!(body(Action::Decline), Some("ReasonBody"));
        assert_eq!(body(Action::Accept), None);
    }
}
