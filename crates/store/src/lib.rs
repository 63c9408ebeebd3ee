//! Postgres persistence: the generated schema, row types with their queries,
//! the connection pool and the migrations runner. Rules live in `prm-domain`;
//! functions here take `&mut PgConnection` so that several compose inside one
//! transaction.

pub mod activity;
pub mod actors;
pub mod assignment;
pub mod customers;
pub mod dashboard;
pub mod deals;
pub mod error;
pub mod external_refs;
pub mod idempotency;
pub mod imports;
pub mod listing;
pub mod marketing;
pub mod migrate;
pub mod notifications;
pub mod opportunities;
pub mod orgs;
pub mod outbox;
pub mod policies;
pub mod pool;
pub mod prepared;
pub mod schema;
pub mod stored;
pub mod users;
pub mod versions;
pub mod webhooks;

pub use diesel::PgConnection;
pub use error::StoreError;
pub use pool::{PgPool, PoolSettings};

/// Diesel's result types, for callers composing transactions.
pub mod diesel_result {
    pub use diesel::result::Error;
}
pub use diesel::Connection;
