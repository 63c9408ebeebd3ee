//! Hand-written SQL that Postgres plans once per connection.
//!
//! Diesel never caches a `sql_query` statement (its text may be built at run
//! time, and the cache would grow without bound), so Postgres plans it again
//! on every call. For the dashboard's aggregates planning took about 2 ms
//! against 0.4 ms of execution. `Prepared` holds constant SQL text with `$n`
//! parameters. Diesel prepares it on first use and reuses it on that
//! connection afterwards.
//!
//! Each statement is written where it is used, with [`prepared!`]: its call
//! site is its identity. Keyed by its text, Diesel rebuilt the text and
//! hashed it on every call to find the statement it had kept (for the
//! dashboard's 2.5 KB summary, with finding its placeholders, about a sixth
//! of a request's own instructions); keyed by the call site, it finds it by
//! a type id, and where the placeholders stand is found once per site.
//! [`Keyed`] does the same for a statement Diesel builds whose text a few
//! choices fix, each named by a type (the walked search's four shapes).
//!
//! Diesel's own writes are not kept either, unless built so:
//! - Every `UPDATE` it builds is marked unsafe to cache; [`update`] here
//!   builds the same statement, keyed by its text.
//! - A derived `Insertable` writes an absent value as `DEFAULT`, and any
//!   statement that may hold `DEFAULT` is marked unsafe to cache, even when
//!   none is absent. Every `Insertable` of the store is derived with
//!   `treat_none_as_default_value = false`, so an absent value is bound as
//!   NULL (none of their nullable columns has another default).

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{
    AsChangeset, AstPass, IntoUpdateTarget, Query, QueryFragment, QueryId, UpdateTarget,
};
use diesel::sql_types::{self, Untyped};
use diesel::{Expression, Table};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::OnceLock;
use uuid::Uuid;

/// One bound value.
#[derive(Debug, Clone)]
pub enum Param {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Uuids(Vec<Uuid>),
    Text(String),
    Texts(Vec<String>),
    BigInt(i64),
    Numeric(BigDecimal),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Json(serde_json::Value),
}

macro_rules! param_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for Param {
            fn from(v: $t) -> Self {
                Self::$variant(v)
            }
        })*
    };
}

param_from! {
    Uuid => Uuid,
    Option<Uuid> => OptUuid,
    Vec<Uuid> => Uuids,
    String => Text,
    Vec<String> => Texts,
    i64 => BigInt,
    BigDecimal => Numeric,
    NaiveDate => Date,
    DateTime<Utc> => Time,
    serde_json::Value => Json,
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

/// Constant SQL with `$1`, `$2`, … placeholders (each may appear more than
/// once; none may appear inside a string literal), and the values for them.
/// `Site` is the statement's call site (see [`prepared!`]).
#[must_use = "a query runs only when loaded or executed"]
pub struct Prepared<Site> {
    sql: &'static str,
    layout: &'static OnceLock<Layout>,
    params: Vec<Param>,
    site: PhantomData<fn() -> Site>,
}

impl<Site> std::fmt::Debug for Prepared<Site> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Starts a statement of constant SQL, a literal or a constant's path; add
/// its parameters in order with [`Prepared::bind`].
///
/// Each use of the macro is a statement of its own: a type declared there
/// is its key in Diesel's cache of prepared statements, and the text is
/// searched for its placeholders once. So the text must be the same on
/// every call from that site (the macro takes only a literal or a path),
/// and so must the types bound, which [`Prepared::bind`] takes from the
/// site's own expressions.
#[macro_export]
macro_rules! prepared {
    ($sql:literal $(,)?) => {
        $crate::prepared!(@site $sql)
    };
    ($sql:path $(,)?) => {
        $crate::prepared!(@site $sql)
    };
    (@site $sql:expr) => {{
        struct Site;
        static LAYOUT: ::std::sync::OnceLock<$crate::prepared::Layout> =
            ::std::sync::OnceLock::new();
        $crate::prepared::Prepared::<Site>::at_site($sql, &LAYOUT)
    }};
}

impl<Site> Prepared<Site> {
    /// What [`prepared!`] expands to; not for use elsewhere.
    #[doc(hidden)]
    pub fn at_site(sql: &'static str, layout: &'static OnceLock<Layout>) -> Self {
        Self {
            sql,
            layout,
            params: Vec::new(),
            site: PhantomData,
        }
    }

    /// The value of the next placeholder number (`$1` first).
    pub fn bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        self
    }
}

