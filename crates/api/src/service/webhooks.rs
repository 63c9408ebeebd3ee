//! Webhook and feed use cases: an org admin's signed callbacks, their
//! delivery log, and the event feed as the caller may read it.

use chrono::{DateTime, Utc};
use prm_domain::events::EventType;
use prm_domain::{Actor, Role};
use prm_store::outbox::{EventRow, Reader, feed as store_feed, sequence};
use prm_store::webhooks::{Delivery, NewWebhook, Webhook};
use prm_store::{Connection, PgConnection};
use uuid::Uuid;

use crate::error::ApiError;
use crate::webhook_send::new_secret;

/// Only org admins manage their org's webhooks.
fn ensure_admin(actor: &Actor) -> Result<(), ApiError> {
    actor.ensure_can_write()?;
    if matches!(actor.role, Role::PartnerAdmin | Role::VendorAdmin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: "forbidden",
            detail: "only the org's admin manages its webhooks".to_owned(),
        })
    }
}

/// Registers a webhook for the caller's org; `events` empty means every
/// type. The target was checked before (name resolution blocks). Returns
/// it with its signing secret, which is never shown again.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    url: String,
    mut events: Vec<EventType>,
) -> Result<(Webhook, String), ApiError> {
    ensure_admin(actor)?;
    events.sort_by_key(|t| t.as_str());
    events.dedup();
    let secret = new_secret();
    let hook = Webhook::insert(
        conn,
        NewWebhook {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            url,
            event_types: events,
            secret: secret.clone(),
            created_by_user_id: actor.user_id,
        },
    )?;
    Ok((hook, secret))
}

/// A page of the caller's org's webhooks (its admin).
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<Webhook>, ApiError> {
    ensure_admin(actor)?;
    Ok(Webhook::list(conn, Some(actor.org_id), after, fetch)?)
}

/// One of the caller's org's webhooks, or 404 (another org's included).
pub fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<Webhook, ApiError> {
    let hook = Webhook::find(conn, id)?
        .filter(|w| w.org_id == actor.org_id)
        .ok_or(ApiError::NotFound)?;
    ensure_admin(actor)?;
    Ok(hook)
}

/// Deletes a webhook and its delivery log.
pub fn remove(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<(), ApiError> {
    get(conn, actor, id)?;
    Webhook::delete(conn, id)?;
    Ok(())
}

/// A webhook's deliveries newest first, each with its event's type.
pub fn deliveries(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    fetch: i64,
) -> Result<Vec<(Delivery, String)>, ApiError> {
    get(conn, actor, id)?;
    Ok(Delivery::log(conn, id, after, fetch)?)
}

/// Gives the events committed since the last call their feed positions.
pub fn sequence_feed(conn: &mut PgConnection) -> Result<usize, ApiError> {
    Ok(conn.transaction(sequence)?)
}

/// The events the caller may see, in order: vendor users all; partner
/// admins and directors those of opportunities their org may see (a
/// distributor's also its resellers'); account managers those of
/// opportunities they own.
pub fn feed(
    conn: &mut PgConnection,
    actor: &Actor,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<EventRow>, ApiError> {
    let reader = if actor.is_vendor() {
        Reader::Vendor
    } else if actor.role == Role::AccountManager {
        Reader::Owner {
            org: actor.org_id.0,
            user: actor.user_id.0,
        }
    } else {
        Reader::Org(actor.org_id.0)
    };
    // Positions for what has committed since, then the page: one
    // transaction, so the page shows only positions no later commit can
    // come before.
    Ok(conn.transaction(|conn| {
        sequence(conn)?;
        store_feed(conn, reader, after, limit)
    })?)
}
