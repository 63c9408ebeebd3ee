//! `/webhooks`: signed HTTP callbacks per org, and `/events`: the pollable feed.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_domain::events::{DeliveryState, EventType};
use prm_store::outbox::EventRow;
use prm_store::webhooks::{Delivery, Webhook};
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{
    DEFAULT_LIMIT, Page, decode_cursor, decode_time_cursor, decode_token, encode_time_cursor,
    encode_token, fetch_size, into_page, into_page_keyed,
};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::webhooks;
use crate::state::AppState;
use crate::webhook_send::check_target;

/// The type of an event: `<resource>.<past-tense action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = EventType)]
pub enum EventTypeDto {
    #[serde(rename = "opportunity.created")]
    OpportunityCreated,
    #[serde(rename = "opportunity.updated")]
    OpportunityUpdated,
    #[serde(rename = "opportunity.approved")]
    OpportunityApproved,
    #[serde(rename = "opportunity.rejected")]
    OpportunityRejected,
    #[serde(rename = "opportunity.withdrawn")]
    OpportunityWithdrawn,
    #[serde(rename = "opportunity.delivered")]
    OpportunityDelivered,
    #[serde(rename = "opportunity.accepted")]
    OpportunityAccepted,
    #[serde(rename = "opportunity.declined")]
    OpportunityDeclined,
    #[serde(rename = "opportunity.expired")]
    OpportunityExpired,
    #[serde(rename = "opportunity.returned")]
    OpportunityReturned,
    #[serde(rename = "opportunity.closed")]
    OpportunityClosed,
    #[serde(rename = "opportunity.extended")]
    OpportunityExtended,
    #[serde(rename = "opportunity.canceled")]
    OpportunityCanceled,
    #[serde(rename = "opportunity.owner_assigned")]
    OpportunityOwnerAssigned,
    #[serde(rename = "opportunity.collaborators_changed")]
    OpportunityCollaboratorsChanged,
    #[serde(rename = "note.added")]
    NoteAdded,
    #[serde(rename = "progress.added")]
    ProgressAdded,
    #[serde(rename = "deal_registration.submitted")]
    DealRegistrationSubmitted,
    #[serde(rename = "deal_registration.approved")]
    DealRegistrationApproved,
    #[serde(rename = "deal_registration.rejected")]
    DealRegistrationRejected,
    #[serde(rename = "deal_registration.withdrawn")]
    DealRegistrationWithdrawn,
    #[serde(rename = "deal_registration.expired")]
    DealRegistrationExpired,
    #[serde(rename = "deal_registration.closed")]
    DealRegistrationClosed,
    #[serde(rename = "customer.revealed")]
    CustomerRevealed,
}

impl From<EventTypeDto> for EventType {
    fn from(v: EventTypeDto) -> Self {
        match v {
            EventTypeDto::OpportunityCreated => EventType::OpportunityCreated,
            EventTypeDto::OpportunityUpdated => EventType::OpportunityUpdated,
            EventTypeDto::OpportunityApproved => EventType::OpportunityApproved,
            EventTypeDto::OpportunityRejected => EventType::OpportunityRejected,
            EventTypeDto::OpportunityWithdrawn => EventType::OpportunityWithdrawn,
            EventTypeDto::OpportunityDelivered => EventType::OpportunityDelivered,
            EventTypeDto::OpportunityAccepted => EventType::OpportunityAccepted,
            EventTypeDto::OpportunityDeclined => EventType::OpportunityDeclined,
            EventTypeDto::OpportunityExpired => EventType::OpportunityExpired,
            EventTypeDto::OpportunityReturned => EventType::OpportunityReturned,
            EventTypeDto::OpportunityClosed => EventType::OpportunityClosed,
            EventTypeDto::OpportunityExtended => EventType::OpportunityExtended,
            EventTypeDto::OpportunityCanceled => EventType::OpportunityCanceled,
            EventTypeDto::OpportunityOwnerAssigned => EventType::OpportunityOwnerAssigned,
            EventTypeDto::OpportunityCollaboratorsChanged => {
                EventType::OpportunityCollaboratorsChanged
            }
            EventTypeDto::NoteAdded => EventType::NoteAdded,
            EventTypeDto::ProgressAdded => EventType::ProgressAdded,
            EventTypeDto::DealRegistrationSubmitted => EventType::DealRegistrationSubmitted,
            EventTypeDto::DealRegistrationApproved => EventType::DealRegistrationApproved,
            EventTypeDto::DealRegistrationRejected => EventType::DealRegistrationRejected,
            EventTypeDto::DealRegistrationWithdrawn => EventType::DealRegistrationWithdrawn,
            EventTypeDto::DealRegistrationExpired => EventType::DealRegistrationExpired,
            EventTypeDto::DealRegistrationClosed => EventType::DealRegistrationClosed,
            EventTypeDto::CustomerRevealed => EventType::CustomerRevealed,
        }
    }
}

