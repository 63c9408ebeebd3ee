//! Progress entries, notes and the timeline of an opportunity.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_store::activity::{Note, ProgressEntry};
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{PhaseDto, ReasonCodeDto, not_blank};
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{
    Page, decode_time_cursor, encode_time_cursor, fetch_size, into_page_keyed,
};
use crate::routes::created;
use crate::routes::csv::{self, ListFormat};
use crate::service::activity::{self, NewProgressCommand, TimelineItem};
use crate::service::history;
use crate::state::AppState;

/// One progress report: append-only, never changed or deleted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProgressEntry, example = json!({"id": "0193a2c9-5555-7cc3-9d5e-5b3c2a1f0e9d", "opportunity_id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d",
    "author_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d", "author_org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "development_phase": "propose", "win_probability": 60, "technical_exchange": "Architecture workshop held",
    "test_details": "PoC passed", "progress_details": "Proposal sent", "created_at": "2026-11-20T16:30:00Z"}))]
pub struct ProgressDto {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    pub author_user_id: Uuid,
    pub author_org_id: Uuid,
    pub development_phase: PhaseDto,
    #[schema(minimum = 0, maximum = 100)]
    pub win_probability: i16,
    pub technical_exchange: Option<String>,
    pub test_details: Option<String>,
    pub progress_details: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl ProgressDto {
    fn from_row(p: ProgressEntry) -> Result<Self, ApiError> {
        Ok(Self {
            development_phase: p.development_phase.into(),
            id: p.id,
            opportunity_id: p.opportunity_id.into(),
            author_user_id: p.author_user_id.into(),
            author_org_id: p.author_org_id.into(),
            win_probability: p.win_probability,
            technical_exchange: p.technical_exchange,
            test_details: p.test_details,
            progress_details: p.progress_details,
            created_at: p.created_at,
        })
    }
}

/// A new progress report. Partners move the phase forward only.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"development_phase": "propose", "win_probability": 60,
    "technical_exchange": "Architecture workshop held", "test_details": "PoC passed",
    "progress_details": "Proposal sent"}))]
pub struct CreateProgress {
    pub development_phase: PhaseDto,
    #[validate(range(min = 0, max = 100))]
    #[schema(minimum = 0, maximum = 100)]
    pub win_probability: i16,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub technical_exchange: Option<String>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub test_details: Option<String>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub progress_details: Option<String>,
}

/// A text note. `internal` notes are visible only to the author's org.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Note, example = json!({"id": "0193a2ca-6666-7cc3-9d5e-5b3c2a1f0e9d", "opportunity_id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d",
    "author_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d", "author_org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "body": "Customer asked for a second demo", "internal": false, "created_at": "2026-11-18T09:45:00Z"}))]
pub struct NoteDto {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    pub author_user_id: Uuid,
    pub author_org_id: Uuid,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Note> for NoteDto {
    fn from(n: Note) -> Self {
        Self {
            id: n.id,
            opportunity_id: n.opportunity_id.into(),
            author_user_id: n.author_user_id.into(),
            author_org_id: n.author_org_id.into(),
            body: n.body,
            internal: n.internal,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Customer asked for a second demo", "internal": false}))]
pub struct CreateNote {
    #[validate(length(min = 1, max = 10000), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 10000)]
    pub body: String,
    /// Visible only to the author's org. Default `false`.
    #[serde(default)]
    pub internal: bool,
}

/// A status change in the timeline.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StatusChange)]
pub struct StatusChangeDto {
    /// The action taken, e.g. `distribute`, `accept`, `close`.
    #[schema(example = "accept")]
    pub action: String,
    #[schema(value_type = Option<crate::dto::StatusDto>)]
    pub from: Option<String>,
    #[schema(value_type = crate::dto::StatusDto)]
    pub to: String,
    /// The reason's text.
    pub reason: Option<String>,
    /// A user's decline, return, reject, cancel or lost close: its code from
    /// the policy's list. `null` for other actions and the system's.
    pub reason_code: Option<ReasonCodeDto>,
    /// What else the action changed: deadlines, the extension count, the
    /// close fields.
    pub changes: Vec<FieldChangeDto>,
}

/// One field of a change to the description, as the reader may see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldChange, example = json!({"field": "topic", "old": "Cloud migration",
    "new": "Cloud migration, phase 1", "withheld": false}))]
