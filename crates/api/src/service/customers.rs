//! Customer use cases: registering a customer after the identity checks,
//! reading customers with names masked for the caller, and recording each
//! reveal as an event.

use prm_domain::Actor;
use prm_domain::customer::{self as rules, CustomerIdentity, ExistingCustomer, Registration};
use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::{CustomerId, OrgId};
use prm_domain::values::CountryCode;
use prm_store::PgConnection;
use prm_store::customers::{
    Customer, IdentityKeys, NewCustomer, lock_identity_checks, record_reveals,
};
use prm_store::external_refs;
use prm_store::orgs::Org;
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::events;

/// A customer as one caller meets it.
#[derive(Debug, Clone)]
pub struct CustomerRead {
    pub customer: Customer,
    /// The name is masked for this caller.
    pub masked: bool,
    /// The caller's org's own reference to it.
    pub external_ref: Option<String>,
}

/// Each customer as `actor` meets it: whether its name is masked, and the
/// org's own reference to it; with `reveal`, shows masked names in full and
/// records the reveal (a row per customer and a `customer.revealed` event
/// for the vendor and the revealing org).
pub fn present(
    conn: &mut PgConnection,
    actor: &Actor,
    rows: Vec<Customer>,
    reveal: bool,
) -> Result<Vec<CustomerRead>, ApiError> {
    let hidden: Vec<(CustomerId, OrgId)> = rows
        .iter()
        .filter(|c| rules::name_is_masked(actor, c.org_id))
        .map(|c| (c.id, c.org_id))
        .collect();
    if reveal && !hidden.is_empty() {
        let ids: Vec<CustomerId> = hidden.iter().map(|(c, _)| *c).collect();
        record_reveals(conn, actor.user_id, &ids)?;
        events::reveal(conn, actor.org_id, actor.user_id, &hidden)?;
    }
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id.0).collect();
    let mut refs = external_refs::of(conn, actor.org_id, RefKind::Customer, &ids)?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let masked = !reveal && hidden.iter().any(|(id, _)| *id == c.id);
            let external_ref = refs
                .iter()
                .position(|(id, _)| *id == c.id.0)
                .map(|i| refs.swap_remove(i).1);
            CustomerRead {
                customer: c,
                masked,
                external_ref,
            }
        })
        .collect())
}

/// A new customer, as the caller asks for it.
#[derive(Debug, Clone)]
pub struct NewCustomerCommand {
    /// The holding org; vendor only (partners hold their own customers).
    pub org_id: Option<OrgId>,
    pub name: String,
    pub country: String,
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    pub web_domain: Option<String>,
    pub registration: Option<Registration>,
    /// The creating org's own reference to it.
    pub external_ref: Option<ExternalRef>,
}

/// Registers a customer after the identity checks, serialized so that two
/// claims on the same identity cannot both pass.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    cmd: NewCustomerCommand,
) -> Result<CustomerRead, ApiError> {
    let org_id = cmd.org_id.unwrap_or(actor.org_id);
    let org = if actor.is_vendor() || org_id == actor.org_id {
        Org::find(conn, org_id)?
    } else {
        None
    };
    let org = org.ok_or_else(|| ApiError::validation("org_id", "no such org"))?;
    let registration = rules::decide_registration(actor, (org_id, org.kind), cmd.registration)?;
    // The org's own reference names what a sync already made: said first,
    // with its id, before the identity checks would refuse it too.
    if let Some(r) = &cmd.external_ref {
        super::external_refs::ensure_free(conn, actor, RefKind::Customer, r)?;
    }
    let country: CountryCode = cmd
        .country
        .parse()
        .map_err(|e: String| ApiError::validation("country", e))?;
    let identity = CustomerIdentity::new(
        &cmd.name,
        country,
        cmd.tax_id.as_deref(),
        cmd.web_domain.as_deref(),
    );
    lock_identity_checks(conn)?;
    let existing = Customer::identity_candidates(
        conn,
        IdentityKeys {
            name_key: &identity.name_key,
            country: country.as_str(),
            tax_id_key: identity.tax_id.as_deref(),
            domain_key: identity.web_domain.as_deref(),
        },
    )?
    .into_iter()
    .map(|(c, org_name)| existing_customer(c, org_name))
    .collect::<Result<Vec<_>, ApiError>>()?;
    rules::check_new_customer(org_id, registration, &identity, &existing)?;
    let customer = Customer::insert(
        conn,
        NewCustomer {
            id: CustomerId::new(),
            org_id,
            name: cmd.name.trim().to_owned(),
            name_key: identity.name_key.clone(),
            country: country.to_string(),
            industry: cmd.industry.map(|i| i.trim().to_lowercase()),
            tax_id: cmd.tax_id.map(|t| t.trim().to_owned()),
            tax_id_key: identity.tax_id.clone(),
            web_domain: cmd.web_domain.map(|d| d.trim().to_owned()),
            domain_key: identity.web_domain.clone(),
            registration,
        },
    )?;
    if let Some(r) = &cmd.external_ref {
        super::external_refs::claim(conn, actor, RefKind::Customer, customer.id.0, r)?;
    }
    Ok(CustomerRead {
        customer,
        masked: false,
        external_ref: cmd.external_ref.map(ExternalRef::into_string),
    })
}