impl From<EventType> for EventTypeDto {
    fn from(v: EventType) -> Self {
        match v {
            EventType::OpportunityCreated => EventTypeDto::OpportunityCreated,
            EventType::OpportunityUpdated => EventTypeDto::OpportunityUpdated,
            EventType::OpportunityApproved => EventTypeDto::OpportunityApproved,
            EventType::OpportunityRejected => EventTypeDto::OpportunityRejected,
            EventType::OpportunityWithdrawn => EventTypeDto::OpportunityWithdrawn,
            EventType::OpportunityDelivered => EventTypeDto::OpportunityDelivered,
            EventType::OpportunityAccepted => EventTypeDto::OpportunityAccepted,
            EventType::OpportunityDeclined => EventTypeDto::OpportunityDeclined,
            EventType::OpportunityExpired => EventTypeDto::OpportunityExpired,
            EventType::OpportunityReturned => EventTypeDto::OpportunityReturned,
            EventType::OpportunityClosed => EventTypeDto::OpportunityClosed,
            EventType::OpportunityExtended => EventTypeDto::OpportunityExtended,
            EventType::OpportunityCanceled => EventTypeDto::OpportunityCanceled,
            EventType::OpportunityOwnerAssigned => EventTypeDto::OpportunityOwnerAssigned,
            EventType::OpportunityCollaboratorsChanged => {
                EventTypeDto::OpportunityCollaboratorsChanged
            }
            EventType::NoteAdded => EventTypeDto::NoteAdded,
            EventType::ProgressAdded => EventTypeDto::ProgressAdded,
            EventType::DealRegistrationSubmitted => EventTypeDto::DealRegistrationSubmitted,
            EventType::DealRegistrationApproved => EventTypeDto::DealRegistrationApproved,
            EventType::DealRegistrationRejected => EventTypeDto::DealRegistrationRejected,
            EventType::DealRegistrationWithdrawn => EventTypeDto::DealRegistrationWithdrawn,
            EventType::DealRegistrationExpired => EventTypeDto::DealRegistrationExpired,
            EventType::DealRegistrationClosed => EventTypeDto::DealRegistrationClosed,
            EventType::CustomerRevealed => EventTypeDto::CustomerRevealed,
        }
    }
}

/// A webhook subscription. The secret is shown once, when it is created.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Webhook, example = json!({"id": "0193a2cd-9999-7cc3-9d5e-5b3c2a1f0e9d",
    "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "url": "https://hooks.partner.example/prm",
    "events": ["opportunity.delivered", "opportunity.accepted"], "active": true, "version": 1,
    "created_at": "2026-11-05T10:00:00Z", "updated_at": "2026-11-05T10:00:00Z"}))]
pub struct WebhookDto {
    pub id: Uuid,
    pub org_id: Uuid,
    pub url: String,
    /// Event types sent; empty means every type.
    pub events: Vec<EventTypeDto>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new webhook, with its signing secret: store it now, it is never shown again.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedWebhook, example = json!({"id": "0193a2cd-9999-7cc3-9d5e-5b3c2a1f0e9d",
    "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "url": "https://hooks.partner.example/prm",
    "events": ["opportunity.delivered"], "active": true, "version": 1,
    "created_at": "2026-11-05T10:00:00Z", "updated_at": "2026-11-05T10:00:00Z",
    "secret": "whsec_8f1c0b6a3e5d47c2b9a1f0e3d2c4b6a8"}))]
