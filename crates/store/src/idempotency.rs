//! Idempotency keys: claim a key for a request, store its response, replay it.

use diesel::prelude::*;
use diesel::sql_types::Timestamptz;

use crate::prepared::prepared;
use crate::schema::idempotency_keys;

/// How long a key is remembered.
pub const KEEP_HOURS: i64 = 24;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct StoredKey {
    pub subject: String,
    pub key: String,
    pub request_hash: String,
    pub state: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<Vec<u8>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The key is new: the request may run.
    New,
    /// The key is known: the same request done, or still running, or a
    /// different request under the same key.
    Known(StoredKey),
}

/// Claims `key` for `subject`, forgetting it first if it is older than 24 h.
pub fn claim(conn: &mut PgConnection, subject: &str, key: &str, hash: &str) -> QueryResult<Claim> {
    let cutoff = chrono::Utc::now() - chrono::Duration::hours(KEEP_HOURS);
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::subject.eq(subject))
            .filter(idempotency_keys::key.eq(key))
            .filter(idempotency_keys::created_at.lt(cutoff)),
    )
    .execute(conn)?;
    let inserted = prepared(
        "INSERT INTO idempotency_keys (subject, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (subject, key) DO NOTHING",
    )
    .bind(subject)
    .bind(key)
    .bind(hash)
    .execute(conn)?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    idempotency_keys::table
        .find((subject, key))
        .select(StoredKey::as_select())
        .first(conn)
        .map(Claim::Known)
}

/// Stores the response of a claimed key.
pub fn complete(
    conn: &mut PgConnection,
    subject: &str,
    key: &str,
    status: i32,
    headers: serde_json::Value,
    body: &[u8],
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((subject, key)))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(Some(status)),
            idempotency_keys::response_headers.eq(Some(headers)),
            idempotency_keys::response_body.eq(Some(body.to_vec())),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Forgets a claimed key (the request failed on the server: retrying may help).
pub fn release(conn: &mut PgConnection, subject: &str, key: &str) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find((subject, key)))
        .execute(conn)
        .map(|_| ())
}

/// Deletes keys older than 24 h.
pub fn purge(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind::<Timestamptz, _>(chrono::Utc::now() - chrono::Duration::hours(KEEP_HOURS))
        .execute(conn)
}
