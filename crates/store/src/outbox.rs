//! The transactional outbox: events written with the change they describe,
//! the webhook deliveries fanned out from them in the same transaction, and
//! the feed that reads them back in order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::journal::Journal;
use crate::schema::{events, opportunities};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub seq: i64,
    pub id: Uuid,
    pub type_: String,
    pub opportunity_id: Option<Uuid>,
    pub audience: Vec<Uuid>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Where the feed shows it: set once it is committed (see [`sequence`]).
    pub feed_position: Option<i64>,
}

/// An event to write: its audience is the orgs whose users read it besides
/// the vendor's, and with `with_distributors` each of their distributors too.
#[derive(Debug, Clone)]
pub struct NewEventRow {
    pub id: Uuid,
    pub type_: String,
    pub opportunity_id: Option<Uuid>,
    pub audience: Vec<Uuid>,
    pub with_distributors: bool,
    pub data: serde_json::Value,
}

/// Writes one event and queues it for every active webhook that may
/// receive it, in one statement (see [`Journal::write`]). Call inside the
/// transaction of the change.
pub fn write(conn: &mut PgConnection, event: &NewEventRow) -> QueryResult<()> {
    let mut journal = Journal::new();
    journal.event(event);
    journal.write(conn)
}

/// Who reads the feed.
#[derive(Debug, Clone, Copy)]
pub enum Reader {
    /// Vendor users: every event.
    Vendor,
    /// Partner admins and directors: events whose audience holds their org.
    Org(Uuid),
    /// Account managers: those events, of opportunities they own.
    Owner { org: Uuid, user: Uuid },
}

/// Lock key of the feed's sequencer (any constant unique to it).
const SEQUENCER_LOCK: i64 = 0x7072_6d5f_6665_6564; // "prm_feed"

/// Gives every committed event that has none its feed position, in one
/// statement under a transaction-scoped lock, so that sequencers take
/// turns: a batch's positions become visible when its transaction
/// commits, and the next batch, taken after, only gets larger ones. An
/// event still being written is not visible here and is positioned by a
/// later call, after every position already shown: the feed never shows a
/// position behind one a reader has passed. Call inside a transaction.
pub fn sequence(conn: &mut PgConnection) -> QueryResult<usize> {
    let waiting = events::table
        .filter(events::feed_position.is_null())
        .select(events::seq)
        .limit(1)
        .first::<i64>(conn)
        .optional()?;
    if waiting.is_none() {
        return Ok(0);
    }
    crate::prepared!("SELECT pg_advisory_xact_lock($1)")
        .bind(SEQUENCER_LOCK)
        .execute(conn)?;
    crate::prepared!(
        "UPDATE events e SET feed_position = nextval('events_feed_position_seq')
         FROM (SELECT seq FROM events WHERE feed_position IS NULL ORDER BY seq) w
         WHERE e.seq = w.seq",
    )
    .execute(conn)
}

/// Positioned events after position `after`, in feed order. Run
/// [`sequence`] first, in the same transaction.
pub fn feed(
    conn: &mut PgConnection,
    reader: Reader,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = events::table
        .select(EventRow::as_select())
        .filter(events::feed_position.is_not_null())
        .into_boxed();
    match reader {
        Reader::Vendor => {}
        Reader::Org(org) => q = q.filter(events::audience.contains(vec![org])),
        Reader::Owner { org, user } => {
            let owned = opportunities::table
                .filter(opportunities::owner_user_id.eq(user))
                .select(opportunities::id);
            q = q
                .filter(events::audience.contains(vec![org]))
                .filter(events::opportunity_id.assume_not_null().eq_any(owned));
        }
    }
    if let Some(p) = after {
        q = q.filter(events::feed_position.gt(p));
    }
    q.order(events::feed_position.asc()).limit(limit).load(conn)
}