pub struct CreatedWebhookDto {
    #[serde(flatten)]
    pub webhook: WebhookDto,
    /// HMAC-SHA256 key for `Prm-Signature`. Shown only in this response.
    pub secret: String,
}

fn dto(w: Webhook) -> Result<WebhookDto, ApiError> {
    Ok(WebhookDto {
        events: w.event_types.into_iter().map(EventTypeDto::from).collect(),
        id: w.id,
        org_id: w.org_id.into(),
        url: w.url,
        active: w.active,
        version: w.version,
        created_at: w.created_at,
        updated_at: w.updated_at,
    })
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.partner.example/prm",
    "events": ["opportunity.delivered", "opportunity.accepted"]}))]
pub struct CreateWebhook {
    /// `http` or `https`; loopback, private and link-local targets are
    /// refused unless the operator allows them.
    #[validate(length(min = 8, max = 2000))]
    #[schema(min_length = 8, max_length = 2000, format = "uri")]
    pub url: String,
    /// Event types to send; absent or empty means every type.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub events: Option<Vec<EventTypeDto>>,
}

/// Register a webhook for the caller's org (partner admin, vendor admin).
/// Partners receive only events of opportunities they may see; the vendor's
/// webhooks receive every event.
#[utoipa::path(
    operation_id = "create_webhook",tag = "notifications", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhookDto, headers(("Location" = String), ("ETag" = String)))))]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let allow_private = state.webhooks.allow_private;
    // Name resolution blocks; check the target before the database work.
    let url = body.url.trim().to_owned();
    let check_url = url.clone();
    web::block(move || check_target(&check_url, allow_private))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::validation("url", e))?;
    let events: Vec<EventType> = body
        .events
        .unwrap_or_default()
        .into_iter()
        .map(EventType::from)
        .collect();
    let (hook, secret) = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| webhooks::create(conn, actor, url, events))
        })
        .await?;
    let hook = dto(hook)?;
    let location = format!("/api/v1/webhooks/{}", hook.id);
    let version = hook.version;
    Ok(created(
        location,
        version,
        &CreatedWebhookDto {
            webhook: hook,
            secret,
        },
    ))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

/// The caller's org's webhooks (its admin).
#[utoipa::path(
    operation_id = "list_webhooks",tag = "notifications", params(ListParams), responses((status = 200, body = Page<WebhookDto>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<ListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_cursor(cursor)?;
        let rows = webhooks::list(conn, actor, after, fetch_size(Some(limit)))?;
        into_page(rows, Some(limit), |w| w.id, dto)
    };
    csv::answer(
        state,
        caller,
        format,
        "webhooks",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// One of the caller's org's webhooks (never its secret).
#[utoipa::path(
    operation_id = "get_webhook",tag = "notifications", params(("id" = Uuid, Path)), responses((status = 200, body = WebhookDto, headers(("ETag" = String)))))]
#[get("/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let w = state
        .run(caller, move |conn, actor| webhooks::get(conn, actor, id))
        .await?;
    let w = dto(w)?;
    Ok(single(StatusCode::OK, w.version, &w))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(
    operation_id = "delete_webhook",tag = "notifications", params(("id" = Uuid, Path)), responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .run(caller, move |conn, actor| webhooks::remove(conn, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How a delivery went.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Succeeded,
    /// Gave up after the last attempt.
    Failed,
}

/// One event's delivery to one webhook.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery, example = json!({"id": "0193a2ce-aaaa-7cc3-9d5e-5b3c2a1f0e9d",
    "event_id": "0193a2cf-bbbb-7cc3-9d5e-5b3c2a1f0e9d", "event_type": "opportunity.delivered",
    "status": "succeeded", "attempts": 2, "last_status_code": 200, "last_error": null,
    "next_attempt_at": "2026-11-21T10:00:02Z", "delivered_at": "2026-11-21T10:00:02Z",
    "created_at": "2026-11-21T10:00:00Z"}))]