pub struct FieldChangeDto {
    /// As the API names it: `topic`, `contact.email`, `estimated_revenue`
    /// (a money value, amount and currency), `product_lines`, …
    #[schema(example = "topic")]
    pub field: String,
    /// The value before (`null`: none, or withheld).
    pub old: serde_json::Value,
    /// The value after (`null`: none, or withheld).
    pub new: serde_json::Value,
    /// The reader may not see this field (a contact's e-mail or phone while
    /// the offer is only `delivered`): `old` and `new` are `null`.
    pub withheld: bool,
}

/// What a timeline item is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Note,
    Progress,
    StatusChange,
    /// A change to the description (field history).
    Change,
}

/// One timeline item: exactly one of `note`, `progress`, `status_change`
/// and `changes` is set, as `kind` says.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TimelineItem, example = json!({"kind": "status_change", "id": "0193a2cb-7777-7cc3-9d5e-5b3c2a1f0e9d",
    "created_at": "2026-11-14T10:00:00Z", "actor_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d",
    "actor_org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "note": null, "progress": null,
    "status_change": {"action": "accept", "from": "delivered", "to": "accepted", "reason": null, "reason_code": null,
        "changes": [{"field": "accept_by", "old": "2026-11-16T10:00:00Z", "new": null, "withheld": false},
                    {"field": "expires_on", "old": null, "new": "2027-02-12", "withheld": false}]},
    "changes": null}))]
pub struct TimelineItemDto {
    pub kind: TimelineKind,
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_org_id: Option<Uuid>,
    pub note: Option<NoteDto>,
    pub progress: Option<ProgressDto>,
    pub status_change: Option<StatusChangeDto>,
    /// For `kind: "change"`: the fields that changed.
    pub changes: Option<Vec<FieldChangeDto>>,
}

impl TimelineItemDto {
    fn from_item(item: TimelineItem) -> Result<Self, ApiError> {
        let (created_at, id) = item.key();
        let mut dto = Self {
            kind: TimelineKind::Note,
            id,
            created_at,
            actor_user_id: None,
            actor_org_id: None,
            note: None,
            progress: None,
            status_change: None,
            changes: None,
        };
        match item {
            TimelineItem::Note(n) => {
                dto.actor_user_id = Some(n.author_user_id.into());
                dto.actor_org_id = Some(n.author_org_id.into());
                dto.note = Some(n.into());
            }
            TimelineItem::Progress(p) => {
                dto.kind = TimelineKind::Progress;
                dto.actor_user_id = Some(p.author_user_id.into());
                dto.actor_org_id = Some(p.author_org_id.into());
                dto.progress = Some(ProgressDto::from_row(p)?);
            }
            TimelineItem::StatusChange(e, seen) => {
                dto.kind = TimelineKind::StatusChange;
                dto.actor_user_id = e.actor_user_id.map(Into::into);
                dto.actor_org_id = e.actor_org_id.map(Into::into);
                dto.status_change = Some(StatusChangeDto {
                    action: e.action,
                    from: e.from_status.map(|s| s.as_str().to_owned()),
                    to: e.to_status.as_str().to_owned(),
                    reason: e.reason,
                    reason_code: e.reason_code.map(ReasonCodeDto::from),
                    changes: field_changes(seen),
                });
            }
            TimelineItem::Change(c, seen) => {
                dto.kind = TimelineKind::Change;
                dto.actor_user_id = c.actor_user_id.map(Into::into);
                dto.actor_org_id = c.actor_org_id.map(Into::into);
                dto.changes = Some(field_changes(seen));
            }
        }
        Ok(dto)
    }
}

