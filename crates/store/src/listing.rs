//! Opportunity lists: the caller's visibility, filters, sorts and keyset
//! pagination, rendered as one query; and the counts dashboards show, built
//! from the same predicates so their numbers agree with the lists.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Date, Numeric};
use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::OrgId;
use prm_domain::opportunity::{Status, Visibility};
use uuid::Uuid;

use crate::external_refs;
use crate::opportunities::{OpportunityView, view_columns_for};
use crate::prepared::Keyed;
use crate::schema::{customers, opportunities, opportunity_collaborators};
use crate::stored::Text;

/// Filters read opportunities' own columns (customers only in sub-selects),
/// so that a page's ids can be chosen without reading any customer.
type Source = opportunities::table;
type Pred<'a> = Box<dyn BoxableExpression<Source, Pg, SqlType = Bool> + 'a>;

/// What every SQL fragment of this module is beside its SQL: an expression
/// of `$st`, on whatever table the column it tests (`on`) is on (on any,
/// without one), and never an aggregate.
macro_rules! fragment {
    ($name:ident<$($g:ident),*>: $st:ty, on $on:ident) => {
        impl<$($g),*> Expression for $name<$($g),*> {
            type SqlType = $st;
        }

        impl<$($g,)* QS> AppearsOnTable<QS> for $name<$($g),*> where $on: AppearsOnTable<QS> {}

        impl<$($g,)* QS> SelectableExpression<QS> for $name<$($g),*> where
            $on: SelectableExpression<QS>
        {
        }

        impl<$($g),*> diesel::expression::ValidGrouping<()> for $name<$($g),*> {
            type IsAggregate = diesel::expression::is_aggregate::Never;
        }
    };
    ($name:ident: $st:ty) => {
        impl Expression for $name {
            type SqlType = $st;
        }

        impl<QS> AppearsOnTable<QS> for $name {}

        impl<QS> SelectableExpression<QS> for $name {}

        impl diesel::expression::ValidGrouping<()> for $name {
            type IsAggregate = diesel::expression::is_aggregate::Never;
        }
    };
}

/// The views of API.md, relative to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Offered to my org and awaiting it.
    Distributed,
    /// Accepted by my org.
    Managed,
    /// My org collaborates on it.
    Collaborating,
    /// I own it.
    Mine,
}

/// Filters of an opportunity list; every one narrows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub view: Option<View>,
    pub partner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub phase: Option<String>,
    pub q: Option<String>,
    /// Orgs whose customers' names are masked for the caller: `q` does not
    /// match those names.
    pub q_masked_orgs: Vec<Uuid>,
    pub updated_since: Option<DateTime<Utc>>,
    pub closed_since: Option<DateTime<Utc>>,
    pub marketing_task_id: Option<Uuid>,
    pub expires_before: Option<NaiveDate>,
    /// The caller's org's own reference (`external_ref`).
    pub external_ref: Option<ExternalRef>,
}

/// Sort orders; every one ends with the id so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    CreatedDesc,
    CreatedAsc,
    UpdatedDesc,
    UpdatedAsc,
    CloseDateAsc,
    CloseDateDesc,
    RevenueDesc,
    RevenueAsc,
}

/// Where the previous page ended: the sort key of its last row and its id.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    Id(Uuid),
    Time(DateTime<Utc>, Uuid),
    Date(NaiveDate, Uuid),
    Amount(BigDecimal, Uuid),
}

correlated! {
    /// The close date as lists sort it: none sorts last ascending, so the
    /// keyset comparison stays a plain row comparison (the indexes of
    /// migration `list_plans` are on this expression). Static SQL, so the
    /// statement stays prepared: a `sql()` order made Diesel send it
    /// unnamed, parsed and planned on every call.
    CloseDateKey: Date = "coalesce(opportunities.expected_close_date, DATE '9999-12-31')"
}

correlated! {
    /// The estimated revenue as lists sort it (none sorts first ascending).
    RevenueKey: Numeric = "coalesce(opportunities.estimated_revenue, -1)"
}

/// The null stand-ins above, for building cursors.
pub fn close_date_key(d: Option<NaiveDate>) -> NaiveDate {
    d.unwrap_or_else(|| NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX))
}

pub fn revenue_key(r: Option<&BigDecimal>) -> BigDecimal {
    r.cloned().unwrap_or_else(|| BigDecimal::from(-1))
}

/// The caller's identity as the views need it.
#[derive(Debug, Clone, Copy)]
pub struct Me {
    pub org: Uuid,
    pub user: Uuid,
}

fn and<'a>(a: Pred<'a>, b: Pred<'a>) -> Pred<'a> {
    Box::new(a.and(b))
}

/// The domain's live offers, which the SQL spells as constants; the tests
/// hold each spelling to this list.
#[cfg(test)]
fn live_statuses() -> Vec<&'static str> {
    Status::ALL
        .iter()
        .filter(|s| s.is_live_offer())
        .map(Status::as_str)
        .collect()
}

correlated! {
    /// An opportunity a partner brought in. Constant SQL rather than a
    /// bound `'partner'`: a value the planner sees in one plan and not in
    /// another makes the two cost differently (see [`IsValue`]).
    PartnerCreated: Bool = "opportunities.origin = 'partner'"
}

correlated! {
    /// A live offer ([`Status::is_live_offer`]), as constant SQL, for the
    /// same reason as [`PartnerCreated`]; a test holds it to the domain's
    /// list.
    LiveOffer: Bool = "opportunities.status IN ('delivered', 'accepted', 'won', 'lost')"
}

/// `<column> = (SELECT $v)`: the column holds the caller's value, which the
/// planner does not see. A list's statement carries the caller's identity
/// (its orgs, its user, the partner it names); shown those values, the
/// planner made each call's plan anew, because the plan it could keep (one
/// for every caller) was costed higher than the one for these values, and
/// planning a list cost as much as running it (0.7 ms at a million
/// opportunities). Behind a sub-select the values cost every plan the
/// same, so after a few calls Postgres keeps one plan per connection. The
/// index conditions stay: an index scan takes a sub-select's value as its
/// key when it starts.
#[derive(Debug, Clone, QueryId)]
struct IsValue<C>(C, Uuid);

fragment!(IsValue<C>: Bool, on C);

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for IsValue<C> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" = (SELECT ");
        pass.push_bind_param::<diesel::sql_types::Uuid, _>(&self.1)?;
        pass.push_sql(")");
        Ok(())
    }
}

/// `<column> = ANY((SELECT $v)::uuid[])`: the column holds one of the
/// caller's values, unseen by the planner (see [`IsValue`]).
#[derive(Debug, Clone, QueryId)]
struct IsOneOf<C>(C, Vec<Uuid>);

fragment!(IsOneOf<C>: Bool, on C);

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for IsOneOf<C> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" = ANY((SELECT ");
        pass.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&self.1)?;
        pass.push_sql(")::uuid[])");
        Ok(())
    }
}

/// Live offers to any of `orgs` as collaborator: `id = ANY(ARRAY(<the
/// orgs' collaborations>))`, so that the collaborations are read once
/// through their index and probe the opportunities' primary key. (As an
/// `EXISTS` under the visibility's `OR` it was a sub-plan tried on every row
/// of whatever index the plan walked.)
fn collaborates<'a>(orgs: Vec<Uuid>) -> Pred<'a> {
    Box::new(
        LiveOffer.and(AnyOf(
            opportunities::id,
            opportunity_collaborators::table
                .filter(IsOneOf(opportunity_collaborators::org_id, orgs))
                .select(opportunity_collaborators::opportunity_id),
        )),
    )
}

/// What a partner's orgs may see, arm by arm: what they brought in, the
/// live offers to them, their collaborations. Each arm is a condition one
/// index serves (the owner org's, the primary partner's with the status,
/// the primary key). [`visible`] ORs them; a partner's `q` gathers its
/// candidates from each ([`SeenHolding`]).
fn partner_arms<'a>(orgs: &[OrgId]) -> [Pred<'a>; 3] {
    let orgs: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
    [
        Box::new(PartnerCreated.and(IsOneOf(opportunities::owner_org_id, orgs.clone()))),
        Box::new(LiveOffer.and(IsOneOf(opportunities::primary_partner_id, orgs.clone()))),
        collaborates(orgs),
    ]
}

