//! Postgres persistence: the generated schema, row types with their queries,
//! the connection pool and the migrations runner. Rules live in `prm-domain`;
//! functions here take `&mut PgConnection` so that several compose inside one
//! transaction.

/// Constant SQL in a select list: a sub-select (correlated with the row
/// being read, or not). Typed and static, so the statement stays
/// prepared (a raw `sql()` fragment would make Diesel prepare it anew on
/// every call), and it needs no join, so `FOR UPDATE` locks only the
/// row read.
macro_rules! correlated {
    ($(#[$doc:meta])* $name:ident: $st:ty = $sql:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
        pub struct $name;

        impl diesel::expression::Expression for $name {
            type SqlType = $st;
        }

        impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for $name {
            fn walk_ast<'b>(
                &'b self,
                mut pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
            ) -> diesel::QueryResult<()> {
                pass.push_sql($sql);
                Ok(())
            }
        }

        impl<QS> diesel::expression::AppearsOnTable<QS> for $name {}
        impl<QS> diesel::expression::SelectableExpression<QS> for $name {}
    };
}

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
pub mod journal;
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