fn existing_customer(c: Customer, org_name: String) -> Result<ExistingCustomer, ApiError> {
    let country: CountryCode = c
        .country
        .parse()
        .map_err(|e: String| ApiError::Internal(format!("stored country: {e}")))?;
    Ok(ExistingCustomer {
        id: c.id,
        org_id: c.org_id,
        org_name,
        registration: c.registration,
        identity: CustomerIdentity {
            name_key: c.name_key,
            country,
            tax_id: c.tax_id_key,
            web_domain: c.domain_key,
        },
    })
}

/// Which of a distributor's customer lists to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Customers the caller's own org holds.
    Mine,
    /// Customers the caller's resellers hold.
    Resellers,
}

/// Which customers to list, and how.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Only this org's customers.
    pub only: Option<OrgId>,
    /// A partner's own or its resellers'.
    pub scope: Option<Scope>,
    /// Only the one the caller's org's reference names.
    pub external_ref: Option<ExternalRef>,
    /// Show masked names in full (and record the reveal).
    pub reveal: bool,
    pub after: Option<Uuid>,
    /// Rows to fetch (a page and one more).
    pub fetch: i64,
}

/// One page of the customers the caller may see, each with whether its
/// name is masked. Only the rows of the page count as revealed, not the
/// look-ahead row (`fetch` is a page and one more).
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    query: &CustomerQuery,
) -> Result<Vec<CustomerRead>, ApiError> {
    let CustomerQuery {
        only,
        scope,
        ref external_ref,
        reveal,
        after,
        fetch,
    } = *query;
    let orgs: Option<Vec<Uuid>> = if actor.is_vendor() {
        only.map(|o| vec![o.0])
    } else {
        let mut orgs = match scope {
            None => actor.org_scope(),
            Some(Scope::Mine) => vec![actor.org_id],
            Some(Scope::Resellers) => actor.reseller_ids.clone(),
        };
        if let Some(only) = only {
            orgs.retain(|o| *o == only);
        }
        Some(orgs.into_iter().map(|o| o.0).collect())
    };
    let named = external_ref.as_ref().map(|r| (actor.org_id, r));
    let mut rows = Customer::list(conn, orgs.as_deref(), named, after, fetch)?;
    let shown = usize::try_from(fetch - 1).unwrap_or(0);
    let extra = rows.split_off(shown.min(rows.len()));
    let mut out = present(conn, actor, rows, reveal)?;
    // The look-ahead row only tells that more follow; it is not shown.
    out.extend(extra.into_iter().map(|c| CustomerRead {
        customer: c,
        masked: true,
        external_ref: None,
    }));
    Ok(out)
}

/// One customer the caller may see, with whether its name is masked.
pub fn get(
    conn: &mut PgConnection,
    actor: &Actor,
    id: CustomerId,
    reveal: bool,
) -> Result<CustomerRead, ApiError> {
    let c = Customer::find(conn, id)?.ok_or(ApiError::NotFound)?;
    if !rules::can_view_customer(actor, c.org_id) {
        return Err(ApiError::NotFound);
    }
    present(conn, actor, vec![c], reveal)?
        .pop()
        .ok_or_else(|| ApiError::Internal("customer vanished".into()))
}
