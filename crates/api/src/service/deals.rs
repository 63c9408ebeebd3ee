//! Deal-registration use cases: register on an opportunity, the vendor's
//! decisions, withdrawal, and reads whose `allowed_actions` include the
//! exclusivity another org holds.

use chrono::{NaiveDate, Utc};
use prm_domain::Actor;
use prm_domain::customer::CustomerIdentity;
use prm_domain::deal::{self as rules, OtherRegistration, RegAction, RegStatus, RegistrationFacts};
use prm_domain::events::EventType;
use prm_domain::ids::OpportunityId;
use prm_domain::opportunity::Action;
use prm_domain::values::CountryCode;
use prm_store::PgConnection;
use prm_store::customers::Customer;
use prm_store::deals::{self as store, NewRegistration, Registration, RegistrationChanges};
use prm_store::policies::PolicyRow;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::events;
use crate::service::opportunities::{locked_for, visible};

/// A registration as one caller meets it.
#[derive(Debug, Clone)]
pub struct RegistrationRead {
    pub row: Registration,
    pub facts: RegistrationFacts,
    /// Exactly what `decide` allows this caller now.
    pub allowed: Vec<RegAction>,
    /// Vendor users see the conflicts found on submit.
    pub conflicts_visible: bool,
}

fn identity(c: &Customer) -> Result<CustomerIdentity, ApiError> {
    let country: CountryCode = c
        .country
        .parse()
        .map_err(|e: String| ApiError::Internal(e))?;
    Ok(CustomerIdentity {
        name_key: c.name_key.clone(),
        country,
        tax_id: c.tax_id_key.clone(),
        web_domain: c.domain_key.clone(),
    })
}

fn others(
    conn: &mut PgConnection,
    lines: &[String],
) -> Result<Vec<OtherRegistration<Uuid>>, ApiError> {
    store::active_with_lines(conn, lines)?
        .into_iter()
        .map(|(r, c, org_name)| {
            Ok(OtherRegistration {
                id: r.id,
                org_id: r.org_id,
                org_name,
                status: r.status,
                identity: identity(&c)?,
                product_lines: r.product_lines,
            })
        })
        .collect()
}

/// Who else holds exclusivity over this registration's customer and lines,
/// as the exclusivity rule names it.
fn held_by_other(conn: &mut PgConnection, r: &Registration) -> Result<Option<String>, ApiError> {
    let customer = Customer::find(conn, r.customer_id)?
        .ok_or_else(|| ApiError::Internal("customer gone".into()))?;
    Ok(rules::check_exclusivity(
        r.org_id,
        &identity(&customer)?,
        &r.product_lines,
        &others(conn, &r.product_lines)?,
    )
    .err()
    .map(|e| e.to_string()))
}

/// The facts the rules decide for `actor` on, or 404 when it may not see
/// the registration. Another org's exclusivity is looked up only where it
/// can change an answer: a submitted registration, for a vendor writer (the
/// only one who approves).
fn facts(
    conn: &mut PgConnection,
    r: &Registration,
    actor: &Actor,
) -> Result<RegistrationFacts, ApiError> {
    let mut facts = RegistrationFacts {
        status: r.status,
        org_id: r.org_id,
        submitted_by: r.submitted_by_user_id,
        held_by_other: None,
    };
    if !rules::can_view(actor, &facts) {
        return Err(ApiError::NotFound);
    }
    if facts.status == RegStatus::Submitted && actor.role.is_vendor_writer() {
        facts.held_by_other = held_by_other(conn, r)?;
    }
    Ok(facts)
}

fn read_as(
    conn: &mut PgConnection,
    r: Registration,
    actor: &Actor,
) -> Result<RegistrationRead, ApiError> {
    let facts = facts(conn, &r, actor)?;
    Ok(RegistrationRead {
        allowed: rules::allowed_actions(actor, &facts),
        conflicts_visible: actor.is_vendor(),
        facts,
        row: r,
    })
}

/// One registration, or 404.
pub fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<RegistrationRead, ApiError> {
    let r = Registration::find(conn, id)?.ok_or(ApiError::NotFound)?;
    read_as(conn, r, actor)
}

/// The opportunity's latest registration, or 404.
pub fn latest_for(
    conn: &mut PgConnection,
    actor: &Actor,
    opportunity: OpportunityId,
) -> Result<RegistrationRead, ApiError> {
    visible(conn, actor, opportunity)?;
    let r = Registration::latest_for(conn, opportunity)?.ok_or(ApiError::NotFound)?;
    read_as(conn, r, actor)
}

/// Registrations the caller may see: all for vendor users; a partner's own
/// org's (and its resellers').
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    status: Option<RegStatus>,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<RegistrationRead>, ApiError> {
    let scope = crate::service::partner_scope(actor);
    let rows = Registration::list(conn, scope.as_deref(), status, after, fetch)?;
    rows.into_iter().map(|r| read_as(conn, r, actor)).collect()
}

