//! Organizations: rows, forms and queries.

use crate::stored::{Key, Text};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::ids::OrgId;
use prm_domain::org::{OrgKind, Tier};
use uuid::Uuid;

use crate::schema::orgs;

diesel::define_sql_function! {
    /// Postgres `lower(text)`, as used by the unique index on org names.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orgs, check_for_backend(diesel::pg::Pg))]
pub struct Org {
    #[diesel(deserialize_as = Uuid)]
    pub id: OrgId,
    pub name: String,
    #[diesel(deserialize_as = Text<OrgKind>)]
    pub kind: OrgKind,
    #[diesel(deserialize_as = Key<Option<OrgId>>)]
    pub parent_id: Option<OrgId>,
    pub active: bool,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub product_lines: Vec<String>,
    #[diesel(deserialize_as = Text<Tier>)]
    pub tier: Tier,
    pub capacity: i32,
    pub accepting: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = orgs, treat_none_as_default_value = false)]
pub struct NewOrg {
    #[diesel(serialize_as = Uuid)]
    pub id: OrgId,
    pub name: String,
    #[diesel(serialize_as = Text<OrgKind>)]
    pub kind: OrgKind,
    #[diesel(serialize_as = Key<Option<OrgId>>)]
    pub parent_id: Option<OrgId>,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub product_lines: Vec<String>,
    #[diesel(serialize_as = Text<Tier>)]
    pub tier: Tier,
    pub capacity: i32,
    pub accepting: bool,
}

/// A partial update: `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    pub name: Option<String>,
    #[diesel(serialize_as = Key<Option<OrgId>>)]
    pub parent_id: Option<Option<OrgId>>,
    pub active: Option<bool>,
    pub countries: Option<Vec<String>>,
    pub industries: Option<Vec<String>>,
    pub product_lines: Option<Vec<String>>,
    #[diesel(serialize_as = Text<Tier>)]
    pub tier: Option<Tier>,
    pub capacity: Option<i32>,
    pub accepting: Option<bool>,
}

impl Org {
    pub fn find(conn: &mut PgConnection, id: OrgId) -> QueryResult<Option<Org>> {
        orgs::table
            .find(id.0)
            .select(Org::as_select())
            .first(conn)
            .optional()
    }

    /// Loads the row and locks it until the transaction ends.
    pub fn find_for_update(conn: &mut PgConnection, id: OrgId) -> QueryResult<Option<Org>> {
        orgs::table
            .find(id.0)
            .select(Org::as_select())
            .for_update()
            .first(conn)
            .optional()
    }

    pub fn vendor(conn: &mut PgConnection) -> QueryResult<Option<Org>> {
        orgs::table
            .filter(orgs::kind.eq(Text(OrgKind::Vendor)))
            .select(Org::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Org>> {
        orgs::table
            .filter(lower(orgs::name).eq(lower(name)))
            .select(Org::as_select())
            .first(conn)
            .optional()
    }

    /// A page of orgs in id order; `only` restricts to the given ids, `kind`
    /// to one kind.
    pub fn list(
        conn: &mut PgConnection,
        only: Option<&[Uuid]>,
        kind: Option<OrgKind>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Org>> {
        let mut q = orgs::table.select(Org::as_select()).into_boxed();
        if let Some(ids) = only {
            q = q.filter(orgs::id.eq_any(ids.to_vec()));
        }
        if let Some(kind) = kind {
            q = q.filter(orgs::kind.eq(Text(kind)));
        }
        if let Some(after) = after {
            q = q.filter(orgs::id.gt(after));
        }
        q.order(orgs::id.asc()).limit(limit).load(conn)
    }

    /// Ids of the resellers under a distributor.
    pub fn reseller_ids(conn: &mut PgConnection, distributor: OrgId) -> QueryResult<Vec<OrgId>> {
        orgs::table
            .filter(orgs::parent_id.eq(distributor.0))
            .select(orgs::id)
            .order(orgs::id)
            .load::<Uuid>(conn)
            .map(crate::stored::ids)
    }

    pub fn insert(conn: &mut PgConnection, new: NewOrg) -> QueryResult<Org> {
        diesel::insert_into(orgs::table)
            .values(new)
            .returning(Org::as_returning())
            .get_result(conn)
    }

    /// Applies changes and bumps the version.
    pub fn update(conn: &mut PgConnection, id: OrgId, changes: OrgChanges) -> QueryResult<Org> {
        crate::prepared::update(orgs::table.find(id.0))
            .set((
                changes,
                orgs::version.eq(orgs::version + 1),
                orgs::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Org::as_returning())
            .get_result(conn)
    }
}
