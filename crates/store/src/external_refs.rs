//! External references: each org's own ids for the opportunities and
//! customers it can see. Uniqueness per org and kind is the database's
//! (a primary key per resource, a unique index per reference), so two
//! concurrent claims of one reference cannot both succeed.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::{DatabaseErrorKind, Error};
use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::OrgId;
use uuid::Uuid;

use crate::schema::external_refs;

/// Gives `resource` the org's reference `external_ref`, replacing the one it
/// had. `Ok(Err(id))` when another resource of the kind already holds it
/// for the org; the caller's transaction is left usable (the attempt runs
/// in a savepoint).
pub fn set(
    conn: &mut PgConnection,
    org: OrgId,
    kind: RefKind,
    resource: Uuid,
    external_ref: &ExternalRef,
) -> QueryResult<Result<(), Uuid>> {
    // A holder that goes away between the refusal and the look-up (its
    // transaction rolled back) frees the reference: try once more.
    for _ in 0..2 {
        let attempt = conn.transaction(|c| {
            // Constant SQL: Diesel never keeps an `ON CONFLICT … DO UPDATE`
            // prepared, and an import claims one reference a row.
            crate::prepared!(
                "INSERT INTO external_refs (org_id, kind, resource_id, external_ref)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id, kind, resource_id) DO UPDATE SET external_ref = $4",
            )
            .bind(org.0)
            .bind(kind.as_str())
            .bind(resource)
            .bind(external_ref.as_str())
            .execute(c)
        });
        match attempt {
            Ok(_) => return Ok(Ok(())),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                if let Some(holder) = find(conn, org, kind, external_ref)? {
                    return Ok(Err(holder));
                }
            }
            Err(e) => return Err(e),
        }
    }
    find(conn, org, kind, external_ref).map(|h| h.map_or(Ok(()), Err))
}

/// Removes the org's reference to `resource`; whether there was one.
pub fn remove(
    conn: &mut PgConnection,
    org: OrgId,
    kind: RefKind,
    resource: Uuid,
) -> QueryResult<bool> {
    diesel::delete(
        external_refs::table
            .filter(external_refs::org_id.eq(org.0))
            .filter(external_refs::kind.eq(kind.as_str()))
            .filter(external_refs::resource_id.eq(resource)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// The resource the org's reference names.
pub fn find(
    conn: &mut PgConnection,
    org: OrgId,
    kind: RefKind,
    external_ref: &ExternalRef,
) -> QueryResult<Option<Uuid>> {
    external_refs::table
        .filter(external_refs::org_id.eq(org.0))
        .filter(external_refs::kind.eq(kind.as_str()))
        .filter(external_refs::external_ref.eq(external_ref.as_str()))
        .select(external_refs::resource_id)
        .first(conn)
        .optional()
}

/// The org's references to these resources, as (resource, reference).
pub fn of(
    conn: &mut PgConnection,
    org: OrgId,
    kind: RefKind,
    resources: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    external_refs::table
        .filter(external_refs::org_id.eq(org.0))
        .filter(external_refs::kind.eq(kind.as_str()))
        .filter(external_refs::resource_id.eq_any(resources))
        .select((external_refs::resource_id, external_refs::external_ref))
        .load(conn)
}

/// `(SELECT external_ref FROM external_refs WHERE org_id = <org> AND kind =
/// 'opportunity' AND resource_id = opportunities.id)`: the reader's own
/// reference in the same statement as the opportunity. The org is bound, so
/// the statement stays prepared; the nil id (no reader) finds none.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct OpportunityRefOf(pub Uuid);

impl diesel::expression::Expression for OpportunityRefOf {
    type SqlType = diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

impl QueryFragment<Pg> for OpportunityRefOf {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("(SELECT x.external_ref FROM external_refs x WHERE x.org_id = ");
        pass.push_bind_param::<diesel::sql_types::Uuid, _>(&self.0)?;
        pass.push_sql(" AND x.kind = 'opportunity' AND x.resource_id = opportunities.id)");
        Ok(())
    }
}

impl<QS> diesel::expression::AppearsOnTable<QS> for OpportunityRefOf {}
impl<QS> diesel::expression::SelectableExpression<QS> for OpportunityRefOf {}
impl diesel::expression::ValidGrouping<()> for OpportunityRefOf {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// The sub-select of [`named_by`].
pub type NamedBy = diesel::dsl::Select<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<external_refs::table, diesel::dsl::Eq<external_refs::org_id, Uuid>>,
            diesel::dsl::Eq<external_refs::kind, &'static str>,
        >,
        diesel::dsl::Eq<external_refs::external_ref, String>,
    >,
    external_refs::resource_id,
>;

/// The ids of the resources the org's reference names (at most one), as a
/// sub-select for a list filtered by `external_ref`.
pub fn named_by(org: OrgId, kind: RefKind, external_ref: &ExternalRef) -> NamedBy {
    external_refs::table
        .filter(external_refs::org_id.eq(org.0))
        .filter(external_refs::kind.eq(kind.as_str()))
        .filter(external_refs::external_ref.eq(external_ref.as_str().to_owned()))
        .select(external_refs::resource_id)
}