/// The visibility rule of the domain, rendered as SQL; the caller's orgs
/// and user as values the planner does not see ([`IsValue`]).
fn visible<'a>(visibility: &Visibility) -> Pred<'a> {
    match visibility {
        // A typed always-true predicate keeps the statement cacheable (a raw
        // SQL fragment would make Diesel re-prepare it on every call).
        Visibility::All => Box::new(opportunities::id.is_not_null()),
        Visibility::Partner { orgs, owner } => {
            // A partner's opportunities are a bitmap OR of the arms' three
            // index scans, or a walk of an index in the list's order that
            // checks each row: never a scan of every opportunity.
            let [created, offered, collaborating] = partner_arms(orgs);
            let mut p: Pred<'a> = Box::new(created.or(offered).or(collaborating));
            if let Some(owner) = owner {
                p = and(p, Box::new(IsValue(opportunities::owner_user_id, owner.0)));
            }
            p
        }
    }
}

fn predicate<'a>(visibility: &Visibility, me: Me, f: &Filter) -> Pred<'a> {
    let mut p = visible(visibility);
    if !f.statuses.is_empty() {
        let s: Vec<&'static str> = f.statuses.iter().map(Status::as_str).collect();
        p = and(p, Box::new(opportunities::status.eq_any(s)));
    }
    match f.view {
        None => {}
        Some(View::Distributed) => {
            p = and(
                p,
                Box::new(opportunities::status.eq(Text(Status::Delivered))),
            );
            p = and(
                p,
                Box::new(
                    opportunities::primary_partner_id
                        .assume_not_null()
                        .eq(me.org),
                ),
            );
        }
        Some(View::Managed) => {
            p = and(
                p,
                Box::new(opportunities::status.eq(Text(Status::Accepted))),
            );
            p = and(
                p,
                Box::new(
                    opportunities::primary_partner_id
                        .assume_not_null()
                        .eq(me.org),
                ),
            );
        }
        Some(View::Collaborating) => p = and(p, collaborates(vec![me.org])),
        Some(View::Mine) => p = and(p, Box::new(opportunities::owner_user_id.eq(me.user))),
    }
    if let Some(id) = f.partner_id {
        p = and(
            p,
            match visibility {
                // A partner names one of its own orgs: the caller's identity
                // again, hidden like its scope (see `IsValue`), and what it
                // may see bounds what the plan reads.
                Visibility::Partner { .. } => {
                    Box::new(IsValue(opportunities::primary_partner_id, id))
                }
                // The vendor chooses among all partners, some of which hold
                // far more than others: the plan is made for the one named
                // (a large partner's page by revenue is read in order from
                // its index; for a partner of average size a covering index
                // and a sort look cheaper).
                Visibility::All => {
                    Box::new(opportunities::primary_partner_id.assume_not_null().eq(id))
                }
            },
        );
    }
    if let Some(id) = f.customer_id {
        p = and(p, Box::new(opportunities::customer_id.eq(id)));
    }
    if let Some(id) = f.marketing_task_id {
        p = and(
            p,
            Box::new(opportunities::marketing_task_id.assume_not_null().eq(id)),
        );
    }
    if let Some(phase) = &f.phase {
        p = and(
            p,
            Box::new(
                opportunities::pipeline_phase
                    .assume_not_null()
                    .eq(phase.clone()),
            ),
        );
    }
    if let Some(q) = &f.q {
        let pattern = containing(q);
        let mut matches: Pred<'a> = match visibility {
            Visibility::All => indexed_match(q, pattern, f.q_masked_orgs.clone()),
            Visibility::Partner { orgs, .. } => and(
                Box::new(SeenHolding {
                    arms: partner_arms(orgs),
                    term: q.clone(),
                }),
                row_match(q, f.q_masked_orgs.clone()),
            ),
        };
        if let Some(n) = prm_domain::opportunity::parse_reference(q) {
            matches = Box::new(matches.or(opportunities::reference_no.eq(n)));
        }
        p = and(p, matches);
    }
    if let Some(r) = &f.external_ref {
        p = and(
            p,
            Box::new(opportunities::id.eq_any(external_refs::named_by(
                OrgId(me.org),
                RefKind::Opportunity,
                r,
            ))),
        );
    }
    if let Some(t) = f.updated_since {
        p = and(p, Box::new(opportunities::updated_at.ge(t)));
    }
    if let Some(t) = f.closed_since {
        p = and(
            p,
            Box::new(opportunities::closed_at.assume_not_null().ge(t)),
        );
    }
    if let Some(d) = f.expires_before {
        p = and(
            p,
            Box::new(opportunities::expires_on.assume_not_null().le(d)),
        );
    }
    p
}

/// `q` matched through indexes, for a caller who may see every
/// opportunity: the topic's index of three-character windows, or the
/// customers' (their names' windows gather the customers once, and their
/// ids probe the opportunities' customer index), as a bitmap OR of the two.
fn indexed_match<'a>(term: &str, pattern: String, masked_orgs: Vec<Uuid>) -> Pred<'a> {
    // A sub-select on customers (not the opportunity's copy of the name,
    // which no index of windows holds) lets both sides use their index.
    let matched = diesel::alias!(customers as matched_customers);
    let by_customer = matched
        .filter(Holds(
            matched.field(customers::name),
            term.to_owned(),
            pattern.clone(),
        ))
        .filter(matched.field(customers::org_id).ne_all(masked_orgs))
        .select(matched.field(customers::id));
    Box::new(
        Holds(opportunities::topic, term.to_owned(), pattern)
            .or(AnyOf(opportunities::customer_id, by_customer)),
    )
}

/// `(search_grams(lower(<text>)) @> (SELECT search_term_grams(lower($term)))
/// AND <text> ILIKE $pattern)`: the text holds the term, found through the
/// text's index of three-character windows (migration `search_grams`) and
/// rechecked by the pattern. Every window of the term is a window of any
/// text that holds it, so the index misses no match, whichever of them it
/// is asked for: those that hold a digit or a punctuation mark where the
/// term has any (few texts hold each), else a third of them that still
/// covers every character of the term (each common window is a long
/// posting list to decode; migration `search_term_windows`). They are
/// worked out once per statement (a sub-select), not once per row.
#[derive(Debug, Clone, QueryId)]
struct Holds<T>(T, String, String);

fragment!(Holds<T>: Bool, on T);

impl<T: QueryFragment<Pg>> QueryFragment<Pg> for Holds<T> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_holds(&self.0, &self.1, &self.2, Pattern::Shown, &mut pass)
    }
}

/// How [`push_holds`] passes the pattern: as a value the planner reads, or
/// as a sub-select it does not, so that one plan serves every term.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Shown,
    Unseen,
}

/// Writes [`Holds`]'s test of `text`, the one place it is spelled.
fn push_holds<'b, T: QueryFragment<Pg>>(
    text: &'b T,
    term: &'b String,
    pattern: &'b String,
    shown: Pattern,
    pass: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    pass.push_sql("(search_grams(lower(");
    text.walk_ast(pass.reborrow())?;
    pass.push_sql(")) @> (SELECT search_term_grams(lower(");
    pass.push_bind_param::<diesel::sql_types::Text, _>(term)?;
    pass.push_sql("))) AND ");
    text.walk_ast(pass.reborrow())?;
    match shown {
        Pattern::Shown => {
            pass.push_sql(" ILIKE ");
            pass.push_bind_param::<diesel::sql_types::Text, _>(pattern)?;
        }
        Pattern::Unseen => {
            pass.push_sql(" ILIKE (SELECT ");
            pass.push_bind_param::<diesel::sql_types::Text, _>(pattern)?;
            pass.push_sql(")");
        }
    }
    pass.push_sql(")");
    Ok(())
}

/// A column as the statement around it names it (`g.topic`), for a
/// fragment written inside hand-spelled SQL.
#[derive(Debug, Clone, Copy)]
struct Named(&'static str);

impl QueryFragment<Pg> for Named {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql(self.0);
        Ok(())
    }
}

