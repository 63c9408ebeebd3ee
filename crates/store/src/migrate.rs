//! Creating the database when missing and applying migrations, safely from
//! several replicas at once.

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Advisory-lock key that serializes migration runs across replicas ("prm-migr").
const MIGRATION_LOCK_KEY: i64 = 0x7072_6d2d_6d69_6772;

/// Splits a Postgres URL into the database name and the same URL pointing at
/// the `postgres` maintenance database.
pub fn split_database_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].rfind('/')? + scheme_end;
    let name = &base[slash + 1..];
    if name.is_empty() {
        return None;
    }
    let mut maintenance = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        maintenance.push('?');
        maintenance.push_str(q);
    }
    Some((name.to_owned(), maintenance))
}

/// Connects to the database, creating it first when it does not exist.
/// Returns whether it was created.
pub fn ensure_database(url: &str) -> Result<bool, StoreError> {
    match PgConnection::establish(url) {
        Ok(_) => return Ok(false),
        Err(e) if e.to_string().contains("does not exist") => {}
        Err(e) => return Err(StoreError::Unavailable(e.to_string())),
    }
    let (name, maintenance) = split_database_url(url)
        .ok_or_else(|| StoreError::Unavailable(format!("cannot find a database name in {url}")))?;
    let mut conn = PgConnection::establish(&maintenance)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match conn.batch_execute(&sql) {
        Ok(()) => Ok(true),
        // Another replica created it a moment ago: that is what we wanted.
        Err(DieselError::DatabaseError(DatabaseErrorKind::Unknown, info))
            if info.message().contains("already exists") =>
        {
            Ok(false)
        }
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies pending migrations while holding a session advisory lock, so two
/// replicas starting together run them once. Returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| StoreError::Migration(e.to_string()));
    let unlock = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn);
    let versions = result?;
    unlock?;
    Ok(versions)
}

/// True when every embedded migration has been applied.
pub fn is_migrated(conn: &mut PgConnection) -> Result<bool, StoreError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::split_database_url;

    #[test]
    fn database_url_splits_into_name_and_maintenance_url() {
        let (name, m) = split_database_url("postgres://u@h:5432/prm?sslmode=disable").unwrap();
        assert_eq!(name, "prm");
        assert_eq!(m, "postgres://u@h:5432/postgres?sslmode=disable");
        assert!(split_database_url("postgres://u@h:5432/").is_none());
    }
}
