//! Opportunities: rows, forms, visibility-filtered queries and status events.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::row::{Field, Row};
use prm_domain::ids::{CustomerId, OpportunityId, OrgId, UserId};
use prm_domain::opportunity::{OpportunityFacts, Origin, Phase, Status};
use prm_domain::reason::ReasonCode;
use prm_domain::values::{CurrencyCode, Money};
use uuid::Uuid;

use crate::external_refs::OpportunityRefOf;
use crate::schema::{opportunities, opportunity_collaborators};
use crate::stored::{Key, Text};

/// Declares a struct of `$table`'s columns, one field per column of the same
/// name, with its reader by position (see [`Columns`]): the field list is
/// written once for the row, its Diesel derives and the optimised view
/// reader. `field: T as M` is stored through the mapping `M` (see
/// `stored.rs`); an `#[embed]`ded struct's columns come after the struct's
/// own. `edited as E` also declares `E`, a change to the struct: the same
/// fields, each `None` to leave it alone.
macro_rules! columns_struct {
    (@stored $ty:ty) => { $ty };
    (@stored $ty:ty as $stored:ty) => { $stored };
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $table:ident, edited as $edit:ident {
            $( $(#[doc = $doc:literal])* pub $field:ident: $ty:ty $(as $stored:ty)?, )*
        }
    ) => {
        columns_struct! {
            $(#[$meta])*
            pub struct $name in $table {
                $( $(#[doc = $doc])* pub $field: $ty $(as $stored)?, )*
            }
        }

        #[doc = concat!("A change to a [`", stringify!($name), "`]: `None` leaves a field as it is.")]
        #[derive(Debug, Clone, Default)]
        pub struct $edit {
            $( $(#[doc = $doc])* pub $field: Option<$ty>, )*
        }

        impl $edit {
            /// Makes the changes to `to`.
            pub fn apply(self, to: &mut $name) {
                $( if let Some(v) = self.$field { to.$field = v; } )*
            }

            /// The columns the change sets, in declaration order.
            pub fn columns(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push(stringify!($field)); } )*
                out
            }
        }

        impl $name {
            /// The fields that differ in `after`, in declaration order, each
            /// with its old and new value as JSON.
            pub fn changes(&self, after: &Self) -> Vec<(&'static str, serde_json::Value, serde_json::Value)> {
                let mut out = Vec::new();
                $(
                    if self.$field != after.$field {
                        out.push((stringify!($field), to_json(&self.$field), to_json(&after.$field)));
                    }
                )*
                out
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $table:ident {
            $( $(#[doc = $doc:literal])* pub $field:ident: $ty:ty $(as $stored:ty)?, )*
            $( #[embed] pub $embed:ident: $embedded:ty, )?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[doc = $doc])*
                $(#[diesel(deserialize_as = $stored, serialize_as = $stored)])?
                pub $field: $ty,
            )*
            $( #[diesel(embed)] pub $embed: $embedded, )?
        }

        impl $name {
            /// Reads the struct from the next columns of `c`.
            fn read<'a, R: Row<'a, Pg>>(c: &mut Columns<'_, R>) -> deserialize::Result<Self> {
                Ok(Self {
                    $( $field: stored(c.next::<_, columns_struct!(@stored $ty $(as $stored)?)>($table::$field)?), )*
                    $( $embed: <$embedded>::read(c)?, )?
                })
            }
        }
    };
}

/// A field's value as JSON, for the field history.
fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A stored value as the field it is read into.
fn stored<M: Into<T>, T>(m: M) -> T {
    m.into()
}

columns_struct! {
    /// What a user writes of an opportunity, its description: read, inserted
    /// and updated as one.
    #[derive(Debug, Clone, Default, Queryable, Selectable, Insertable, AsChangeset)]
    // `None` is written as NULL, by an insert as by an update (see
    // `crate::prepared`).
    #[diesel(table_name = opportunities, check_for_backend(diesel::pg::Pg), treat_none_as_null = true, treat_none_as_default_value = false)]
    pub struct Details in opportunities, edited as DetailsEdit {
        pub topic: String,
        pub contact_name: Option<String>,
        pub contact_email: Option<String>,
        pub contact_phone: Option<String>,
        pub contact_title: Option<String>,
        /// Of the estimated and the actual revenue.
        pub currency: Option<CurrencyCode> as Text<Option<CurrencyCode>>,
        pub estimated_revenue: Option<BigDecimal>,
        pub expected_close_date: Option<NaiveDate>,
        pub customer_situation: Option<String>,
        pub customer_need: Option<String>,
        pub proposed_solution: Option<String>,
        pub country: Option<String>,
        pub industry: Option<String>,
        pub product_lines: Vec<String>,
        pub marketing_task_id: Option<Uuid>,
    }
}

columns_struct! {
    /// An opportunity: its lifecycle columns, then its description.
    #[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
    #[diesel(table_name = opportunities, check_for_backend(diesel::pg::Pg))]
    pub struct Opportunity in opportunities {
        pub id: OpportunityId as Uuid,
        pub reference_no: i64,
        pub customer_id: CustomerId as Uuid,
        pub origin: Origin as Text<Origin>,
        pub status: Status as Text<Status>,
        pub owner_org_id: OrgId as Uuid,
        pub owner_user_id: UserId as Uuid,
        pub primary_partner_id: Option<OrgId> as Key<Option<OrgId>>,
        pub pipeline_phase: Option<Phase> as Text<Option<Phase>>,
        pub win_probability: Option<i16>,
        pub accept_by: Option<DateTime<Utc>>,
        pub expires_on: Option<NaiveDate>,
        pub extension_count: i32,
        pub close_reason: Option<String>,
        /// A loss's reason code.
        pub close_reason_code: Option<ReasonCode> as Text<Option<ReasonCode>>,
        pub actual_revenue: Option<BigDecimal>,
        pub closed_at: Option<DateTime<Utc>>,
        pub version: i32,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        pub created_by_user_id: UserId as Uuid,
        /// Automatic assignments so far, for the re-assignment limit.
        pub auto_assignments: i32,
        #[embed]
        pub details: Details,
    }
}

impl Details {
    /// Sets the estimated revenue and with it the currency.
    pub fn set_estimated_money(&mut self, money: Option<Money>) {
        self.currency = money.as_ref().map(Money::currency);
        self.estimated_revenue = money.map(|m| m.amount().clone());
    }
}

impl DetailsEdit {
    /// Changes the estimated revenue and with it the currency.
    pub fn set_estimated_money(&mut self, money: Option<Money>) {
        self.currency = Some(money.as_ref().map(Money::currency));
        self.estimated_revenue = Some(money.map(|m| m.amount().clone()));
    }
}

/// A new opportunity: who holds it and in which state it starts, and its
/// description.
#[derive(Debug, Insertable)]
#[diesel(table_name = opportunities, treat_none_as_default_value = false)]
pub struct NewOpportunity {
    #[diesel(serialize_as = Uuid)]
    pub id: OpportunityId,
    #[diesel(serialize_as = Uuid)]
    pub customer_id: CustomerId,
    #[diesel(serialize_as = Text<Origin>)]
    pub origin: Origin,
    #[diesel(serialize_as = Text<Status>)]
    pub status: Status,
    #[diesel(serialize_as = Uuid)]
    pub owner_org_id: OrgId,
    #[diesel(serialize_as = Uuid)]
    pub owner_user_id: UserId,
    #[diesel(serialize_as = Uuid)]
    pub created_by_user_id: UserId,
    #[diesel(embed)]
    pub details: Details,
}

/// A change of lifecycle state. Outer `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = opportunities)]
pub struct StateChanges {
    #[diesel(serialize_as = Text<Status>)]
    pub status: Option<Status>,
    #[diesel(serialize_as = Text<Option<CurrencyCode>>)]
    pub currency: Option<Option<CurrencyCode>>,
    #[diesel(serialize_as = Key<Option<OrgId>>)]
    pub primary_partner_id: Option<Option<OrgId>>,
    #[diesel(serialize_as = Uuid)]
    pub owner_org_id: Option<OrgId>,
    #[diesel(serialize_as = Uuid)]
    pub owner_user_id: Option<UserId>,
    pub accept_by: Option<Option<DateTime<Utc>>>,
    pub expires_on: Option<Option<NaiveDate>>,
    pub extension_count: Option<i32>,
    pub close_reason: Option<Option<String>>,
    #[diesel(serialize_as = Text<Option<ReasonCode>>)]
    pub close_reason_code: Option<Option<ReasonCode>>,
    pub actual_revenue: Option<Option<BigDecimal>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    #[diesel(serialize_as = Text<Option<Phase>>)]
    pub pipeline_phase: Option<Option<Phase>>,
    pub win_probability: Option<Option<i16>>,
    /// Awaiting automatic re-assignment (set with the transition that
    /// decides it, in the same statement).
    pub reassign_pending: Option<bool>,
    /// Automatic assignments so far (set under the row lock, so an
    /// absolute count is safe).
    pub auto_assignments: Option<i32>,
}

/// An opportunity with what a response and the rules need beside it.
#[derive(Debug, Clone)]
pub struct OpportunityView {
    pub row: Opportunity,
    pub customer_name: String,
    /// The org holding the customer (whose name may be masked).
    pub customer_org_id: OrgId,
    pub collaborator_ids: Vec<OrgId>,
    /// A submitted or approved deal registration exists.
    pub live_registration: bool,
    /// The policy's extension limit, read in the same statement.
    pub max_extensions: i32,
    /// The reader's org's own reference to it (`external_ref`), when the
    /// view was read for a reader.
    pub external_ref: Option<String>,
}

correlated!(
    /// Whether a submitted or approved registration exists (served by the
    /// unique index on live registrations).
    LiveRegistration: diesel::sql_types::Bool =
        "EXISTS (SELECT 1 FROM deal_registrations r WHERE r.opportunity_id = opportunities.id \
         AND r.status IN ('submitted', 'approved'))"
);
correlated!(
    /// The policy's extension limit.
    MaxExtensions: diesel::sql_types::Integer =
        "coalesce((SELECT p.max_extensions FROM policies p ORDER BY p.id LIMIT 1), 0)"
);

/// What a view is selected with: the opportunity's columns in the order of
/// [`Opportunity`]'s fields, then what [`OpportunityView`] adds, in its
/// order. The customer's name and org are the opportunity's own copies
/// (kept by the database's triggers, migration customer_on_opportunity), so
/// no read joins customers: not a list's page, a read by id, a `FOR UPDATE`
/// (which then locks only the opportunity) or an insert's `RETURNING`.
/// Typed as one [`ViewRow`], so that its rows are read by
/// [`OpportunityView`]'s own reader; it renders as the parts it wraps.
#[derive(Clone, Copy, QueryId, ValidGrouping)]
pub struct ViewSelection(SelectedParts);

impl std::fmt::Debug for ViewSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewSelection").finish_non_exhaustive()
    }
}

/// The parts of a [`ViewSelection`].
pub type SelectedParts = (
    diesel::helper_types::AsSelect<Opportunity, Pg>,
    opportunities::customer_name,
    opportunities::customer_org_id,
    opportunities::collaborator_ids,
    LiveRegistration,
    MaxExtensions,
    OpportunityRefOf,
);

/// The selection of a locked [`OpportunityView`], read for no one: the
/// decisions made on it need no reader's reference.
pub fn view_columns() -> ViewSelection {
    view_columns_for(None)
}

/// The selection of an [`OpportunityView`], with `reader`'s own reference:
/// it serves a read, a `FOR UPDATE` and an insert's `RETURNING` alike.
pub fn view_columns_for(reader: Option<OrgId>) -> ViewSelection {
    ViewSelection(selected_parts(reader))
}

/// The parts of [`view_columns_for`], each walked on its own.
fn selected_parts(reader: Option<OrgId>) -> SelectedParts {
    (
        Opportunity::as_select(),
        opportunities::customer_name,
        opportunities::customer_org_id,
        opportunities::collaborator_ids,
        LiveRegistration,
        MaxExtensions,
        reference_of(reader),
    )
}

/// `reader`'s own reference; the nil id (no reader) finds none.
fn reference_of(reader: Option<OrgId>) -> OpportunityRefOf {
    OpportunityRefOf(reader.map_or(Uuid::nil(), |o| o.0))
}

/// The SQL type of a [`ViewSelection`] row.
#[derive(Debug, Clone, Copy, diesel::sql_types::SqlType)]
pub struct ViewRow;

impl diesel::sql_types::HasSqlType<ViewRow> for Pg {
    /// Never asked for: Postgres describes each column of a result itself,
    /// and Diesel asks for a row's types only on MySQL.
    fn metadata(_: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        diesel::pg::PgTypeMetadata::new(0, 0)
    }
}

impl Expression for ViewSelection {
    type SqlType = ViewRow;
}

/// Renders the columns from their text, built once: only the reader's org
/// is bound. Walked part by part, Diesel quoted each of the
/// forty-odd column names anew (a string allocated and searched for quotes
/// per name) every time it wrote a statement's text, which a list, a
/// partner's search and a read by id each do on every call: about a sixth
/// of a partner's search's own instructions (docs/performance.md).
impl QueryFragment<Pg> for ViewSelection {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let Some(text) = SELECTION_TEXT.get_or_init(|| SelectionText::of(&self.0)) else {
            // Parts that bind other than the reader's org alone: walked.
            return self.0.walk_ast(pass);
        };
        pass.push_sql(&text.head);
        // The reader's org, the one value the parts bind.
        pass.push_bind_param::<diesel::sql_types::Uuid, _>(&self.0.6.0)?;
        pass.push_sql(&text.tail);
        Ok(())
    }
}

/// The text of [`ViewSelection`], once built: constant columns around one
/// bound value, the reader's org (`None` if the parts did not bind it, and
/// only it, once).
static SELECTION_TEXT: std::sync::OnceLock<Option<SelectionText>> = std::sync::OnceLock::new();

/// A selection's text, split where its one bound value stands.
#[derive(Debug)]
struct SelectionText {
    head: String,
    tail: String,
}

impl SelectionText {
    /// The text Diesel writes for `parts` (the placeholder's number aside,
    /// which depends on what precedes the selection in a statement), if
    /// they bind exactly one value.
    fn of(parts: &impl QueryFragment<Pg>) -> Option<Self> {
        let rendered = diesel::debug_query::<Pg, _>(parts).to_string();
        let text = rendered.split(" -- binds: ").next()?;
        let (head, tail) = text.split_once("$1")?;
        (!head.contains('$') && !tail.contains('$')).then(|| Self {
            head: head.to_owned(),
            tail: tail.to_owned(),
        })
    }
}

impl<QS> AppearsOnTable<QS> for ViewSelection where SelectedParts: AppearsOnTable<QS> {}

impl<QS> SelectableExpression<QS> for ViewSelection where SelectedParts: SelectableExpression<QS> {}

/// Reads the columns by position, straight into the view. Diesel's own
/// reader for a tuple builds each part first and moves them into place: a
/// fifth of a list page's instructions went to that (docs/performance.md).
impl FromSqlRow<ViewRow, Pg> for OpportunityView {
    fn build_from_row<'a>(row: &impl Row<'a, Pg>) -> deserialize::Result<Self> {
        use crate::schema::opportunities::columns as o;
        use diesel::sql_types as st;
        let mut c = Columns { row, at: 0 };
        let row = Opportunity::read(&mut c)?;
        Ok(OpportunityView {
            row,
            customer_name: c.next(o::customer_name)?,
            customer_org_id: c.next::<_, Uuid>(o::customer_org_id)?.into(),
            collaborator_ids: c
                .next::<_, Vec<Uuid>>(o::collaborator_ids)?
                .into_iter()
                .map(OrgId::from)
                .collect(),
            live_registration: c.value::<st::Bool, _>()?,
            max_extensions: c.value::<st::Integer, _>()?,
            external_ref: c.value::<st::Nullable<st::Text>, _>()?,
        })
    }
}

/// A row's columns, taken in order.
struct Columns<'r, R> {
    row: &'r R,
    at: usize,
}

impl<'a, R: Row<'a, Pg>> Columns<'_, R> {
    /// The next column's value, decoded as the schema types `column`.
    /// Debug builds (every test) check that the result names it there.
    fn next<C, T>(&mut self, _column: C) -> deserialize::Result<T>
    where
        C: Column,
        T: FromSql<C::SqlType, Pg>,
    {
        let field = self
            .row
            .get(self.at)
            .ok_or("the row has fewer columns than an opportunity view")?;
        debug_assert_eq!(
            field.field_name(),
            Some(C::NAME),
            "column {} of an opportunity view",
            self.at
        );
        self.at += 1;
        T::from_nullable_sql(field.value())
    }

    /// The next column's value, of a computed column.
    fn value<ST, T: FromSql<ST, Pg>>(&mut self) -> deserialize::Result<T> {
        let field = self
            .row
            .get(self.at)
            .ok_or("the row has fewer columns than an opportunity view")?;
        self.at += 1;
        T::from_nullable_sql(field.value())
    }
}

impl OpportunityView {
    /// The facts the domain rules decide on.
    pub fn facts(&self) -> OpportunityFacts {
        let o = &self.row;
        let count = |v: i32| u32::try_from(v).unwrap_or(0);
        OpportunityFacts {
            status: o.status,
            origin: o.origin,
            owner_org_id: o.owner_org_id,
            owner_user_id: o.owner_user_id,
            creator_user_id: o.created_by_user_id,
            primary_partner_id: o.primary_partner_id,
            collaborator_ids: self.collaborator_ids.clone(),
            customer_org_id: self.customer_org_id,
            accept_by: o.accept_by,
            expires_on: o.expires_on,
            extension_count: count(o.extension_count),
            max_extensions: count(self.max_extensions),
            auto_assignments: count(o.auto_assignments),
            currency: o.details.currency,
            live_registration: self.live_registration,
        }
    }
}

impl Opportunity {
    /// Inserts an opportunity and returns it as `reader` meets it, in one
    /// statement (the view's sub-selects read the inserted row).
    pub fn insert(
        conn: &mut PgConnection,
        new: NewOpportunity,
        reader: Option<OrgId>,
    ) -> QueryResult<OpportunityView> {
        diesel::insert_into(opportunities::table)
            .values(new)
            .returning(view_columns_for(reader))
            .get_result(conn)
    }

    /// Loads the opportunity as a view and locks its row (only its row)
    /// until the transaction ends, so a change decided on it cannot race
    /// another.
    pub fn find_for_update(
        conn: &mut PgConnection,
        id: OpportunityId,
    ) -> QueryResult<Option<OpportunityView>> {
        opportunities::table
            .find(id.0)
            .select(view_columns())
            .for_update()
            .first(conn)
            .optional()
    }

    /// Applies a lifecycle change, bumps the version and returns the
    /// opportunity as `reader` meets it after the change, in one statement
    /// (the view's sub-selects see what the transaction did before it).
    pub fn change_state(
        conn: &mut PgConnection,
        id: OpportunityId,
        changes: StateChanges,
        reader: Option<OrgId>,
    ) -> QueryResult<OpportunityView> {
        crate::prepared::update(opportunities::table.find(id.0))
            .set((
                changes,
                opportunities::version.eq(opportunities::version + 1),
                opportunities::updated_at.eq(diesel::dsl::now),
            ))
            .returning(view_columns_for(reader))
            .get_result(conn)
    }

    /// Replaces the description, bumps the version and returns the
    /// opportunity as `reader` meets it after the change.
    pub fn update(
        conn: &mut PgConnection,
        id: OpportunityId,
        details: Details,
        reader: Option<OrgId>,
    ) -> QueryResult<OpportunityView> {
        crate::prepared::update(opportunities::table.find(id.0))
            .set((
                details,
                opportunities::version.eq(opportunities::version + 1),
                opportunities::updated_at.eq(diesel::dsl::now),
            ))
            .returning(view_columns_for(reader))
            .get_result(conn)
    }
}

/// Replaces the collaborating orgs of an opportunity.
pub fn set_collaborators(
    conn: &mut PgConnection,
    id: OpportunityId,
    orgs: &[OrgId],
) -> QueryResult<()> {
    diesel::delete(
        opportunity_collaborators::table.filter(opportunity_collaborators::opportunity_id.eq(id.0)),
    )
    .execute(conn)?;
    add_collaborators(conn, id, orgs)
}

/// Adds collaborating orgs; ones already there stay. Constant SQL: Diesel
/// never keeps an insert of a list of rows prepared (their number varies).
pub fn add_collaborators(
    conn: &mut PgConnection,
    id: OpportunityId,
    orgs: &[OrgId],
) -> QueryResult<()> {
    if orgs.is_empty() {
        return Ok(());
    }
    crate::prepared!(
        "INSERT INTO opportunity_collaborators (opportunity_id, org_id)
         SELECT $1, o FROM unnest($2::uuid[]) AS o
         ON CONFLICT DO NOTHING",
    )
    .bind(id.0)
    .bind(orgs.iter().map(|o| o.0).collect::<Vec<Uuid>>())
    .execute(conn)
    .map(|_| ())
}

/// Removes one collaborating org; returns whether it was there.
pub fn remove_collaborator(
    conn: &mut PgConnection,
    id: OpportunityId,
    org: OrgId,
) -> QueryResult<bool> {
    diesel::delete(
        opportunity_collaborators::table
            .filter(opportunity_collaborators::opportunity_id.eq(id.0))
            .filter(opportunity_collaborators::org_id.eq(org.0)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// One opportunity with its customer name and collaborators, and
/// `reader`'s own reference to it, in one statement.
pub fn find_view(
    conn: &mut PgConnection,
    id: OpportunityId,
    reader: Option<OrgId>,
) -> QueryResult<Option<OpportunityView>> {
    opportunities::table
        .filter(opportunities::id.eq(id.0))
        .select(view_columns_for(reader))
        .first(conn)
        .optional()
}

#[derive(Debug)]
pub struct NewEvent<'a> {
    pub id: Uuid,
    pub opportunity_id: OpportunityId,
    pub actor_user_id: Option<UserId>,
    pub actor_org_id: Option<OrgId>,
    pub partner_org_id: Option<OrgId>,
    pub action: &'a str,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub reason: Option<&'a str>,
    /// What else the action changed (field history): `[{field, old, new}]`.
    pub changes: serde_json::Value,
    /// A user's reason code; `None` for the system's transitions.
    pub reason_code: Option<ReasonCode>,
}

/// Sets what only later lifecycle steps normally set: collaborators, phase
/// and probability, close reason and actual revenue. Used by demo seeding.
pub fn seed_details(
    conn: &mut PgConnection,
    id: OpportunityId,
    collaborator_ids: &[OrgId],
    phase: Option<(Phase, i16)>,
    closed: Option<(&str, BigDecimal)>,
) -> QueryResult<()> {
    for org in collaborator_ids {
        diesel::insert_into(opportunity_collaborators::table)
            .values((
                opportunity_collaborators::opportunity_id.eq(id.0),
                opportunity_collaborators::org_id.eq(org.0),
            ))
            .execute(conn)?;
    }
    if let Some((p, w)) = phase {
        crate::prepared::update(opportunities::table.find(id.0))
            .set((
                opportunities::pipeline_phase.eq(Text(p)),
                opportunities::win_probability.eq(w),
            ))
            .execute(conn)?;
    }
    if let Some((reason, actual)) = closed {
        crate::prepared::update(opportunities::table.find(id.0))
            .set((
                opportunities::close_reason.eq(reason),
                opportunities::actual_revenue.eq(actual),
                opportunities::closed_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(q: &impl QueryFragment<Pg>) -> String {
        diesel::debug_query::<Pg, _>(q).to_string()
    }

    /// A view's selection, written from its text built once, is what its
    /// parts write walked one by one, with the reader's org bound where its
    /// reference is looked up: first in a select, after the condition's
    /// value in a `RETURNING`.
    #[test]
    fn a_views_selection_writes_what_its_parts_write() {
        let id = Uuid::from_u128(9);
        for reader in [Some(OrgId(Uuid::from_u128(7))), None] {
            let by_id = opportunities::table.filter(opportunities::id.eq(id));
            assert_eq!(
                written(&by_id.select(view_columns_for(reader))),
                written(&by_id.select(selected_parts(reader))),
            );
            let returned = written(&diesel::delete(by_id).returning(view_columns_for(reader)));
            assert!(returned.contains("x.org_id = $2"), "{returned}");
            assert_eq!(
                returned,
                written(&diesel::delete(by_id).returning(selected_parts(reader)))
            );
        }
        // Written from their text, not walked part by part.
        assert!(matches!(SELECTION_TEXT.get(), Some(Some(_))));
    }
}
