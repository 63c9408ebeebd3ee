//! Resolving a token's subject into the acting user.

use diesel::prelude::*;
use prm_domain::Actor;
use prm_domain::org::OrgKind;
use prm_domain::role::Role;
use uuid::Uuid;

use crate::StoreError;
use crate::orgs::Org;
use crate::schema::{orgs, users};
use crate::stored::Text;

/// What a subject resolves to.
#[derive(Debug)]
pub enum ActorLookup {
    Found(Actor),
    UnknownSubject,
    UserInactive,
    OrgInactive,
}

/// A user's id, role and activity with its org's id, kind and activity.
type UserAndOrg = (Uuid, Text<Role>, bool, Uuid, Text<OrgKind>, bool);

/// Loads the user behind `subject`, with its org and, for a distributor, the
/// resellers it acts for.
pub fn load_actor(conn: &mut PgConnection, subject: &str) -> Result<ActorLookup, StoreError> {
    let row: Option<UserAndOrg> = users::table
        .inner_join(orgs::table)
        .filter(users::subject.eq(subject))
        .select((
            users::id,
            users::role,
            users::active,
            orgs::id,
            orgs::kind,
            orgs::active,
        ))
        .first(conn)
        .optional()?;
    let Some((user_id, role, user_active, org_id, kind, org_active)) = row else {
        return Ok(ActorLookup::UnknownSubject);
    };
    if !user_active {
        return Ok(ActorLookup::UserInactive);
    }
    if !org_active {
        return Ok(ActorLookup::OrgInactive);
    }
    let org_kind = kind.0;
    let reseller_ids = if org_kind == OrgKind::Distributor {
        Org::reseller_ids(conn, org_id.into())?
    } else {
        Vec::new()
    };
    Ok(ActorLookup::Found(Actor {
        user_id: user_id.into(),
        org_id: org_id.into(),
        org_kind,
        role: role.0,
        reseller_ids,
    }))
}
