//! User use cases: map a token subject to a user of an org, read users as
//! the caller may, change a role or deactivate.

use prm_domain::ids::{OrgId, UserId};
use prm_domain::org::OrgKind;
use prm_domain::user as rules;
use prm_domain::{Actor, Role};
use prm_store::users::{NewUser, User, UserChanges};
use prm_store::{PgConnection, StoreError};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use prm_store::orgs::Org;

fn org_kind(conn: &mut PgConnection, org: OrgId) -> Result<OrgKind, ApiError> {
    Ok(Org::find(conn, org)?
        .ok_or_else(|| ApiError::validation("org_id", "no such org"))?
        .kind)
}

/// A new user of an org.
#[derive(Debug, Clone)]
pub struct NewUserCommand {
    pub subject: String,
    pub org_id: OrgId,
    pub role: Role,
    pub name: String,
    pub email: String,
}

/// Creates a user (vendor admin for any org; partner admin for its own).
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    cmd: NewUserCommand,
) -> Result<User, ApiError> {
    if !rules::can_view_users_of(actor, cmd.org_id) {
        // Same answer as for an org that does not exist.
        return Err(ApiError::validation("org_id", "no such org"));
    }
    let kind = org_kind(conn, cmd.org_id)?;
    rules::can_manage_user(actor, cmd.org_id, kind, Some(cmd.role))?;
    User::insert(
        conn,
        NewUser {
            id: UserId::new(),
            subject: cmd.subject.trim().to_owned(),
            org_id: cmd.org_id,
            role: cmd.role,
            name: cmd.name.trim().to_owned(),
            email: cmd.email.trim().to_owned(),
        },
    )
    .map_err(|e| {
        let e = StoreError::from(e);
        if e.unique_violation().is_some() {
            ApiError::Conflict {
                code: "duplicate_subject",
                detail: "a user with this subject already exists".to_owned(),
            }
        } else {
            e.into()
        }
    })
}

/// A page of users: vendor users see all (or one org's); partner users
/// their own org's. A partner asking for another org's users gets an empty
/// page, exactly as for an org that does not exist.
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    only: Option<OrgId>,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<User>, ApiError> {
    let scope: Option<Vec<Uuid>> = match (actor.is_vendor(), only) {
        (true, None) => None,
        (true, Some(org)) => Some(vec![org.0]),
        (false, Some(org)) if org != actor.org_id => Some(vec![]),
        (false, _) => Some(vec![actor.org_id.0]),
    };
    Ok(User::list(conn, scope.as_deref(), after, fetch)?)
}

/// One user the caller may see, or 404.
pub fn get(conn: &mut PgConnection, actor: &Actor, id: UserId) -> Result<User, ApiError> {
    User::find(conn, id)?
        .filter(|u| rules::can_view_users_of(actor, u.org_id))
        .ok_or(ApiError::NotFound)
}

/// Changes to a user. `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct EditUserCommand {
    pub role: Option<Role>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
}

/// Changes a user (admins of its org); nobody deactivates themselves.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: UserId,
    if_match: &IfMatch,
    cmd: EditUserCommand,
) -> Result<User, ApiError> {
    let current = User::find_for_update(conn, id)?
        .filter(|u| rules::can_view_users_of(actor, u.org_id))
        .ok_or(ApiError::NotFound)?;
    let kind = org_kind(conn, current.org_id)?;
    rules::can_manage_user(actor, current.org_id, kind, cmd.role)?;
    if_match.check(current.version)?;
    if current.id == actor.user_id && cmd.active == Some(false) {
        return Err(ApiError::validation(
            "active",
            "you cannot deactivate yourself",
        ));
    }
    Ok(User::update(
        conn,
        id,
        UserChanges {
            role: cmd.role,
            name: cmd.name.map(|n| n.trim().to_owned()),
            email: cmd.email.map(|e| e.trim().to_owned()),
            active: cmd.active,
        },
    )?)
}

/// The caller's own user and org.
pub fn me(conn: &mut PgConnection, actor: &Actor) -> Result<(User, Org), ApiError> {
    let user = User::find(conn, actor.user_id)?.ok_or(ApiError::NotFound)?;
    let org = Org::find(conn, actor.org_id)?.ok_or(ApiError::NotFound)?;
    Ok((user, org))
}
