//! Webhook subscriptions and their delivery log.

use crate::stored::{Text, Texts};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::events::{DeliveryState, EventType};
use prm_domain::ids::{OrgId, UserId};
use uuid::Uuid;

use crate::outbox::EventRow;
use crate::schema::{events, webhook_deliveries, webhooks};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
pub struct Webhook {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub url: String,
    #[diesel(deserialize_as = Texts<EventType>)]
    pub event_types: Vec<EventType>,
    pub secret: String,
    pub active: bool,
    #[diesel(deserialize_as = Uuid)]
    pub created_by_user_id: UserId,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks, treat_none_as_default_value = false)]
pub struct NewWebhook {
    pub id: Uuid,
    #[diesel(serialize_as = Uuid)]
    pub org_id: OrgId,
    pub url: String,
    #[diesel(serialize_as = Texts<EventType>)]
    pub event_types: Vec<EventType>,
    pub secret: String,
    #[diesel(serialize_as = Uuid)]
    pub created_by_user_id: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    #[diesel(deserialize_as = Text<DeliveryState>)]
    pub status: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    pub fn insert(conn: &mut PgConnection, new: NewWebhook) -> QueryResult<Webhook> {
        diesel::insert_into(webhooks::table)
            .values(new)
            .returning(Webhook::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Webhook>> {
        webhooks::table
            .find(id)
            .select(Webhook::as_select())
            .first(conn)
            .optional()
    }

    /// A page of an org's webhooks (`None`: every org's).
    pub fn list(
        conn: &mut PgConnection,
        org: Option<OrgId>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Webhook>> {
        let mut q = webhooks::table.select(Webhook::as_select()).into_boxed();
        if let Some(org) = org {
            q = q.filter(webhooks::org_id.eq(org.0));
        }
        if let Some(after) = after {
            q = q.filter(webhooks::id.gt(after));
        }
        q.order(webhooks::id.asc()).limit(limit).load(conn)
    }

    /// Deletes a webhook and its delivery log.
    pub fn delete(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
        diesel::delete(webhooks::table.find(id))
            .execute(conn)
            .map(|n| n > 0)
    }
}

impl Delivery {
    /// A webhook's deliveries, newest first.
    pub fn log(
        conn: &mut PgConnection,
        webhook: Uuid,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<(Delivery, String)>> {
        let mut q = webhook_deliveries::table
            .inner_join(events::table.on(events::id.eq(webhook_deliveries::event_id)))
            .filter(webhook_deliveries::webhook_id.eq(webhook))
            .select((Delivery::as_select(), events::type_))
            .into_boxed();
        if let Some((t, id)) = after {
            q = q.filter(
                webhook_deliveries::created_at
                    .lt(t)
                    .or(webhook_deliveries::created_at
                        .eq(t)
                        .and(webhook_deliveries::id.lt(id))),
            );
        }
        q.order((
            webhook_deliveries::created_at.desc(),
            webhook_deliveries::id.desc(),
        ))
        .limit(limit)
        .load(conn)
    }
}

/// A delivery claimed for sending, with what to send and where.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub webhook: Webhook,
    pub event: EventRow,
}

/// Claims due deliveries for `lease` seconds. `SKIP LOCKED` and the lease
/// keep two workers from sending the same delivery at once.
pub fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease_secs: i32,
) -> QueryResult<Vec<Claimed>> {
    conn.transaction(|conn| {
        let now = Utc::now();
        let ids: Vec<Uuid> = webhook_deliveries::table
            .filter(webhook_deliveries::status.eq(Text(DeliveryState::Pending)))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .filter(
                webhook_deliveries::lease_until
                    .is_null()
                    .or(webhook_deliveries::lease_until.lt(now)),
            )
            .order(webhook_deliveries::next_attempt_at.asc())
            .limit(limit)
            .select(webhook_deliveries::id)
            .for_update()
            .skip_locked()
            .load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let lease = now + chrono::Duration::seconds(i64::from(lease_secs));
        crate::prepared::update(
            webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)),
        )
        .set((
            webhook_deliveries::lease_until.eq(lease),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
        ))
        .execute(conn)?;
        let rows: Vec<(Delivery, Webhook, EventRow)> = webhook_deliveries::table
            .inner_join(webhooks::table)
            .inner_join(events::table.on(events::id.eq(webhook_deliveries::event_id)))
            .filter(webhook_deliveries::id.eq_any(&ids))
            .select((
                Delivery::as_select(),
                Webhook::as_select(),
                EventRow::as_select(),
            ))
            .order(events::seq.asc())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(delivery, webhook, event)| Claimed {
                delivery,
                webhook,
                event,
            })
            .collect())
    })
}

/// Records a successful send.
pub fn succeeded(conn: &mut PgConnection, id: Uuid, status_code: i32) -> QueryResult<()> {
    crate::prepared::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(Text(DeliveryState::Succeeded)),
            webhook_deliveries::last_status_code.eq(Some(status_code)),
            webhook_deliveries::last_error.eq(None::<String>),
            webhook_deliveries::delivered_at.eq(Some(Utc::now())),
            webhook_deliveries::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Records a failed attempt: retried at `retry_at`, or failed for good.
pub fn attempt_failed(
    conn: &mut PgConnection,
    id: Uuid,
    status_code: Option<i32>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    let status = Text(if retry_at.is_some() {
        DeliveryState::Pending
    } else {
        DeliveryState::Failed
    });
    crate::prepared::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(status),
            webhook_deliveries::last_status_code.eq(status_code),
            webhook_deliveries::last_error.eq(Some(error.chars().take(500).collect::<String>())),
            webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or_else(Utc::now)),
            webhook_deliveries::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .map(|_| ())
}