/// Where the placeholders of a statement's text stand, found once per call
/// site.
#[derive(Debug)]
pub struct Layout {
    /// Each placeholder in order: the text since the previous one, and the
    /// index of its parameter (`$1` is 0; `usize::MAX` for `$0`, which no
    /// parameter fills).
    pieces: Vec<(Range<usize>, usize)>,
    /// Where the text after the last placeholder starts.
    tail: usize,
}

impl Layout {
    fn of(sql: &str) -> Self {
        let bytes = sql.as_bytes();
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut from = 0;
        while let Some(at) = sql[from..].find('$').map(|k| from + k) {
            let digits = bytes[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 {
                from = at + 1;
                continue;
            }
            let index = sql[at + 1..at + 1 + digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .unwrap_or(usize::MAX);
            pieces.push((start..at, index));
            from = at + 1 + digits;
            start = from;
        }
        Self {
            pieces,
            tail: start,
        }
    }
}

fn push_param<'b>(out: &mut AstPass<'_, 'b, Pg>, p: &'b Param) -> QueryResult<()> {
    match p {
        Param::Uuid(v) => out.push_bind_param::<sql_types::Uuid, _>(v),
        Param::OptUuid(v) => out.push_bind_param::<sql_types::Nullable<sql_types::Uuid>, _>(v),
        Param::Uuids(v) => out.push_bind_param::<sql_types::Array<sql_types::Uuid>, _>(v),
        Param::Text(v) => out.push_bind_param::<sql_types::Text, _>(v),
        Param::Texts(v) => out.push_bind_param::<sql_types::Array<sql_types::Text>, _>(v),
        Param::BigInt(v) => out.push_bind_param::<sql_types::BigInt, _>(v),
        Param::Numeric(v) => out.push_bind_param::<sql_types::Numeric, _>(v),
        Param::Date(v) => out.push_bind_param::<sql_types::Date, _>(v),
        Param::Time(v) => out.push_bind_param::<sql_types::Timestamptz, _>(v),
        Param::Json(v) => out.push_bind_param::<sql_types::Jsonb, _>(v),
    }
}

impl<Site> QueryFragment<Pg> for Prepared<Site> {
    /// The text, with parameter n bound at every `$n`: Diesel numbers the
    /// placeholders again in order, so a parameter used twice is sent twice.
    /// Nothing here marks the statement unsafe to cache.
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Diesel walks a statement more than once a call (its binds, its
        // safety to cache; its text when it prepares it), so where the
        // placeholders stand is looked up, not searched for.
        let layout = self.layout.get_or_init(|| Layout::of(self.sql));
        for (text, index) in &layout.pieces {
            let param = self.params.get(*index).ok_or_else(|| unbound(self.sql))?;
            out.push_sql(&self.sql[text.clone()]);
            push_param(&mut out, param)?;
        }
        out.push_sql(&self.sql[layout.tail..]);
        Ok(())
    }
}

fn unbound(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!("a placeholder has no bound parameter in: {sql}").into(),
    )
}

impl<Site: 'static> QueryId for Prepared<Site> {
    // The call site: its text and its binds' types are the same on every
    // call (see `prepared!`), so the cache finds the statement by the
    // site's type id, without building the text and hashing it.
    type QueryId = Site;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Site> Query for Prepared<Site> {
    type SqlType = Untyped;
}

impl<Site, Conn> RunQueryDsl<Conn> for Prepared<Site> {}

/// A statement whose text `K` names: Diesel keeps it prepared under `K`'s
/// type id, building its text only to prepare it. Whoever picks `K` must
/// pick it from exactly what the text depends on; in debug builds (the
/// tests) every statement's text is compared with the first one seen under
/// its key, and a difference panics.
pub struct Keyed<Q, K> {
    query: Q,
    key: PhantomData<fn() -> K>,
}