/// `q` tested on each row by itself, for a partner, whose candidates
/// [`SeenHolding`] gathers: the row's `search_text` (its topic and
/// customer's name, case-folded; see the migration `search_text`) holds the
/// term. Where the customer's name is masked for the caller, only the topic
/// may hold it.
fn row_match<'a>(term: &str, masked_orgs: Vec<Uuid>) -> Pred<'a> {
    let holds: Pred<'a> = Box::new(FoldedHolds(opportunities::search_text, term.to_owned()));
    if masked_orgs.is_empty() {
        return holds;
    }
    // The row's own copy of its customer's holder (migration
    // customer_on_opportunity) tells whether the name is masked.
    and(
        holds,
        Box::new(
            FoldedHolds(Folded(opportunities::topic), term.to_owned()).or(diesel::dsl::not(
                IsOneOf(opportunities::customer_org_id, masked_orgs),
            )),
        ),
    )
}

/// `id = ANY(ARRAY(SELECT id FROM opportunities WHERE <arm> AND <its
/// search_text holds the term> UNION ALL …))` over the arms of a partner's
/// visibility ([`partner_arms`]): a partner's `q` narrowed to candidates
/// before anything else is tested.
///
/// Gathered through the visibility's indexes as one bitmap, every row a
/// partner may see had its heap page visited for its `search_text` (at a
/// million opportunities, a distributor's 824 rows on 822 pages for 13
/// matches). The indexes of the first two arms hold `search_text`
/// (migration `partner_search_covering`), as the primary key's
/// `search_walk` index does, so each arm tests the term in the index, and
/// only the candidates are read from the table, where the whole predicate
/// (the visibility with the owner, the filters, the masked names) is
/// tested as before. The statement ran 1,140-1,211 -> 1,912-2,068 times a
/// second for `fabrikam` and 1,309-1,417 -> 3,370-3,638 for `fabrikam
/// 0-12` (16 connections, a million opportunities).
#[derive(Debug, Clone, QueryId)]
struct SeenHolding<A> {
    arms: [A; 3],
    term: String,
}

fragment!(SeenHolding<A>: Bool, on A);

impl<A: QueryFragment<Pg>> QueryFragment<Pg> for SeenHolding<A> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        opportunities::id.walk_ast(pass.reborrow())?;
        pass.push_sql(" = ANY(ARRAY(");
        for (i, arm) in self.arms.iter().enumerate() {
            if i > 0 {
                pass.push_sql(" UNION ALL ");
            }
            // Unaliased: inside the sub-select, `opportunities` names its
            // own rows, so the arm is the visibility's own SQL.
            pass.push_sql("SELECT opportunities.id FROM opportunities WHERE (");
            arm.walk_ast(pass.reborrow())?;
            pass.push_sql(") AND ");
            push_folded_holds(&opportunities::search_text, &self.term, &mut pass)?;
        }
        pass.push_sql("))");
        Ok(())
    }
}

/// `strpos(<text>, (SELECT lower(<term>))) > 0`: the text, case-folded
/// already, holds the term case-folded the same way (by the database's
/// `lower`, once per statement, as the text was). The same rows as `<text>
/// LIKE` the term's [`containing`] pattern, found by a substring search
/// instead of `LIKE`'s matcher, which tries the pattern at every byte: a
/// common term's walk spent 13-15 % of the machine's CPU in it, and the
/// statement ran 1,118-1,135 times a second at a million opportunities
/// against 1,269-1,278 this way (pgbench, 16 connections).
#[derive(Debug, Clone, QueryId)]
struct FoldedHolds<T>(T, String);

fragment!(FoldedHolds<T>: Bool, on T);

impl<T: QueryFragment<Pg>> QueryFragment<Pg> for FoldedHolds<T> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        push_folded_holds(&self.0, &self.1, &mut pass)
    }
}

/// Writes [`FoldedHolds`]'s test, the one place it is spelled.
fn push_folded_holds<'b, T: QueryFragment<Pg>>(
    text: &'b T,
    term: &'b String,
    pass: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    pass.push_sql("strpos(");
    text.walk_ast(pass.reborrow())?;
    pass.push_sql(", (SELECT lower(");
    pass.push_bind_param::<diesel::sql_types::Text, _>(term)?;
    pass.push_sql("))) > 0");
    Ok(())
}

/// `lower(<text>)`.
#[derive(Debug, Clone, Copy, QueryId)]
struct Folded<T>(T);

fragment!(Folded<T>: diesel::sql_types::Text, on T);

impl<T: QueryFragment<Pg>> QueryFragment<Pg> for Folded<T> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("lower(");
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(")");
        Ok(())
    }
}

/// `column = ANY(ARRAY(<sub-select>))`. The sub-select runs once, as an
/// init plan, and its ids probe the column's index, so that with the
/// topic's index of windows the search is a bitmap OR of two index scans.
/// `column IN (<sub-select>)` under an OR became a filter tried on every
/// row in id order: a term that matched nothing read the whole table
/// (192 ms at 100,000 opportunities; this way 0.6 ms).
#[derive(Debug, Clone, Copy, QueryId)]
struct AnyOf<L, S>(L, S);

fragment!(AnyOf<L, S>: Bool, on L);

impl<L: QueryFragment<Pg>, S: QueryFragment<Pg>> QueryFragment<Pg> for AnyOf<L, S> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" = ANY(ARRAY(");
        self.1.walk_ast(pass.reborrow())?;
        pass.push_sql("))");
        Ok(())
    }
}

/// `column = ANY((ARRAY(<ordered sub-select>))[1:n])`: the column is one of
/// the sub-select's first `n` values. The sub-select has an order and no
/// limit, so its plan reads every match once by whatever index finds them
/// and sorts them, never walking an index in that order past non-matches.
#[derive(Debug, Clone, QueryId)]
struct FirstOf<L, S>(L, S, i32);

fragment!(FirstOf<L, S>: Bool, on L);

impl<L: QueryFragment<Pg>, S: QueryFragment<Pg>> QueryFragment<Pg> for FirstOf<L, S> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" = ANY((ARRAY(");
        self.1.walk_ast(pass.reborrow())?;
        pass.push_sql("))[1:");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.2)?;
        pass.push_sql("])");
        Ok(())
    }
}

/// The `LIKE` pattern of the texts that hold `q`: `%<q>%`, where `%`, `_`
/// and `\` in `q` match themselves.
fn containing(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn keyset<'a>(sort: Sort, after: &After) -> Option<Pred<'a>> {
    let desc = matches!(
        sort,
        Sort::CreatedDesc | Sort::UpdatedDesc | Sort::CloseDateDesc | Sort::RevenueDesc
    );
    Some(match (sort, after) {
        (Sort::CreatedDesc, After::Id(id)) => Box::new(opportunities::id.lt(*id)),
        (Sort::CreatedAsc, After::Id(id)) => Box::new(opportunities::id.gt(*id)),
        (Sort::UpdatedDesc | Sort::UpdatedAsc, After::Time(t, id)) => {
            // (updated_at, id) past the cursor, typed so the statement stays
            // prepared: strictly past in time, or the same time and past in
            // id. The time's bound alone comes first: an index on the time
            // starts at the cursor with it (the `OR` alone is no index
            // condition, and a page deep in the list read every row before).
            let (reach, time, tie): (Pred<'a>, Pred<'a>, Pred<'a>) = if sort == Sort::UpdatedDesc {
                (
                    Box::new(opportunities::updated_at.le(*t)),
                    Box::new(opportunities::updated_at.lt(*t)),
                    Box::new(opportunities::id.lt(*id)),
                )
            } else {
                (
                    Box::new(opportunities::updated_at.ge(*t)),
                    Box::new(opportunities::updated_at.gt(*t)),
                    Box::new(opportunities::id.gt(*id)),
                )
            };
            Box::new(reach.and(time.or(opportunities::updated_at.eq(*t).and(tie))))
        }
        (Sort::CloseDateAsc | Sort::CloseDateDesc, After::Date(d, id)) => Box::new(RowPast {
            key: CloseDateKey,
            value: *d,
            id: *id,
            desc,
        }),
        (Sort::RevenueAsc | Sort::RevenueDesc, After::Amount(a, id)) => Box::new(RowPast {
            key: RevenueKey,
            value: a.clone(),
            id: *id,
            desc,
        }),
        _ => return None,
    })
}

/// `(<key>, opportunities.id) < ($value, $id)` (or `>` ascending): a row
/// past the cursor in a sort by a key expression, as one row comparison,
/// which the key's index takes as its condition.
#[derive(Debug, Clone, QueryId)]
struct RowPast<K, T> {
    key: K,
    value: T,
    id: Uuid,
    desc: bool,
}

fragment!(RowPast<K, T>: Bool, on K);

impl<K, T> QueryFragment<Pg> for RowPast<K, T>
where
    K: Expression + QueryFragment<Pg>,
    K::SqlType: diesel::sql_types::SqlType,
    T: diesel::serialize::ToSql<K::SqlType, Pg>,
    Pg: diesel::sql_types::HasSqlType<K::SqlType>,
{
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("(");
        self.key.walk_ast(pass.reborrow())?;
        pass.push_sql(if self.desc {
            ", opportunities.id) < ("
        } else {
            ", opportunities.id) > ("
        });
        pass.push_bind_param::<K::SqlType, T>(&self.value)?;
        pass.push_sql(", ");
        pass.push_bind_param::<diesel::sql_types::Uuid, _>(&self.id)?;
        pass.push_sql(")");
        Ok(())
    }
}

