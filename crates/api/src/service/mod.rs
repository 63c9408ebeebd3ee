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
pub mod lifecycle;
pub mod marketing;
pub mod opportunities;
pub mod orgs;
pub mod policies;
pub mod users;
pub mod webhooks;

/// Optional free text as stored: trimmed, and `None` when blank.
pub fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