impl<Q, K> std::fmt::Debug for Keyed<Q, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("key", &std::any::type_name::<K>())
            .finish_non_exhaustive()
    }
}

impl<Q: QueryFragment<Pg>, K: 'static> Keyed<Q, K> {
    pub fn new(query: Q) -> Self {
        #[cfg(debug_assertions)]
        same_text_as_before::<K>(&query);
        Self {
            query,
            key: PhantomData,
        }
    }
}

/// Panics if `query`'s text differs from the first one seen under `K`.
#[cfg(debug_assertions)]
fn same_text_as_before<K: 'static>(query: &impl QueryFragment<Pg>) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<std::any::TypeId, String>>> = OnceLock::new();
    let rendered = diesel::debug_query::<Pg, _>(query).to_string();
    let text = rendered
        .split(" -- binds: ")
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let first = seen
        .entry(std::any::TypeId::of::<K>())
        .or_insert_with(|| text.clone());
    assert_eq!(
        *first,
        text,
        "two texts under one key ({})",
        std::any::type_name::<K>()
    );
}

impl<Q: Query, K> Query for Keyed<Q, K> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>, K> QueryFragment<Pg> for Keyed<Q, K> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }
}

impl<Q, K: 'static> QueryId for Keyed<Q, K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q, K, Conn> RunQueryDsl<Conn> for Keyed<Q, K> {}

/// `UPDATE <target> SET <changes> [RETURNING <selection>]`, kept prepared
/// per connection: [`diesel::update`]'s counterpart, with the same target
/// (a table filtered, or found by id), changeset and selection.
///
/// Diesel marks every `UPDATE` it builds unsafe to cache, since a
/// changeset's columns may differ from call to call; each one went out as
/// the unnamed statement, and Postgres parsed and planned it on every call
/// (an accept's update: 0.57 ms of planning against 1.8 ms of running;
/// docs/performance.md). This statement is keyed by its text instead, which
/// is the same for every call that sets the same columns: a call site's
/// changes keep one statement, or one per set of columns an optional
/// change leaves out. The changes must set at least one column.
pub fn update<T: IntoUpdateTarget>(target: T) -> UpdateSet<T::Table, T::WhereClause> {
    let UpdateTarget {
        table,
        where_clause,
    } = target.into_update_target();
    UpdateSet {
        table,
        where_clause,
    }
}

/// An [`update`] that has its target and waits for its changes.
#[derive(Debug)]
pub struct UpdateSet<Tab, W> {
    table: Tab,
    where_clause: W,
}

impl<Tab: Table, W> UpdateSet<Tab, W> {
    /// The columns to set.
    pub fn set<V: AsChangeset<Target = Tab>>(self, changes: V) -> Update<Tab, W, V::Changeset> {
        Update {
            from: self.table.from_clause(),
            where_clause: self.where_clause,
            set: changes.as_changeset(),
            returning: NoReturning,
        }
    }
}

/// An [`update`], ready to run.
pub struct Update<Tab: Table, W, C, R = NoReturning> {
    from: Tab::FromClause,
    where_clause: W,
    set: C,
    returning: R,
}

impl<Tab: Table, W, C, R> std::fmt::Debug for Update<Tab, W, C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update").finish_non_exhaustive()
    }
}

/// An update that returns nothing.
#[derive(Debug, Clone, Copy)]
pub struct NoReturning;

/// An update that returns `S` of each row it changed.
#[derive(Debug, Clone, Copy)]
pub struct Returning<S>(S);

impl<Tab: Table, W, C> Update<Tab, W, C> {
    /// What each changed row returns (`RETURNING`).
    pub fn returning<S: Expression>(self, selection: S) -> Update<Tab, W, C, Returning<S>> {
        Update {
            from: self.from,
            where_clause: self.where_clause,
            set: self.set,
            returning: Returning(selection),
        }
    }
}

impl QueryFragment<Pg> for NoReturning {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Ok(())
    }
}

impl<S: QueryFragment<Pg>> QueryFragment<Pg> for Returning<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" RETURNING ");
        self.0.walk_ast(out)
    }
}

