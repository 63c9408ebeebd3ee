//! Users: the mapping from a JWT subject to an org and a role.

use crate::stored::Text;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::ids::{OrgId, UserId};
use prm_domain::role::Role;
use uuid::Uuid;

use crate::schema::users;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    #[diesel(deserialize_as = Uuid)]
    pub id: UserId,
    pub subject: String,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = Text<Role>)]
    pub role: Role,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser {
    #[diesel(serialize_as = Uuid)]
    pub id: UserId,
    pub subject: String,
    #[diesel(serialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(serialize_as = Text<Role>)]
    pub role: Role,
    pub name: String,
    pub email: String,
}

/// A partial update: `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    #[diesel(serialize_as = Text<Role>)]
    pub role: Option<Role>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
}

impl User {
    /// Loads the row and locks it until the transaction ends.
    pub fn find_for_update(conn: &mut PgConnection, id: UserId) -> QueryResult<Option<User>> {
        users::table
            .find(id.0)
            .select(User::as_select())
            .for_update()
            .first(conn)
            .optional()
    }

    /// Applies changes and bumps the version.
    pub fn update(conn: &mut PgConnection, id: UserId, changes: UserChanges) -> QueryResult<User> {
        crate::prepared::update(users::table.find(id.0))
            .set((
                changes,
                users::version.eq(users::version + 1),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .returning(User::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, id: UserId) -> QueryResult<Option<User>> {
        users::table
            .find(id.0)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_subject(conn: &mut PgConnection, subject: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::subject.eq(subject))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// A page of users in id order; `orgs` restricts to users of those orgs.
    pub fn list(
        conn: &mut PgConnection,
        orgs: Option<&[Uuid]>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut q = users::table.select(User::as_select()).into_boxed();
        if let Some(orgs) = orgs {
            q = q.filter(users::org_id.eq_any(orgs.to_vec()));
        }
        if let Some(after) = after {
            q = q.filter(users::id.gt(after));
        }
        q.order(users::id.asc()).limit(limit).load(conn)
    }

    pub fn insert(conn: &mut PgConnection, new: NewUser) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn)
    }
}
