//! Postgres notifications: a connection of its own that `LISTEN`s on a
//! channel, polled without blocking.

use diesel::{Connection, PgConnection, QueryResult, RunQueryDsl};

/// A connection listening on one channel.
pub struct Listener(PgConnection);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Listener {
    /// Connects to `url` and listens on `channel` (a plain identifier).
    pub fn connect(url: &str, channel: &str) -> Result<Self, crate::StoreError> {
        let mut conn = PgConnection::establish(url)
            .map_err(|e| crate::StoreError::Unavailable(e.to_string()))?;
        // Named, so an operator (or a test) can find it in pg_stat_activity.
        diesel::sql_query(format!("SET application_name = 'prm-listen-{channel}'"))
            .execute(&mut conn)?;
        diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)?;
        Ok(Self(conn))
    }

    /// Takes every notification received so far, without waiting; whether
    /// there was any. An error means the connection is gone.
    pub fn drain(&mut self) -> QueryResult<bool> {
        let mut heard = false;
        for n in self.0.notifications_iter() {
            n?;
            heard = true;
        }
        Ok(heard)
    }

    /// A round trip, to find out a connection dropped without a word.
    pub fn ping(&mut self) -> QueryResult<()> {
        diesel::sql_query("SELECT 1")
            .execute(&mut self.0)
            .map(|_| ())
    }
}