/// Changes as the service showed them to the reader.
fn field_changes(seen: Vec<history::Seen>) -> Vec<FieldChangeDto> {
    seen.into_iter()
        .map(|c| FieldChangeDto {
            field: c.field,
            old: c.old,
            new: c.new,
            withheld: c.withheld,
        })
        .collect()
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// Add a progress entry (vendor writers, the primary partner's admin or
/// owner, collaborators, the reseller's distributor) to an accepted
/// opportunity. The latest entry sets its phase and win probability.
#[utoipa::path(
    tag = "activity",
    params(("id" = Uuid, Path)),
    request_body = CreateProgress,
    responses((status = 201, body = ProgressDto),
              (status = 409, description = "Not `accepted` (`invalid_transition`)", body = crate::error::Problem, content_type = "application/problem+json"))
)]
#[post("/progress")]
pub async fn add_progress(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<CreateProgress>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let body = body.0;
    let command = NewProgressCommand {
        development_phase: body.development_phase.into(),
        win_probability: body.win_probability,
        technical_exchange: body.technical_exchange,
        test_details: body.test_details,
        progress_details: body.progress_details,
    };
    let entry = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| activity::add_progress(conn, actor, id, command))
        })
        .await?;
    let entry = ProgressDto::from_row(entry)?;
    Ok(created(
        format!("/api/v1/opportunities/{id}/progress"),
        1,
        &entry,
    ))
}

/// Progress entries, newest first.
#[utoipa::path(tag = "activity", params(("id" = Uuid, Path), ActivityParams), responses((status = 200, body = Page<ProgressDto>)))]
#[get("/progress")]
pub async fn list_progress(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<ActivityParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_time_cursor(cursor)?;
        let rows = activity::progress(conn, actor, id, after, fetch_size(Some(limit)))?;
        into_page_keyed(
            rows,
            Some(limit),
            |p| encode_time_cursor(p.created_at, p.id),
            ProgressDto::from_row,
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "progress",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// Add a note (anyone who sees the opportunity and may write; collaborators too).
#[utoipa::path(tag = "activity", params(("id" = Uuid, Path)), request_body = CreateNote, responses((status = 201, body = NoteDto)))]
#[post("/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<CreateNote>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let body = body.0;
    let note = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| activity::add_note(conn, actor, id, &body.body, body.internal))
        })
        .await?;
    let note = NoteDto::from(note);
    Ok(created(
        format!("/api/v1/opportunities/{id}/notes"),
        1,
        &note,
    ))
}

/// Notes the caller may read (shared ones and its org's internal ones), newest first.
#[utoipa::path(tag = "activity", params(("id" = Uuid, Path), ActivityParams), responses((status = 200, body = Page<NoteDto>)))]
#[get("/notes")]
pub async fn list_notes(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<ActivityParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_time_cursor(cursor)?;
        let rows = activity::notes(conn, actor, id, after, fetch_size(Some(limit)))?;
        into_page_keyed(
            rows,
            Some(limit),
            |n| encode_time_cursor(n.created_at, n.id),
            |n| Ok::<_, ApiError>(NoteDto::from(n)),
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "notes",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// The timeline: notes, progress entries, status changes and changes to
/// the description (field by field, old and new), newest first. Partners
/// see the status changes their orgs made or that concern them, and the
/// changes made since the opportunity left `draft`, contact details
/// withheld while they may not see them.
#[utoipa::path(tag = "activity", params(("id" = Uuid, Path), ActivityParams), responses((status = 200, body = Page<TimelineItemDto>)))]
#[get("/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<ActivityParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_time_cursor(cursor)?;
        let items = activity::timeline(conn, actor, id, after, fetch_size(Some(limit)))?;
        into_page_keyed(
            items,
            Some(limit),
            |i| {
                let (at, id) = i.key();
                encode_time_cursor(at, id)
            },
            TimelineItemDto::from_item,
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "timeline",
        params.cursor,
        params.limit,
        page,
    )
    .await
}
