//! Hand-written SQL that Postgres plans once per connection.
//!
//! Diesel never caches a `sql_query` statement, because its text may be
//! built at run time and the cache would grow without bound. The statements
//! wrapped here are constant text with bound parameters, so they are safe to
//! cache by their text; for the dashboard's aggregates planning costs about as
//! much as executing, and a prepared statement skips it after the first call.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A `sql_query` (with its binds) whose text never varies between calls.
#[derive(Debug, Clone)]
pub struct Prepared<Q>(Q);

/// `.prepared()` on a `sql_query(…)`: only for constant SQL text, which the
/// statement cache keys by.
pub trait PreparedExt: Sized {
    fn prepared(self) -> Prepared<Self> {
        Prepared(self)
    }
}

impl<Q: Query> PreparedExt for Q {}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Prepared<Q> {
    // No static id: the cache keys the statement by its SQL text and bind types.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}