/// Whether a cursor was made for this sort.
pub fn cursor_fits(sort: Sort, after: &After) -> bool {
    keyset(sort, after).is_some()
}

/// `$q` (a boxed query) in `$sort` order, typed (static SQL), so that the
/// statement is prepared once per connection.
macro_rules! ordered {
    ($q:expr, $sort:expr) => {
        match $sort {
            Sort::CreatedDesc => $q.order(opportunities::id.desc()),
            Sort::CreatedAsc => $q.order(opportunities::id.asc()),
            Sort::UpdatedDesc => {
                $q.order((opportunities::updated_at.desc(), opportunities::id.desc()))
            }
            Sort::UpdatedAsc => {
                $q.order((opportunities::updated_at.asc(), opportunities::id.asc()))
            }
            Sort::CloseDateAsc => $q.order((CloseDateKey.asc(), opportunities::id.asc())),
            Sort::CloseDateDesc => $q.order((CloseDateKey.desc(), opportunities::id.desc())),
            Sort::RevenueDesc => $q.order((RevenueKey.desc(), opportunities::id.desc())),
            Sort::RevenueAsc => $q.order((RevenueKey.asc(), opportunities::id.asc())),
        }
    };
}

/// Whether a page is chosen among the caller's matches gathered first: for
/// a partner user (not an account manager) whose filters name no partner
/// and no owner. Such a list has no index in its order; a partner sees a
/// small part of all opportunities, and a walk of an index of the whole table
/// in the list's order reads about `page × all ÷ visible` rows to find a page
/// (2,300 at 80,000 opportunities for a distributor seeing 1,400; ten
/// times that at ten times the table), and more where its opportunities
/// lie at the far end of that order. Gathered, it reads what the partner may
/// see. With a partner or an owner named, the index of that partner's or
/// owner's opportunities in the list's order gives the page.
fn gathered_first(visibility: &Visibility, filter: &Filter) -> bool {
    matches!(visibility, Visibility::Partner { owner: None, .. })
        && filter.partner_id.is_none()
        && !matches!(
            filter.view,
            Some(View::Distributed | View::Managed | View::Mine)
        )
}

/// How many rows, at most, a search in creation order walks before it
/// gathers its matches through the indexes instead.
pub const SEARCH_WALK_BUDGET: i32 = 5_000;

/// How many of those rows the walk reads first: a term they hold too
/// rarely to meet the page within the budget is gathered at once, without
/// walking the rest. A rare term reads these before it is gathered: at a
/// million opportunities, 1,000 of them were a fifth of its statement.
pub const SEARCH_WALK_FIRST: i32 = 250;

/// A search that walks: a vendor-wide `q` in creation order, with no other
/// filter. A common term is met early in that order, a rare one through the
/// indexes of three-character windows; which one a term is, the walk finds
/// out (see [`WalkOrGather`]). Gives the term, raw.
fn walked_search<'f>(visibility: &Visibility, filter: &'f Filter, sort: Sort) -> Option<&'f str> {
    let q = only_q(filter)?;
    (matches!(visibility, Visibility::All)
        && matches!(sort, Sort::CreatedDesc | Sort::CreatedAsc)
        && filter.q_masked_orgs.is_empty()
        && prm_domain::opportunity::parse_reference(q).is_none())
    .then_some(q)
}

/// The term of a search that filters by nothing else (the names masked for
/// the caller aside, which go with the term).
fn only_q(filter: &Filter) -> Option<&str> {
    let Filter {
        statuses,
        view,
        partner_id,
        customer_id,
        phase,
        q,
        q_masked_orgs: _,
        updated_since,
        closed_since,
        marketing_task_id,
        expires_before,
        external_ref,
    } = filter;
    let only_q = statuses.is_empty()
        && view.is_none()
        && partner_id.is_none()
        && customer_id.is_none()
        && phase.is_none()
        && updated_since.is_none()
        && closed_since.is_none()
        && marketing_task_id.is_none()
        && expires_before.is_none()
        && external_ref.is_none();
    only_q.then_some(q.as_deref()?)
}

/// A vendor-wide search's page, in creation order, found one of two ways
/// in one statement:
///
/// ```text
/// id = ANY((SELECT CASE
///     WHEN <w.a is whole> THEN w.a
///     WHEN cardinality(w.a) * 2 * BUDGET < n * FIRST THEN (ARRAY(<gather>))[1:n]
///     ELSE (SELECT CASE WHEN <v.b is whole> THEN v.b[1:n]
///                       ELSE (ARRAY(<gather>))[1:n] END
///           FROM (SELECT w.a || ARRAY(<walk on past w.a's last>) AS b OFFSET 0) v)
///   END FROM (SELECT ARRAY(<walk>) AS a OFFSET 0) w)::uuid[])
/// ```
///
/// The walk reads rows in the list's order from an index that holds each
/// one's `search_text` (no row is visited), testing each, and stops at the
/// page's `n` matches: first among [`SEARCH_WALK_FIRST`] entries, then, if
/// it met them at a rate that finds at least half the page within
/// [`SEARCH_WALK_BUDGET`] entries in all, on from the last it met. The
/// rows it reads are those holding the term's *mark* where the term has
/// one (a three-character window with a digit or a punctuation mark,
/// `search_walk_mark`; the list of rows holding each mark is
/// `opportunity_marks`, kept by triggers), else every row: each row
/// holding the term holds its mark, so either is every match in order, and
/// a mark's rows are far fewer (`fabrikam 1` at a million: 51 entries for
/// its page, where every row took about 3,700).
/// An answer is whole when it holds the page, or when its walk reached the
/// end of its rows (it then ends in a NULL, which `= ANY` ignores). A term
/// that many rows hold (`fabrikam`) is found in the first hundreds or
/// thousands. Only when the walk comes back short does the gather run (each
/// sub-select runs when first needed, and only then): the indexes of
/// three-character windows find every match of a rare term, few by then,
/// and they are sorted. Either way the page is exactly the first `n`
/// matches: a walk that found `n` found the first `n`, and the two
/// stretches of the walk are consecutive. Gathering a common term's matches
/// read and sorted every one (10,682 rows at a million opportunities for
/// `fabrikam 1`, 38 ms); walking a rare one to the end of the table would
/// read it all.
///
/// The statement is written so that one plan serves every term, and
/// Postgres keeps it: the term reaches each condition as a sub-select
/// (`(SELECT $p)`), which no estimate reads, and the gather has no `LIMIT`
/// (asked for a page with no estimate of the term, the planner walked the
/// primary key backwards, testing every row: a rare term read the whole
/// table). Its plan is then the same for every term, so after its first
/// executions on a connection Postgres runs its generic plan and stops
/// planning it on each call; shown the term, it planned every search anew
/// (about 0.5 ms, as long as running it).
#[derive(Debug, Clone, QueryId)]
struct WalkOrGather {
    term: String,
    pattern: String,
    after: Option<Uuid>,
    desc: bool,
    n: i32,
}

