//! Organizations: rows, forms and queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::orgs;

diesel::define_sql_function! {
    /// Postgres `lower(text)`, as used by the unique index on org names.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orgs, check_for_backend(diesel::pg::Pg))]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub active: bool,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub product_lines: Vec<String>,
    pub tier: String,
    pub capacity: i32,
    pub accepting: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = orgs)]
pub struct NewOrg {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub product_lines: Vec<String>,
    pub tier: String,
    pub capacity: i32,
    pub accepting: bool,
}

/// A partial update: `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub parent_id: Option<Option<Uuid>>,
    pub active: Option<bool>,
    pub countries: Option<Vec<String>>,
    pub industries: Option<Vec<String>>,
    pub product_lines: Option<Vec<String>>,
    pub tier: Option<String>,
    pub capacity: Option<i32>,
    pub accepting: Option<bool>,
}

impl Org {
    pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Org>> {
        orgs::table
            .find(id)
            .select(Org::as_select())
            .first(conn)
            .optional()
    }

    /// Loads the row and locks it until the transaction ends.
    pub fn find_for_update(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Org>> {
        orgs::table
            .find(id)
            .select(Org::as_select())
            .for_update()
            .first(conn)
            .optional()
    }

    pub fn vendor(conn: &mut PgConnection) -> QueryResult<Option<Org>> {
        orgs::table
            .filter(orgs::kind.eq("vendor"))
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
        kind: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Org>> {
        let mut q = orgs::table.select(Org::as_select()).into_boxed();
        if let Some(ids) = only {
            q = q.filter(orgs::id.eq_any(ids.to_vec()));
        }
        if let Some(kind) = kind {
            q = q.filter(orgs::kind.eq(kind.to_owned()));
        }
        if let Some(after) = after {
            q = q.filter(orgs::id.gt(after));
        }
        q.order(orgs::id.asc()).limit(limit).load(conn)
    }

    /// Ids of the resellers under a distributor.
    pub fn reseller_ids(conn: &mut PgConnection, distributor: Uuid) -> QueryResult<Vec<Uuid>> {
        orgs::table
            .filter(orgs::parent_id.eq(distributor))
            .select(orgs::id)
            .order(orgs::id)
            .load(conn)
    }

    pub fn insert(conn: &mut PgConnection, new: &NewOrg) -> QueryResult<Org> {
        diesel::insert_into(orgs::table)
            .values(new)
            .returning(Org::as_returning())
            .get_result(conn)
    }

    /// Applies changes and bumps the version.
    pub fn update(conn: &mut PgConnection, id: Uuid, changes: &OrgChanges) -> QueryResult<Org> {
        diesel::update(orgs::table.find(id))
            .set((
                changes,
                orgs::version.eq(orgs::version + 1),
                orgs::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Org::as_returning())
            .get_result(conn)
    }
}
