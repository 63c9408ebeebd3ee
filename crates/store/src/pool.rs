//! The r2d2 connection pool, with per-session settings applied on checkout.

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};

pub type PgPool = r2d2::Pool<ConnectionManager<PgConnection>>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager<PgConnection>>;

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: u32,
    /// How long a request waits for a connection before it gets a 503.
    pub checkout_timeout: Duration,
    /// Longest a single statement may run before Postgres cancels it.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 10,
            checkout_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
struct SessionSettings {
    statement_timeout_ms: u128,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "SET statement_timeout = {}; SET TIME ZONE 'UTC'",
            self.statement_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool without connecting: the first checkout connects, so a
/// service can start while its database is still coming up.
pub fn build_pool(database_url: &str, settings: &PoolSettings) -> PgPool {
    let manager = ConnectionManager::<PgConnection>::new(database_url);
    r2d2::Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.checkout_timeout)
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSettings {
            statement_timeout_ms: settings.statement_timeout.as_millis(),
        }))
        .build_unchecked(manager)
}

/// Takes a transaction-scoped advisory lock on `key`.
pub fn advisory_xact_lock(conn: &mut PgConnection, key: i64) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    crate::prepared!("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .map(|_| ())
}
