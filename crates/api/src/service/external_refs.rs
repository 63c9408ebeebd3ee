//! External references: an org attaches its own id (its CRM's) to an
//! opportunity or a customer it can see, on create or later; only that org
//! reads it, and lists filter by it.

use prm_domain::Actor;
use prm_domain::external_ref::{self as rules, ExternalRef, RefKind};
use prm_domain::ids::{CustomerId, OpportunityId};
use prm_store::PgConnection;
use prm_store::external_refs as store;
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::customers::{self, CustomerRead};
use crate::service::opportunities::{self, OpportunityRead};

/// Gives `resource` the actor's org's reference, in the caller's
/// transaction; a reference the org already gave another resource of the
/// kind is a 409 naming it (rule: unique per org and resource kind).
pub fn claim(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RefKind,
    resource: Uuid,
    external_ref: &ExternalRef,
) -> Result<(), ApiError> {
    match store::set(conn, actor.org_id, kind, resource, external_ref)? {
        Ok(()) => Ok(()),
        Err(holder) => Err(rules::taken(kind, external_ref, holder).into()),
    }
}

/// Refuses a reference the actor's org already gave a resource of the kind,
/// before anything is created for it; `claim` still decides a race.
pub fn ensure_free(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RefKind,
    external_ref: &ExternalRef,
) -> Result<(), ApiError> {
    match store::find(conn, actor.org_id, kind, external_ref)? {
        Some(holder) => Err(rules::taken(kind, external_ref, holder).into()),
        None => Ok(()),
    }
}

/// Sets (`Some`) or removes the actor's org's reference to an opportunity
/// it can see, and answers the opportunity as the caller now meets it.
pub fn set_on_opportunity(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    external_ref: Option<ExternalRef>,
) -> Result<OpportunityRead, ApiError> {
    opportunities::visible(conn, actor, id)?;
    rules::check_can_attach(actor)?;
    attach(conn, actor, RefKind::Opportunity, id.0, external_ref)?;
    opportunities::get(conn, actor, id)
}

/// Sets (`Some`) or removes the actor's org's reference to a customer it
/// can see, and answers the customer as the caller now meets it (a masked
/// name stays masked).
pub fn set_on_customer(
    conn: &mut PgConnection,
    actor: &Actor,
    id: CustomerId,
    external_ref: Option<ExternalRef>,
) -> Result<CustomerRead, ApiError> {
    customers::get(conn, actor, id, false)?;
    rules::check_can_attach(actor)?;
    attach(conn, actor, RefKind::Customer, id.0, external_ref)?;
    customers::get(conn, actor, id, false)
}

fn attach(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: RefKind,
    resource: Uuid,
    external_ref: Option<ExternalRef>,
) -> Result<(), ApiError> {
    match external_ref {
        Some(r) => claim(conn, actor, kind, resource, &r),
        None => store::remove(conn, actor.org_id, kind, resource)
            .map(|_| ())
            .map_err(Into::into),
    }
}