fragment!(WalkOrGather: Bool);

impl WalkOrGather {
    /// Every match in the list's order, through the topic's and the
    /// customers' indexes of windows; the page is the first `n`. The two
    /// are a union, not an `OR`: the customers' side is then an index-only
    /// scan of `opportunities_customer_id`, where a bitmap of both visited
    /// every match's row.
    fn gather<'b>(&'b self, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("(ARRAY(SELECT u.id FROM (SELECT g.id FROM opportunities g WHERE ");
        self.holds(&Named("g.topic"), pass)?;
        self.past("g.id", pass)?;
        pass.push_sql(
            " UNION SELECT g.id FROM opportunities g WHERE g.customer_id = ANY(ARRAY(\
             SELECT m.id FROM customers m WHERE ",
        );
        self.holds(&Named("m.name"), pass)?;
        pass.push_sql("))");
        self.past("g.id", pass)?;
        pass.push_sql(") u ORDER BY u.id");
        pass.push_sql(self.order());
        pass.push_sql("))[1:");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.n)?;
        pass.push_sql("]");
        Ok(())
    }

    /// `<text>` holds the term (see [`Holds`]), the pattern unseen.
    fn holds<'b>(
        &'b self,
        text: &'static Named,
        pass: &mut AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        push_holds(text, &self.term, &self.pattern, Pattern::Unseen, pass)
    }

    /// One stretch of the walk: the matches among the next `entries` rows
    /// in the list's order (a constant, not a bind, so the plan is costed
    /// for it), past the previous page or, `on` from the first stretch,
    /// past the last match it met; at most the page's `n` matches (walked
    /// on, only those the first stretch lacks).
    ///
    /// The rows are those holding the term's mark (migration search_marks)
    /// where it has one, else every row: two sources, each in the list's
    /// order, of which the other's condition is false before it reads an
    /// entry. Each holds its row's `search_text` in its index, so no row is
    /// visited. A stretch that reaches the end of its rows before `entries`
    /// ends in a NULL: its matches are then every match left. The stretch
    /// keeps its source's order, as the walk always has kept its
    /// sub-select's: a plain `Append` reads its branches in turn, and a
    /// stretch of a few thousand entries is far below the cost of a
    /// parallel plan. `list_plans` compares every page, in generic and
    /// custom plans, with a test of every row.
    fn walk<'b>(
        &'b self,
        entries: i32,
        on: bool,
        pass: &mut AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        pass.push_sql(
            "ARRAY(SELECT x.id FROM (SELECT y.id, y.search_text FROM (\
             (SELECT s.opportunity_id AS id, s.search_text FROM opportunity_marks s \
             WHERE s.mark = ",
        );
        self.mark(pass)?;
        self.stretch("s.opportunity_id", entries, on, pass)?;
        pass.push_sql(") UNION ALL (SELECT s.id, s.search_text FROM opportunities s WHERE ");
        self.mark(pass)?;
        pass.push_sql(" IS NULL");
        self.stretch("s.id", entries, on, pass)?;
        pass.push_sql(") UNION ALL SELECT NULL, NULL) y LIMIT ");
        pass.push_sql(&entries.to_string());
        pass.push_sql(") x WHERE x.id IS NULL OR ");
        push_folded_holds(&Named("x.search_text"), &self.term, pass)?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.n)?;
        if on {
            // Only what the first stretch lacks: walked on for a whole
            // page, a common term read on past the matches it needed
            // (`fabrikam 1` at a million, every row walked after a first
            // stretch of 1,000: 4,000 entries where 2,705 held the page).
            pass.push_sql(" - cardinality(w.a)");
        }
        pass.push_sql(")");
        Ok(())
    }

    /// `<a>` is a whole answer: a page of matches, or a walk that reached
    /// the end of its rows (its NULL).
    fn done<'b>(&'b self, a: &'static str, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("cardinality(");
        pass.push_sql(a);
        pass.push_sql(") >= ");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.n)?;
        pass.push_sql(" OR array_position(");
        pass.push_sql(a);
        pass.push_sql(", NULL) IS NOT NULL");
        Ok(())
    }

    /// `(SELECT search_walk_mark(lower(<term>)))`: the mark whose rows the
    /// walk reads, or NULL for a term with none.
    fn mark<'b>(&'b self, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("(SELECT search_walk_mark(lower(");
        pass.push_bind_param::<diesel::sql_types::Text, _>(&self.term)?;
        pass.push_sql(")))");
        Ok(())
    }

    /// The rest of one source's stretch, its id named `id`: past the
    /// previous page (or, `on` from the first stretch, past the last match
    /// it met), in the list's order, `entries` of them (a constant, not a
    /// bind, so the plan is costed for it).
    fn stretch<'b>(
        &'b self,
        id: &'static str,
        entries: i32,
        on: bool,
        pass: &mut AstPass<'_, 'b, Pg>,
    ) -> QueryResult<()> {
        if on {
            pass.push_sql(" AND ");
            pass.push_sql(id);
            pass.push_sql(if self.desc { " < " } else { " > " });
            pass.push_sql("w.a[cardinality(w.a)]");
        } else {
            self.past(id, pass)?;
        }
        pass.push_sql(" ORDER BY ");
        pass.push_sql(id);
        pass.push_sql(self.order());
        pass.push_sql(" LIMIT ");
        pass.push_sql(&entries.to_string());
        Ok(())
    }

    /// ` AND <id> < after` (or `>`), past the previous page.
    fn past<'b>(&'b self, id: &'static str, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if let Some(after) = &self.after {
            pass.push_sql(" AND ");
            pass.push_sql(id);
            pass.push_sql(if self.desc { " < " } else { " > " });
            pass.push_bind_param::<diesel::sql_types::Uuid, _>(after)?;
        }
        Ok(())
    }

    fn order(&self) -> &'static str {
        if self.desc { " DESC" } else { " ASC" }
    }
}

impl QueryFragment<Pg> for WalkOrGather {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        opportunities::id.walk_ast(pass.reborrow())?;
        pass.push_sql(" = ANY((SELECT CASE WHEN ");
        self.done("w.a", &mut pass)?;
        pass.push_sql(" THEN w.a WHEN cardinality(w.a) * ");
        // Walked on unless the first stretch met the page's matches at a
        // rate that finds not even half of them within the budget: such a
        // term would walk the budget and be gathered after all. (Walking
        // on costs at most the budget's entries; gathering a common term
        // sorts every match, so a rate near the page's is walked on.)
        pass.push_sql(&(2 * SEARCH_WALK_BUDGET).to_string());
        pass.push_sql(" < ");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.n)?;
        pass.push_sql(" * ");
        pass.push_sql(&SEARCH_WALK_FIRST.to_string());
        pass.push_sql(" THEN ");
        self.gather(&mut pass)?;
        pass.push_sql(" ELSE (SELECT CASE WHEN ");
        self.done("v.b", &mut pass)?;
        pass.push_sql(" THEN v.b[1:");
        pass.push_bind_param::<diesel::sql_types::Integer, _>(&self.n)?;
        pass.push_sql("] ELSE ");
        self.gather(&mut pass)?;
        pass.push_sql(" END FROM (SELECT w.a || ");
        self.walk(SEARCH_WALK_BUDGET - SEARCH_WALK_FIRST, true, &mut pass)?;
        // `OFFSET 0` keeps `v` and `w` sub-queries of their own: pulled up,
        // an array was planned once for each place that names it, and a
        // term the walk found was walked for twice.
        pass.push_sql(" AS b OFFSET 0) v) END FROM (SELECT ");
        self.walk(SEARCH_WALK_FIRST, false, &mut pass)?;
        pass.push_sql(" AS a OFFSET 0) w)::uuid[])");
        Ok(())
    }
}

/// The statement of one list page: opportunities (their customers' names
/// and orgs are their own columns) selected as [`OpportunityView`]s,
/// filtered, sorted and limited.
pub type PageQuery<'a> = diesel::dsl::Limit<
    diesel::dsl::IntoBoxed<
        'a,
        diesel::dsl::Select<opportunities::table, crate::opportunities::ViewSelection>,
        Pg,
    >,
