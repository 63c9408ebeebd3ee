//! The use cases: one module per family, each a function of a connection,
//! the actor and a command, returning domain or store views (never wire
//! DTOs). Routes, the worker and `seed-demo` call these alike; each runs
//! inside the caller's unit of work (one connection, one transaction).

pub mod activity;
pub mod assignment;
pub mod customers;
pub mod dashboard;
pub mod deals;
pub mod events;
pub mod external_refs;
pub mod history;
pub mod imports;
pub mod lifecycle;
pub mod marketing;
pub mod opportunities;
pub mod orgs;
pub mod policies;
pub mod users;
pub mod webhooks;

use prm_domain::Actor;
use uuid::Uuid;

use crate::error::ApiError;

/// A list of labels normalized as stored; `field` names it in a 422.
pub fn labels(list: &[String], field: &str) -> Result<Vec<String>, ApiError> {
    prm_domain::values::labels(list).map_err(|e| ApiError::validation(field, e))
}

/// The orgs whose rows a partner user reads (its own and, for a
/// distributor, its resellers'); `None` for vendor users, who read all.
pub fn partner_scope(actor: &Actor) -> Option<Vec<Uuid>> {
    (!actor.is_vendor()).then(|| actor.org_scope().into_iter().map(|o| o.0).collect())
}

/// Each row mapped, into a vector sized once: collecting a fallible map
/// grows the vector by doubling (its size is not known to `collect`),
/// moving every row built so far at each step, and a page of opportunity
/// reads is about 2 % of a list's CPU in those moves (docs/performance.md).
pub fn map_rows<R, T, E>(rows: Vec<R>, mut f: impl FnMut(R) -> Result<T, E>) -> Result<Vec<T>, E> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(f(row)?);
    }
    Ok(out)
}

/// Optional free text as stored: trimmed, and `None` when blank.
pub fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