/// A new registration on an opportunity the caller's org created.
#[derive(Debug, Clone)]
pub struct NewRegistrationCommand {
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
}

/// Registers a deal; other orgs' conflicting claims are recorded on it.
pub fn register(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    cmd: NewRegistrationCommand,
) -> Result<RegistrationRead, ApiError> {
    let (view, _) = locked_for(conn, actor, id, Action::RegisterDeal)?;
    // Read again in its own statement: a registration committed while this
    // waited for the opportunity's lock is not in that statement's snapshot.
    if !Registration::active_for_update(conn, id)?.is_empty() {
        return Err(ApiError::Conflict {
            code: "registration_exists",
            detail: "this opportunity already has a submitted or approved registration".into(),
        });
    }
    let lines = crate::service::labels(&cmd.product_lines, "product_lines")?;
    let customer = Customer::find(conn, view.row.customer_id)?
        .ok_or_else(|| ApiError::Internal("customer gone".into()))?;
    let conflicts = rules::conflicts(
        actor.org_id,
        &identity(&customer)?,
        &lines,
        &others(conn, &lines)?,
    );
    let r = Registration::insert(
        conn,
        NewRegistration {
            id: Uuid::now_v7(),
            opportunity_id: id,
            org_id: actor.org_id,
            customer_id: view.row.customer_id,
            product_lines: lines,
            justification: cmd
                .justification
                .map(|j| j.trim().to_owned())
                .filter(|j| !j.is_empty()),
            status: RegStatus::Submitted,
            conflict_ids: conflicts,
            submitted_by_user_id: actor.user_id,
        },
    )?;
    events::registration(conn, EventType::DealRegistrationSubmitted, &r)?;
    read_as(conn, r, actor)
}

fn decide_on(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    action: RegAction,
) -> Result<Registration, ApiError> {
    let r = Registration::find_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
    rules::decide(actor, &facts(conn, &r, actor)?, action)?;
    if_match.check(r.version)?;
    Ok(r)
}

/// Approves a registration with an exclusivity end date (default: today
/// plus the policy's days). Approvals are serialized, so the exclusivity
/// check sees every approval committed before it.
pub fn approve(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    until: Option<NaiveDate>,
) -> Result<RegistrationRead, ApiError> {
    store::lock_approvals(conn)?;
    decide_on(conn, actor, id, if_match, RegAction::Approve)?;
    let today = Utc::now().date_naive();
    let until = match until {
        Some(d) if d <= today => {
            return Err(ApiError::validation(
                "exclusive_until",
                "must be after today",
            ));
        }
        Some(d) => d,
        None => {
            let days = PolicyRow::load(conn)?
                .policy()
                .registration_exclusivity_days;
            today + chrono::Days::new(u64::from(days))
        }
    };
    let changes = RegistrationChanges {
        status: Some(RegStatus::Approved),
        exclusive_until: Some(Some(until)),
        decided_by_user_id: Some(Some(actor.user_id)),
        decided_at: Some(Some(Utc::now())),
        ..RegistrationChanges::default()
    };
    let r = record(conn, id, EventType::DealRegistrationApproved, changes)?;
    read_as(conn, r, actor)
}

/// Writes a registration's change and its event, in the caller's
/// transaction.
fn record(
    conn: &mut PgConnection,
    id: Uuid,
    kind: EventType,
    changes: RegistrationChanges,
) -> Result<Registration, ApiError> {
    let r = Registration::update(conn, id, changes)?;
    events::registration(conn, kind, &r)?;
    Ok(r)
}

/// Rejects a submitted registration, with a reason.
pub fn reject(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    reason: &str,
) -> Result<RegistrationRead, ApiError> {
    decide_on(conn, actor, id, if_match, RegAction::Reject)?;
    let changes = RegistrationChanges {
        status: Some(RegStatus::Rejected),
        decision_reason: Some(Some(reason.trim().to_owned())),
        decided_by_user_id: Some(Some(actor.user_id)),
        decided_at: Some(Some(Utc::now())),
        ..RegistrationChanges::default()
    };
    let r = record(conn, id, EventType::DealRegistrationRejected, changes)?;
    read_as(conn, r, actor)
}

fn status(status: RegStatus) -> RegistrationChanges {
    RegistrationChanges {
        status: Some(status),
        ..RegistrationChanges::default()
    }
}

/// Withdraws a submitted registration (the registering org).
pub fn withdraw(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<RegistrationRead, ApiError> {
    decide_on(conn, actor, id, if_match, RegAction::Withdraw)?;
    let r = record(
        conn,
        id,
        EventType::DealRegistrationWithdrawn,
        status(RegStatus::Withdrawn),
    )?;
    read_as(conn, r, actor)
}

/// The system expires one approved registration past its exclusivity.
pub fn expire(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    record(
        conn,
        id,
        EventType::DealRegistrationExpired,
        status(RegStatus::Expired),
    )
    .map(|_| ())
}