pub struct DeliveryDto {
    pub id: Uuid,
    /// The `Prm-Event-Id` sent: stable across retries.
    pub event_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The delivery log of a webhook, newest first.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",tag = "notifications", params(("id" = Uuid, Path), ListParams), responses((status = 200, body = Page<DeliveryDto>)))]
#[get("/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<ListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_time_cursor(cursor)?;
        let rows = webhooks::deliveries(conn, actor, id, after, fetch_size(Some(limit)))?;
        into_page_keyed(
            rows,
            Some(limit),
            |(d, _)| encode_time_cursor(d.created_at, d.id),
            delivery,
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "deliveries",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

fn delivery((d, event_type): (Delivery, String)) -> Result<DeliveryDto, ApiError> {
    Ok(DeliveryDto {
        status: match d.status {
            DeliveryState::Pending => DeliveryStatus::Pending,
            DeliveryState::Succeeded => DeliveryStatus::Succeeded,
            DeliveryState::Failed => DeliveryStatus::Failed,
        },
        id: d.id,
        event_id: d.event_id,
        event_type,
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        next_attempt_at: d.next_attempt_at,
        delivered_at: d.delivered_at,
        created_at: d.created_at,
    })
}

/// An event as the feed and webhooks carry it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event, example = json!({"id": "0193a2cf-bbbb-7cc3-9d5e-5b3c2a1f0e9d",
    "type": "opportunity.delivered", "created_at": "2026-11-21T10:00:00Z",
    "data": {"opportunity_id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d", "reference": "OPP-000123",
             "status": "delivered", "previous_status": "draft",
             "primary_partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "version": 2,
             "action": "distribute", "reason": null, "reason_code": null}}))]
pub struct EventDto {
    /// Stable id: the same in the feed and in `Prm-Event-Id`.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: DateTime<Utc>,
    /// What changed; always carries the opportunity or registration id.
    /// A user's lifecycle action also carries `action`, `reason` (its text)
    /// and `reason_code` (decline, return, reject, cancel, a lost close: the
    /// code from the policy's list; otherwise `null`).
    /// `opportunity.updated` also carries `changes`, the edited fields as
    /// a list of `FieldChange` (`field`, `old`, `new`, `withheld`); the
    /// contact's e-mail and phone are withheld while the opportunity is
    /// only `delivered`, for every reader of the event.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<EventRow> for EventDto {
    fn from(e: EventRow) -> Self {
        Self {
            id: e.id,
            event_type: e.type_,
            created_at: e.created_at,
            data: e.data,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// `next_cursor` of the previous call; absent: from the oldest event.
    #[param(max_length = 200)]
    pub after: Option<String>,
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
}

/// A page of the event feed, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventPage)]
pub struct FeedDto {
    pub items: Vec<EventDto>,
    /// Pass as `after` to continue; when no events are left it is the
    /// position to poll from.
    pub next_cursor: Option<String>,
}

/// The events the caller may see, in order: vendor users all; partner admins
/// and directors those of opportunities their org may see (a distributor's
/// also its resellers'); account managers those of opportunities they own.
#[utoipa::path(
    operation_id = "list_events",tag = "notifications", params(FeedParams), responses((status = 200, body = FeedDto)))]
#[get("")]
pub async fn event_feed(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<FeedParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let page = |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let bad = || ApiError::validation("after", "is not a cursor this service issued");
        let after: Option<i64> = decode_token(cursor)
            .map_err(|_| bad())?
            .map(|t| t.parse().map_err(|_| bad()))
            .transpose()?;
        let rows = webhooks::feed(conn, actor, after, i64::from(limit))?;
        let last = rows.last().and_then(|e| e.feed_position).or(after);
        Ok(Page {
            items: rows.into_iter().map(EventDto::from).collect(),
            next_cursor: last.map(|s| encode_token(&s.to_string())),
        })
    };
    if format == ListFormat::Csv {
        return csv::stream(state, caller, "events", params.after, Arc::new(page)).await;
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let page = state
        .run(caller, move |conn, actor| {
            page(conn, actor, params.after.as_deref(), limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(FeedDto {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