>;

/// The rows a list page asks for: whose, which, in what order, from where.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'r> {
    pub visibility: &'r Visibility,
    pub me: Me,
    pub filter: &'r Filter,
    pub sort: Sort,
    pub after: Option<&'r After>,
    /// Rows to fetch (a page and one more).
    pub limit: i64,
}

/// What a page's statement needs read before it is built: the sync horizon
/// when `updated_since` is given ([`sync_horizon`]), else nothing.
pub fn page_horizon(
    conn: &mut PgConnection,
    filter: &Filter,
) -> QueryResult<Option<DateTime<Utc>>> {
    match filter.updated_since {
        Some(_) => sync_horizon(conn).map(Some),
        None => Ok(None),
    }
}

/// The one statement [`list`] sends for `request` (with `horizon` from
/// [`page_horizon`]); built here alone, so that what is measured or
/// explained is what is sent.
pub fn page_query<'a>(request: &PageRequest<'_>, horizon: Option<DateTime<Utc>>) -> PageQuery<'a> {
    let PageRequest {
        visibility,
        me,
        filter,
        sort,
        after,
        limit,
    } = *request;
    let mut p = predicate(visibility, me, filter);
    if let Some(after) = after
        && let Some(k) = keyset(sort, after)
    {
        p = and(p, k);
    }
    if let Some(horizon) = horizon {
        p = and(p, Box::new(opportunities::updated_at.lt(horizon)));
    }
    // The page's ids are chosen first, reading nothing else, and only the
    // page is read whole: its rows fetched, its registrations looked up.
    // Read at once, a plan that gathered the matches and sorted them (a
    // selective filter, or an order no index gives) read every match whole
    // first, and, while customers were joined, hash-joined all of them when
    // it expected many. A partner's list by `-updated_at` served 2.5 to 3.5
    // times the statements per second this way; the managed list, which an
    // index gives in order, about a sixth fewer (docs/performance.md).
    let ids = ordered!(
        opportunities::table
            .filter(p)
            .select(opportunities::id)
            .into_boxed(),
        sort
    );
    let q = opportunities::table
        .select(view_columns_for(Some(OrgId(me.org))))
        .into_boxed();
    let q = if let Some(term) = walked_search(visibility, filter, sort) {
        q.filter(WalkOrGather {
            term: term.to_owned(),
            pattern: containing(term),
            after: match after {
                Some(After::Id(id)) => Some(*id),
                _ => None,
            },
            desc: sort == Sort::CreatedDesc,
            n: i32::try_from(limit).unwrap_or(i32::MAX),
        })
    } else if gathered_first(visibility, filter) {
        // All the matches in order, and the first of them: asked for no
        // page, the plan gathers the matches (a bitmap of the visibility's
        // indexes) and sorts them; it cannot walk an index of the whole
        // table in the list's order, testing every row it passes.
        q.filter(FirstOf(
            opportunities::id,
            ids,
            i32::try_from(limit).unwrap_or(i32::MAX),
        ))
    } else {
        q.filter(AnyOf(opportunities::id, ids.limit(limit)))
    };
    ordered!(q, sort).limit(limit)
}

/// One page (plus one row, to tell whether more follow) of what the caller
/// may see, filtered and sorted, with customer names and collaborators.
pub fn list(
    conn: &mut PgConnection,
    request: &PageRequest<'_>,
) -> QueryResult<Vec<OpportunityView>> {
    let horizon = page_horizon(conn, request.filter)?;
    let query = page_query(request, horizon);
    let limit = request.limit;
    match (walked_shape(request), partner_search_shape(request)) {
        (Some((true, false)), _) => keyed_page::<Walked<true, false>>(conn, query, limit),
        (Some((true, true)), _) => keyed_page::<Walked<true, true>>(conn, query, limit),
        (Some((false, false)), _) => keyed_page::<Walked<false, false>>(conn, query, limit),
        (Some((false, true)), _) => keyed_page::<Walked<false, true>>(conn, query, limit),
        (_, Some((false, false, false))) => {
            keyed_page::<Sought<false, false, false>>(conn, query, limit)
        }
        (_, Some((false, false, true))) => {
            keyed_page::<Sought<false, false, true>>(conn, query, limit)
        }
        (_, Some((false, true, false))) => {
            keyed_page::<Sought<false, true, false>>(conn, query, limit)
        }
        (_, Some((false, true, true))) => {
            keyed_page::<Sought<false, true, true>>(conn, query, limit)
        }
        (_, Some((true, false, false))) => {
            keyed_page::<Sought<true, false, false>>(conn, query, limit)
        }
        (_, Some((true, false, true))) => {
            keyed_page::<Sought<true, false, true>>(conn, query, limit)
        }
        (_, Some((true, true, false))) => {
            keyed_page::<Sought<true, true, false>>(conn, query, limit)
        }
        (_, Some((true, true, true))) => keyed_page::<Sought<true, true, true>>(conn, query, limit),
        (None, None) => collect_page(conn, query, limit),
    }
}

/// A page whose statement is kept prepared under `K`, a key its text is
/// fixed by ([`Walked`], [`Sought`]).
fn keyed_page<K: 'static>(
    conn: &mut PgConnection,
    query: PageQuery<'_>,
    limit: i64,
) -> QueryResult<Vec<OpportunityView>> {
    collect_page(conn, Keyed::<_, K>::new(query), limit)
}

/// Collected into a page-sized vector: `load` grows one row by row, and
/// moving the rows at each doubling cost 2 % of a page's instructions.
fn collect_page<'q, Q>(
    conn: &mut PgConnection,
    query: Q,
    limit: i64,
) -> QueryResult<Vec<OpportunityView>>
where
    Q: RunQueryDsl<PgConnection>
        + diesel::query_dsl::LoadQuery<
            'q,
            PgConnection,
            OpportunityView,
            diesel::connection::DefaultLoadingMode,
        > + 'q,
{
    let mut page = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    for view in query.load_iter::<OpportunityView, diesel::connection::DefaultLoadingMode>(conn)? {
        page.push(view?);
    }
    Ok(page)
}

/// The walked search's statement ([`WalkOrGather`]) has four texts: its
/// order, and whether it starts past a cursor. Everything else it takes
/// (the term, the page's size, the cursor, the caller's org) is bound. So
/// its text is keyed by those two in Diesel's cache of prepared statements
/// ([`Keyed`]) instead of by the text itself, which Diesel otherwise builds
/// and hashes on every call to find the statement: about a fifth of a
/// search's own instructions. `None` for every other list.
fn walked_shape(request: &PageRequest<'_>) -> Option<(bool, bool)> {
    walked_search(request.visibility, request.filter, request.sort)?;
    Some((
        request.sort == Sort::CreatedDesc,
        past_an_id(request.after)?,
    ))
}

/// Whether a page in creation order starts past a cursor: `None` for a
/// cursor of another order, which a keyed search's text has no place for.
fn past_an_id(after: Option<&After>) -> Option<bool> {
    match after {
        None => Some(false),
        Some(After::Id(_)) => Some(true),
        Some(_) => None,
    }
}

/// The key of a walked search's text: descending or not, past a cursor or
/// not (see [`walked_shape`]).
struct Walked<const DESC: bool, const AFTER: bool>;

/// A partner's search by `q` alone, newest first (a search box's first
/// page and the pages after it), has eight texts: whether an owner bounds
/// the caller's visibility (an account manager's), whether names are masked
/// for it (then only the topic may hold the term for those customers), and
/// whether it starts past a cursor. Everything else it takes (its orgs, the
/// term, the masked orgs, the page's size, the cursor) is bound. So it is
/// kept under a key of those three ([`Keyed`]), as the walked search is:
/// built and hashed on every call, its text was about a fifth of the
/// request's own instructions (docs/performance.md). `None` for any other
/// list, and for a term that reads as a reference (`OPP-12`), which adds a
/// condition.
fn partner_search_shape(request: &PageRequest<'_>) -> Option<(bool, bool, bool)> {
    let Visibility::Partner { owner, .. } = request.visibility else {
        return None;
    };
    let q = only_q(request.filter)?;
    if request.sort != Sort::CreatedDesc || prm_domain::opportunity::parse_reference(q).is_some() {
        return None;
    }
    Some((
        owner.is_some(),
        !request.filter.q_masked_orgs.is_empty(),
        past_an_id(request.after)?,
    ))
}

