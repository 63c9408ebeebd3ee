//! Errors of the persistence layer.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached, or timed out: worth a retry (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value the code does not understand: a bug or a bad migration.
    #[error("invalid stored value: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Query(DieselError),
}

impl StoreError {
    /// The name of the unique constraint a write broke, if that is what failed.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            StoreError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                info,
            )) => Some(info.constraint_name().unwrap_or("")),
            _ => None,
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Query(e)
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Lost connections and statement time-outs are the database's state, not the
/// request's fault: they answer 503 with `Retry-After`.
pub fn is_unavailable(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => true,
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("statement timeout") || m.contains("terminating connection")
        }
        _ => false,
    }
}
