//! The partner program's rules as pure functions: no I/O, no database, no HTTP.
//!
//! Every rule of `DOMAIN.md` that the service enforces lives here once, and the
//! API both authorizes and computes `allowed_actions` from the same functions.

pub mod actor;
pub mod assignment;
pub mod customer;
pub mod deal;
pub mod error;
pub mod events;
pub mod external_ref;
pub mod ids;
pub mod import;
pub mod kind;
pub mod lifecycle;
pub mod opportunity;
pub mod org;
pub mod policy;
pub mod reason;
pub mod role;
pub mod user;
pub mod values;

pub use actor::Actor;
pub use error::{DomainError, FieldError};
pub use ids::{CustomerId, OpportunityId, OrgId, UserId};
pub use role::Role;