/// The key of a partner's search's text: with an owner or not, with names
/// masked or not, past a cursor or not (see [`partner_search_shape`]).
struct Sought<const OWNER: bool, const MASKED: bool, const AFTER: bool>;

/// The instant before which every change to a row has committed, for
/// `updated_since` (API.md: a client that polls with the largest
/// `updated_at` it has seen misses no change). A row's `updated_at` is its
/// transaction's start, and a transaction can commit long after it started:
/// so rows changed at or after the start of the oldest transaction still
/// open are held back until it ends. Read in a statement of its own before
/// the list's, whose snapshot then holds everything that started earlier.
/// The margin covers the moment between a transaction's start time being
/// fixed and its showing in `pg_stat_activity`.
pub fn sync_horizon(conn: &mut PgConnection) -> QueryResult<DateTime<Utc>> {
    #[derive(QueryableByName)]
    struct Horizon {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        horizon: DateTime<Utc>,
    }
    crate::prepared!(
        "SELECT least(min(xact_start), clock_timestamp()) - interval '200 milliseconds' AS horizon
         FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend' AND xact_start IS NOT NULL",
    )
    .get_result::<Horizon>(conn)
    .map(|h| h.horizon)
}

/// How many opportunities a list with these filters holds.
pub fn count(
    conn: &mut PgConnection,
    visibility: &Visibility,
    me: Me,
    filter: &Filter,
) -> QueryResult<i64> {
    opportunities::table
        .filter(predicate(visibility, me, filter))
        .count()
        .get_result(conn)
}

/// A partner dashboard's counts, in one pass over what the org may see.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct PartnerSummary {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub distributed: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub next_deadline: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub managed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub qualify: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub develop: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub propose: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub negotiate: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub commit: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub collaborating: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub expiring: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub won: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub lost: i64,
    /// The offers' estimated value per currency: currencies in order…
    #[diesel(
        sql_type = diesel::sql_types::Array<diesel::sql_types::Text>,
        deserialize_as = crate::stored::Texts<prm_domain::values::CurrencyCode>
    )]
    pub offer_currencies: Vec<prm_domain::values::CurrencyCode>,
    /// …and the sum for each.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Numeric>)]
    pub offer_values: Vec<BigDecimal>,
    /// The deal registrations of the caller's org scope: each status that
    /// has any, in order…
    #[diesel(
        sql_type = diesel::sql_types::Array<diesel::sql_types::Text>,
        deserialize_as = crate::stored::Texts<prm_domain::deal::RegStatus>
    )]
    pub registration_statuses: Vec<prm_domain::deal::RegStatus>,
    /// …and how many have it.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::BigInt>)]
    pub registration_counts: Vec<i64>,
}

impl PartnerSummary {
    /// The deal registrations by status (only statuses that have any).
    pub fn registrations(&self) -> impl Iterator<Item = (prm_domain::deal::RegStatus, i64)> + '_ {
        self.registration_statuses
            .iter()
            .copied()
            .zip(self.registration_counts.iter().copied())
    }
}

/// The dashboard's statement ([`partner_summary`]).
///
/// Every figure but `collaborating` counts opportunities whose primary
/// partner is the caller's org. For those the visibility rule reduces
/// to "offered (live status), or created by the caller's org scope",
/// and the covering index `opportunities_primary` holds every column
/// used, so they are counted without visiting the table. Collaborating
/// ones are live (accepted), hence visible through the collaboration.
///
/// The deal registrations by status ride along (`regs`, over the org
/// scope `$6`, which for an account manager is wider than its
/// visibility): one round trip for the whole dashboard instead of two.
///
/// The caller's org, scope and user reach the statement as
/// sub-selects, and the live statuses as constant SQL (a test holds
/// them to the domain's list), for the reason lists do (`IsValue`):
/// shown the values, Postgres planned the statement on every call
/// (0.14 ms of planning against 0.25 ms of running at a million
/// opportunities); blind to them, every plan costs the same and the
/// connection keeps one.
pub const PARTNER_SUMMARY: &str = "WITH mine AS (
           SELECT o.status, o.accept_by, o.pipeline_phase, o.expires_on, o.closed_at,
                  o.currency, o.estimated_revenue
           FROM opportunities o
           WHERE o.primary_partner_id = (SELECT $1::uuid)
             AND (o.status IN ('delivered', 'accepted', 'won', 'lost')
                  OR (o.origin = 'partner' AND o.owner_org_id = ANY((SELECT $2::uuid[])::uuid[])))
             AND ((SELECT $3::uuid) IS NULL OR o.owner_user_id = (SELECT $3::uuid))),
         offered AS (
           SELECT currency, sum(estimated_revenue) AS value FROM mine
           WHERE status = 'delivered' AND currency IS NOT NULL GROUP BY currency),
         regs AS (
           SELECT r.status, count(*) AS n FROM deal_registrations r
           WHERE r.org_id = ANY((SELECT $6::uuid[])::uuid[]) GROUP BY r.status)
         SELECT
           count(*) FILTER (WHERE status = 'delivered') AS distributed,
           min(accept_by) FILTER (WHERE status = 'delivered') AS next_deadline,
           count(*) FILTER (WHERE status = 'accepted') AS managed,
           count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'qualify') AS qualify,
           count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'develop') AS develop,
           count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'propose') AS propose,
           count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'negotiate') AS negotiate,
           count(*) FILTER (WHERE status = 'accepted' AND pipeline_phase = 'commit') AS commit,
           (SELECT count(*) FROM opportunity_collaborators oc
              JOIN opportunities o ON o.id = oc.opportunity_id
             WHERE oc.org_id = (SELECT $1::uuid) AND o.status = 'accepted'
               AND ((SELECT $3::uuid) IS NULL OR o.owner_user_id = (SELECT $3::uuid))) AS collaborating,
           count(*) FILTER (WHERE status = 'accepted' AND expires_on <= $4) AS expiring,
           count(*) FILTER (WHERE status = 'won' AND closed_at >= $5) AS won,
           count(*) FILTER (WHERE status = 'lost' AND closed_at >= $5) AS lost,
           ARRAY(SELECT currency FROM offered ORDER BY currency) AS offer_currencies,
           ARRAY(SELECT value FROM offered ORDER BY currency) AS offer_values,
           ARRAY(SELECT status FROM regs ORDER BY status) AS registration_statuses,
           ARRAY(SELECT n FROM regs ORDER BY status) AS registration_counts
         FROM mine";