impl<Tab, W, C, R> QueryFragment<Pg> for Update<Tab, W, C, R>
where
    Tab: Table,
    Tab::FromClause: QueryFragment<Pg>,
    W: QueryFragment<Pg>,
    C: QueryFragment<Pg>,
    R: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        self.where_clause.walk_ast(out.reborrow())?;
        self.returning.walk_ast(out)
    }
}

impl<Tab: Table, W, C, R> QueryId for Update<Tab, W, C, R> {
    // Keyed by its text: which columns it sets may differ between calls.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Tab: Table, W, C, S: Expression> Query for Update<Tab, W, C, Returning<S>> {
    type SqlType = S::SqlType;
}

impl<Tab: Table, W, C, R, Conn> RunQueryDsl<Conn> for Update<Tab, W, C, R> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_sends_the_sql_diesel_would_send() {
        use crate::schema::deal_registrations as d;
        use diesel::{ExpressionMethods, QueryDsl};
        let id = Uuid::from_u128(7);
        let ours = update(d::table.find(id))
            .set((d::version.eq(d::version + 1), d::justification.eq("x")))
            .returning(d::id);
        let diesels = diesel::update(d::table.find(id))
            .set((d::version.eq(d::version + 1), d::justification.eq("x")))
            .returning(d::id);
        assert_eq!(
            diesel::debug_query::<Pg, _>(&ours).to_string(),
            diesel::debug_query::<Pg, _>(&diesels).to_string()
        );
        let ours = update(d::table.filter(d::status.eq("approved"))).set(d::version.eq(1));
        let diesels =
            diesel::update(d::table.filter(d::status.eq("approved"))).set(d::version.eq(1));
        assert_eq!(
            diesel::debug_query::<Pg, _>(&ours).to_string(),
            diesel::debug_query::<Pg, _>(&diesels).to_string()
        );
    }

    #[test]
    fn each_placeholder_binds_its_parameter_where_it_stands() {
        let q = crate::prepared!("SELECT $2::text, $1::bigint, $2 AS again, '$' AS sign")
            .bind(7_i64)
            .bind("a");
        let rendered = diesel::debug_query::<Pg, _>(&q).to_string();
        assert!(
            rendered.starts_with("SELECT $1::text, $2::bigint, $3 AS again, '$' AS sign "),
            "{rendered}"
        );
        assert!(rendered.contains(r#"binds: ["a", 7, "a"]"#), "{rendered}");
        // `$10` names a parameter that was never bound.
        let q = crate::prepared!("SELECT $1, $10").bind(7_i64);
        let mut sql = diesel::pg::PgQueryBuilder::default();
        assert!(q.to_sql(&mut sql, &Pg).is_err());
        // Nor does `$0`.
        let q = crate::prepared!("SELECT $0").bind(7_i64);
        let mut sql = diesel::pg::PgQueryBuilder::default();
        assert!(q.to_sql(&mut sql, &Pg).is_err());
    }

    /// One call site, run again, is the same statement to Diesel's cache,
    /// and renders the same; another site, even with the same text, is a
    /// statement of its own.
    #[test]
    fn a_call_site_is_its_statements_key() {
        fn site_a(n: i64) -> Prepared<impl Sized + 'static> {
            crate::prepared!("SELECT $1::bigint AS n").bind(n)
        }
        fn site_b(n: i64) -> Prepared<impl Sized + 'static> {
            crate::prepared!("SELECT $1::bigint AS n").bind(n)
        }
        fn key<Q: QueryId>(_: &Q) -> Option<std::any::TypeId> {
            Q::query_id()
        }
        let (first, again, other) = (site_a(1), site_a(2), site_b(1));
        assert!(key(&first).is_some());
        assert_eq!(key(&first), key(&again));
        assert_ne!(key(&first), key(&other));
        for q in [&first, &again] {
            let rendered = diesel::debug_query::<Pg, _>(q).to_string();
            assert!(
                rendered.starts_with("SELECT $1::bigint AS n "),
                "{rendered}"
            );
        }
        assert!(
            diesel::debug_query::<Pg, _>(&again)
                .to_string()
                .ends_with("binds: [2]")
        );
    }
}
