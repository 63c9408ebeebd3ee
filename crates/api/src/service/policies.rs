//! Policy use cases: the vendor's one policy, read by everyone and replaced
//! by the vendor admin.

use prm_domain::policy::Policy;
use prm_domain::{Actor, Role};
use prm_store::PgConnection;
use prm_store::policies::PolicyRow;

use crate::error::ApiError;
use crate::extract::IfMatch;

/// The policy in force.
pub fn get(conn: &mut PgConnection) -> Result<PolicyRow, ApiError> {
    Ok(PolicyRow::load(conn)?)
}

/// Replaces the policy (vendor admin), after its own consistency checks.
pub fn replace(
    conn: &mut PgConnection,
    actor: &Actor,
    if_match: &IfMatch,
    policy: Policy,
) -> Result<PolicyRow, ApiError> {
    actor.ensure_can_write()?;
    if actor.role != Role::VendorAdmin {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            detail: "only the vendor admin sets the policy".into(),
        });
    }
    policy.validate()?;
    let current = PolicyRow::load_for_update(conn)?;
    if_match.check(current.version)?;
    Ok(PolicyRow::save(conn, &policy)?)
}