/// The dashboard's counts as one statement: each figure is the count of the
/// list view it stands for (`view=distributed`, `view=managed` by phase,
/// `view=collaborating&status=accepted`, `expires_before`, won and lost with
/// `closed_since`), all within the caller's visibility — the rule rendered
/// here is the one `visible` renders for lists, and a test compares them.
/// The deal registrations are those of `registrations_of` (the org scope).
pub fn partner_summary(
    conn: &mut PgConnection,
    visibility: &Visibility,
    me: Me,
    registrations_of: &[Uuid],
    expiring_by: NaiveDate,
    closed_since: DateTime<Utc>,
) -> QueryResult<PartnerSummary> {
    let Visibility::Partner { orgs, owner } = visibility else {
        return Ok(PartnerSummary::default());
    };
    let orgs: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
    crate::prepared!(PARTNER_SUMMARY)
        .bind(me.org)
        .bind(orgs)
        .bind(owner.map(|o| o.0))
        .bind(expiring_by)
        .bind(closed_since)
        .bind(registrations_of.to_vec())
        .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walked search's text depends on its order and on a cursor's
    /// presence alone, the keys it is kept prepared under: every other
    /// input is bound. Another list is not keyed.
    #[test]
    fn a_walked_searchs_text_is_fixed_by_its_key() {
        let shape_and_text =
            |filter: &Filter, sort: Sort, after: Option<After>, limit: i64, org: u128| {
                let request = PageRequest {
                    visibility: &Visibility::All,
                    me: Me {
                        org: Uuid::from_u128(org),
                        user: Uuid::from_u128(org + 1),
                    },
                    filter,
                    sort,
                    after: after.as_ref(),
                    limit,
                };
                let shape = walked_shape(&request);
                let rendered =
                    diesel::debug_query::<Pg, _>(&page_query(&request, None)).to_string();
                let sql = rendered.split(" -- binds: ").next().unwrap().to_owned();
                (shape, sql)
            };
        let text = |q: &str, sort: Sort, after: Option<After>, limit: i64, org: u128| {
            let filter = Filter {
                q: Some(q.to_owned()),
                ..Filter::default()
            };
            shape_and_text(&filter, sort, after, limit, org)
        };
        let cursor = |n| Some(After::Id(Uuid::from_u128(n)));
        let mut seen: Vec<(Option<(bool, bool)>, String)> = Vec::new();
        for sort in [Sort::CreatedDesc, Sort::CreatedAsc] {
            for after in [None, cursor(5)] {
                let (shape, first) = text("fabrikam", sort, after.clone(), 51, 1);
                let desc = sort == Sort::CreatedDesc;
                assert_eq!(shape, Some((desc, after.is_some())));
                for (q, limit, org) in [("12-3", 11, 7), ("o'brien %_", 101, 9)] {
                    let after = after.as_ref().map(|_| cursor(77).unwrap());
                    assert_eq!(text(q, sort, after, limit, org), (shape, first.clone()));
                }
                assert!(seen.iter().all(|(_, other)| *other != first));
                seen.push((shape, first));
            }
        }
        // Another order, or a filter beside the term: keyed by its text.
        assert_eq!(text("fabrikam", Sort::UpdatedDesc, None, 51, 1).0, None);
        let filter = Filter {
            q: Some("fabrikam".to_owned()),
            statuses: vec![Status::Accepted],
            ..Filter::default()
        };
        assert_eq!(
            shape_and_text(&filter, Sort::CreatedDesc, None, 51, 1).0,
            None
        );
    }

    /// A partner's search by `q` alone, newest first, has a text fixed by
    /// its three keys (an owner, masked names, a cursor): its orgs however
    /// many, the term, the masked orgs, the page's size and the cursor are
    /// bound. The eight shapes have eight texts; any other list of a
    /// partner's, and a term that reads as a reference, are not keyed.
    #[test]
    fn a_partners_searchs_text_is_fixed_by_its_key() {
        let shape_and_text = |orgs: &[u128],
                              owner: Option<u128>,
                              filter: &Filter,
                              sort: Sort,
                              after: Option<After>,
                              limit: i64| {
            let visibility = Visibility::Partner {
                orgs: orgs.iter().map(|o| OrgId(Uuid::from_u128(*o))).collect(),
                owner: owner.map(|u| prm_domain::ids::UserId(Uuid::from_u128(u))),
            };
            let request = PageRequest {
                visibility: &visibility,
                me: Me {
                    org: Uuid::from_u128(orgs[0]),
                    user: Uuid::from_u128(owner.unwrap_or(99)),
                },
                filter,
                sort,
                after: after.as_ref(),
                limit,
            };
            let shape = partner_search_shape(&request);
            assert_eq!(walked_shape(&request), None);
            let rendered = diesel::debug_query::<Pg, _>(&page_query(&request, None)).to_string();
            let sql = rendered.split(" -- binds: ").next().unwrap().to_owned();
            (shape, sql)
        };
        let search = |q: &str, masked: &[u128]| Filter {
            q: Some(q.to_owned()),
            q_masked_orgs: masked.iter().map(|o| Uuid::from_u128(*o)).collect(),
            ..Filter::default()
        };
        let cursor = |n| Some(After::Id(Uuid::from_u128(n)));
        let mut seen: Vec<String> = Vec::new();
        for owner in [None, Some(41)] {
            for masked in [&[][..], &[3][..]] {
                for after in [None, cursor(5)] {
                    let (shape, first) = shape_and_text(
                        &[1],
                        owner,
                        &search("fabrikam", masked),
                        Sort::CreatedDesc,
                        after.clone(),
                        51,
                    );
                    assert_eq!(
                        shape,
                        Some((owner.is_some(), !masked.is_empty(), after.is_some()))
                    );
                    // Other orgs, term, masked orgs, size, cursor and owner.
                    let others: &[u128] = if masked.is_empty() { &[] } else { &[8, 9, 10] };
                    let again = shape_and_text(
                        &[2, 3, 4, 5],
                        owner.map(|u| u + 1),
                        &search("o'brien 0-12 %_", others),
                        Sort::CreatedDesc,
                        after.as_ref().map(|_| cursor(77).unwrap()),
                        7,
                    );
                    assert_eq!(again, (shape, first.clone()));
                    assert!(!seen.contains(&first), "two shapes share a text");
                    seen.push(first);
                }
            }
        }
        // Another order, another filter, or a reference: keyed by its text.
        let not_keyed =
            |filter: &Filter, sort: Sort| shape_and_text(&[1], None, filter, sort, None, 51).0;
        assert_eq!(not_keyed(&search("fabrikam", &[]), Sort::CreatedAsc), None);
        assert_eq!(not_keyed(&search("OPP-12", &[]), Sort::CreatedDesc), None);
        let filtered = Filter {
            statuses: vec![Status::Accepted],
            ..search("fabrikam", &[])
        };
        assert_eq!(not_keyed(&filtered, Sort::CreatedDesc), None);
        let no_term = Filter::default();
        assert_eq!(not_keyed(&no_term, Sort::CreatedDesc), None);
    }

    #[test]
    fn a_live_offer_in_sql_is_the_domains() {
        let sql = diesel::debug_query::<Pg, _>(
            &opportunities::table
                .filter(LiveOffer)
                .select(opportunities::id),
        )
        .to_string();
        let listed = live_statuses()
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            sql.contains(&format!("opportunities.status IN ({listed})")),
            "{sql} lists other statuses than {listed}"
        );
    }

    #[test]
    fn the_dashboards_live_offers_are_the_domains() {
        let listed = live_statuses()
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            PARTNER_SUMMARY.contains(&format!("o.status IN ({listed})")),
            "{PARTNER_SUMMARY} lists other live statuses than {listed}"
        );
    }

    #[test]
    fn the_walk_budget_the_statement_spells_is_the_documented_one() {
        let walk = WalkOrGather {
            term: "term".to_owned(),
            pattern: "%term%".to_owned(),
            after: None,
            desc: true,
            n: 51,
        };
        let sql = diesel::debug_query::<Pg, _>(
            &opportunities::table.filter(walk).select(opportunities::id),
        )
        .to_string();
        // The first stretch, then the rest of the budget after it, from
        // either source (a mark's rows, every row), each ending in its NULL.
        let first = SEARCH_WALK_FIRST;
        let rest = SEARCH_WALK_BUDGET - SEARCH_WALK_FIRST;
        for id in ["s.opportunity_id", "s.id"] {
            assert!(
                sql.contains(&format!("ORDER BY {id} DESC LIMIT {first})")),
                "{sql}"
            );
            assert!(
                sql.contains(&format!(
                    "{id} < w.a[cardinality(w.a)] ORDER BY {id} DESC LIMIT {rest})"
                )),
                "{sql}"
            );
        }
        for entries in [first, rest] {
            assert!(
                sql.contains(&format!(
                    "UNION ALL SELECT NULL, NULL) y LIMIT {entries}) x"
                )),
                "{sql}"
            );
        }
        // Walked on unless its rate meets under half the page within the
        // budget.
        assert!(
            sql.contains(&format!(
                "WHEN cardinality(w.a) * {} < $",
                2 * SEARCH_WALK_BUDGET
            )),
            "{sql}"
        );
        assert!(sql.contains(&format!(" * {first} THEN ")), "{sql}");
        // Walked on, it asks only for the matches the first stretch lacks.
        assert!(sql.contains(" - cardinality(w.a)) AS b"), "{sql}");
    }
}
