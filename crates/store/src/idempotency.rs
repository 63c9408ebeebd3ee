//! Idempotency keys: the stored answer to a keyed request, written in the
//! same transaction as the request's work, so that both commit or neither
//! does. While that transaction is open its key is held by a transaction
//! lock, which ends with the transaction however it ends (a crash included):
//! no key is ever left "in flight".

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz};

use crate::schema::idempotency_keys;

/// How long a key is remembered.
pub const KEEP_HOURS: i64 = 24;

/// The answer stored for a key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
pub struct StoredKey {
    pub subject: String,
    pub key: String,
    pub request_hash: String,
    pub response_status: i32,
    pub response_headers: serde_json::Value,
    pub response_body: Vec<u8>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a keyed request found when it began.
#[derive(Debug)]
pub enum Claim {
    /// The key is new: the request may run, in the transaction just begun.
    New,
    /// Another request with the key is still running (its transaction holds
    /// the key).
    InFlight,
    /// The key has an answer (for the same request or a different one).
    Known(StoredKey),
}

/// Begins the keyed request's transaction and holds `key` for it: the
/// request runs if the key is new; otherwise the transaction is rolled
/// back and what holds the key is returned. Keys older than 24 h are
/// forgotten first.
pub fn claim(conn: &mut PgConnection, subject: &str, key: &str) -> QueryResult<Claim> {
    AnsiTransactionManager::begin_transaction(conn)?;
    let found = held(conn, subject, key);
    match found {
        Ok(Claim::New) => Ok(Claim::New),
        other => {
            AnsiTransactionManager::rollback_transaction(conn)?;
            other
        }
    }
}

fn held(conn: &mut PgConnection, subject: &str, key: &str) -> QueryResult<Claim> {
    // Two int4 keys: a space apart from the one-key locks elsewhere.
    let locked = crate::prepared!(
        "SELECT pg_try_advisory_xact_lock(1768187252, hashtext($1 || chr(10) || $2)) AS locked",
    )
    .bind(subject)
    .bind(key)
    .get_result::<Locked>(conn)?
    .locked;
    if !locked {
        return Ok(Claim::InFlight);
    }
    let cutoff = chrono::Utc::now() - chrono::Duration::hours(KEEP_HOURS);
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::subject.eq(subject))
            .filter(idempotency_keys::key.eq(key))
            .filter(idempotency_keys::created_at.lt(cutoff)),
    )
    .execute(conn)?;
    Ok(idempotency_keys::table
        .find((subject, key))
        .select(StoredKey::as_select())
        .first(conn)
        .optional()?
        .map_or(Claim::New, Claim::Known))
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// The answer to a claimed key, stored and committed with the request's
/// work.
#[derive(Debug)]
pub struct Answer<'a> {
    pub request_hash: &'a str,
    pub status: i32,
    pub headers: serde_json::Value,
    pub body: &'a [u8],
}

fn insert_answer(
    conn: &mut PgConnection,
    subject: &str,
    key: &str,
    answer: Answer<'_>,
) -> QueryResult<usize> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::subject.eq(subject),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(answer.request_hash),
            idempotency_keys::response_status.eq(answer.status),
            idempotency_keys::response_headers.eq(answer.headers),
            idempotency_keys::response_body.eq(answer.body),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
}

/// Stores `answer` for a claimed key and commits the request's transaction.
pub fn commit(
    conn: &mut PgConnection,
    subject: &str,
    key: &str,
    answer: Answer<'_>,
) -> QueryResult<()> {
    let stored = insert_answer(conn, subject, key, answer);
    match stored {
        Ok(_) => AnsiTransactionManager::commit_transaction(conn),
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Rolls back a claimed key's transaction: the request's work is undone and
/// the key stays free (the request failed on the server: a retry may help).
pub fn abandon(conn: &mut PgConnection) -> QueryResult<()> {
    AnsiTransactionManager::rollback_transaction(conn)
}

/// Rolls back a claimed key's transaction, then stores `answer` on its own:
/// for a refusal, whose request must have changed nothing, whatever its
/// work had begun (a failed statement may even have aborted the
/// transaction). A concurrent retry that performed the request meanwhile
/// keeps its own answer.
pub fn record_refusal(
    conn: &mut PgConnection,
    subject: &str,
    key: &str,
    answer: Answer<'_>,
) -> QueryResult<()> {
    AnsiTransactionManager::rollback_transaction(conn)?;
    insert_answer(conn, subject, key, answer).map(|_| ())
}

/// Deletes keys older than 24 h.
pub fn purge(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind::<Timestamptz, _>(chrono::Utc::now() - chrono::Duration::hours(KEEP_HOURS))
        .execute(conn)
}
