//! Lifecycle use cases: every transition of an opportunity, a user's or the
//! system's, runs through [`apply`] under a row lock in the caller's
//! transaction: load, let the domain decide every effect, take the
//! partner's capacity slot, check `If-Match`, write the change, its status
//! event and its outbox events.

use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::events::{EventType, for_transition};
use prm_domain::lifecycle::{
    By, Command, Context, Outcome, PartnerState, RegistrationEffect, check_distribution,
    check_offer_deadline, transition,
};
use prm_domain::opportunity::{Action, OpportunityFacts};
use prm_domain::org::OrgKind;
use prm_domain::values::Money;
use prm_domain::{Actor, OrgId, Role};
use prm_store::assignment::{mark_assigned, set_reassign};
use prm_store::opportunities::{self as store, NewEvent, Opportunity, StateChanges};
use prm_store::orgs::Org;
use prm_store::policies::PolicyRow;
use prm_store::users::User;
use prm_store::{PgConnection, deals};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::assignment::{best_with_slot, lock_partner, ranking_for, take_slot};
use crate::service::events;
use crate::service::opportunities::{OpportunityRead, changed, locked, locked_for};

/// A user's lifecycle request, in domain terms.
#[derive(Debug, Clone)]
pub enum Request {
    Approve,
    Reject(String),
    Withdraw,
    /// To one partner (`collaborators: None`) or in collaboration.
    Distribute {
        partner: Uuid,
        accept_by: Option<DateTime<Utc>>,
        collaborators: Option<Vec<Uuid>>,
    },
    AutoAssign,
    Accept,
    Decline(String),
    Return(String),
    Close {
        won: bool,
        reason: String,
        actual: Option<Money>,
    },
    Extend(NaiveDate),
    Cancel(String),
}

/// Applies one decided command to the locked opportunity; returns the facts
/// before the change and what it did.
fn apply(
    conn: &mut PgConnection,
    by: By<'_>,
    id: Uuid,
    if_match: &IfMatch,
    command: &Command,
) -> Result<(OpportunityFacts, Outcome), ApiError> {
    let (view, before) = locked(conn, id)?;
    // Permission first, then the precondition, then what the command asks.
    if let (By::User(actor), Some(action)) = (by, command.action()) {
        prm_domain::opportunity::decide(actor, &before, action)?;
        if_match.check(view.row.version)?;
    }
    let policy = PolicyRow::load(conn)?.policy();
    let vendor = Org::vendor(conn)?.ok_or_else(|| ApiError::Internal("no vendor org".into()))?;
    let outcome = transition(
        by,
        &before,
        command,
        &Context {
            policy: &policy,
            vendor_org: vendor.id.into(),
            now: Utc::now(),
        },
    )?;
    if_match.check(view.row.version)?;
    if let Some(partner) = outcome.offered_to {
        if outcome.within_capacity {
            take_slot(conn, partner)?;
        } else {
            lock_partner(conn, partner)?;
        }
    }
    let closing = outcome.closing.as_ref();
    let changes = StateChanges {
        status: (outcome.to != outcome.from).then(|| outcome.to.as_str().to_owned()),
        currency: outcome.currency.map(|c| Some(c.to_string())),
        primary_partner_id: outcome.primary.map(|p| Some(p.0)),
        owner_org_id: outcome.owner.map(|(o, _)| o.0),
        owner_user_id: outcome.owner.map(|(_, u)| u.0),
        accept_by: outcome.accept_by,
        expires_on: outcome.expires_on.map(Some),
        extension_count: outcome
            .extension_count
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        close_reason: closing.map(|c| Some(c.reason.clone())),
        actual_revenue: closing.map(|c| c.actual_revenue.as_ref().map(|m| m.amount().clone())),
        closed_at: closing.map(|c| Some(c.closed_at)),
        pipeline_phase: None,
        win_probability: None,
    };
    Opportunity::change_state(conn, id, &changes)?;
    if let Some(c) = &outcome.collaborators {
        let ids: Vec<Uuid> = c.iter().map(|o| o.0).collect();
        store::set_collaborators(conn, id, &ids)?;
    }
    match outcome.registrations {
        RegistrationEffect::Unchanged => {}
        RegistrationEffect::Close => {
            for r in deals::close_for_opportunity(conn, id)? {
                events::registration(conn, EventType::DealRegistrationClosed, &r)?;
            }
        }
        RegistrationEffect::End => {
            for r in deals::end_for_opportunity(conn, id)? {
                events::registration(conn, EventType::DealRegistrationWithdrawn, &r)?;
            }
        }
    }
    set_reassign(conn, id, outcome.reassign_pending, outcome.counts_as_auto)?;
    if let Some(p) = outcome.offered_to {
        mark_assigned(conn, p.0)?;
    }
    let actor = match by {
        By::User(a) => Some(a),
        By::System => None,
    };
    store::record_event(
        conn,
        &NewEvent {
            id: Uuid::now_v7(),
            opportunity_id: id,
            actor_user_id: actor.map(|a| a.user_id.0),
            actor_org_id: actor.map(|a| a.org_id.0),
            partner_org_id: outcome.partner.map(|p| p.0),
            action: outcome.action,
            from_status: Some(outcome.from.as_str()),
            to_status: outcome.to.as_str(),
            reason: outcome.reason.as_deref(),
        },
    )?;
    Ok((before, outcome))
}

fn event_kind(command: &Command, outcome: &Outcome) -> EventType {
    match command.action() {
        Some(action) => for_transition(action, outcome.to),
        None => EventType::OpportunityExpired,
    }
}

/// Performs a user's lifecycle request inside the caller's transaction.
pub fn perform(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    request: Request,
) -> Result<OpportunityRead, ApiError> {
    let command = command_for(conn, actor, id, request)?;
    let (before, outcome) = apply(conn, By::User(actor), id, if_match, &command)?;
    changed(
        conn,
        actor,
        event_kind(&command, &outcome),
        Some(&before),
        id,
        json!({"action": outcome.action, "reason": outcome.reason, "actor_org_id": actor.org_id.0}),
    )
}

/// Turns a request into the domain's command, resolving what it names
/// (partners, the best candidate) after the caller is known to be allowed.
fn command_for(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    request: Request,
) -> Result<Command, ApiError> {
    Ok(match request {
        Request::Approve => Command::Approve,
        Request::Reject(reason) => Command::Reject { reason },
        Request::Withdraw => Command::Withdraw,
        Request::Distribute {
            partner,
            accept_by,
            collaborators,
        } => {
            check_offer_deadline(accept_by, collaborators.is_some(), Utc::now())?;
            // Decide visibility and permission before looking at targets, so
            // a caller who may not distribute learns nothing about orgs.
            locked_for(conn, actor, id, Action::Distribute)?;
            let primary = partner_state(conn, partner)?;
            let others = collaborators
                .iter()
                .flatten()
                .map(|c| partner_state(conn, *c))
                .collect::<Result<Vec<_>, _>>()?;
            check_distribution(primary, &others)?;
            let partner = partner.into();
            match collaborators {
                Some(c) => Command::DistributeCollaboration {
                    partner,
                    collaborators: c.into_iter().map(Into::into).collect(),
                },
                None => Command::DistributeOne { partner, accept_by },
            }
        }
        Request::AutoAssign => {
            let (view, _) = locked_for(conn, actor, id, Action::AutoAssign)?;
            let weights = PolicyRow::load(conn)?.policy().weights;
            let ranking = ranking_for(conn, &view.row, weights)?;
            Command::AutoAssign {
                partner: best_with_slot(conn, &ranking)?,
            }
        }
        Request::Accept => Command::Accept,
        Request::Decline(reason) => Command::Decline { reason },
        Request::Return(reason) => Command::Return { reason },
        Request::Close {
            won,
            reason,
            actual,
        } => Command::Close {
            won,
            reason,
            actual,
        },
        Request::Extend(expires_on) => Command::Extend { expires_on },
        Request::Cancel(reason) => Command::Cancel { reason },
    })
}

fn partner_state(conn: &mut PgConnection, id: Uuid) -> Result<Option<PartnerState>, ApiError> {
    Ok(match Org::find(conn, id)? {
        None => None,
        Some(o) => Some(PartnerState {
            id: o.id.into(),
            is_partner: o
                .kind
                .parse::<OrgKind>()
                .map_err(ApiError::Internal)?
                .is_partner(),
            active: o.active,
            accepting: o.accepting,
        }),
    })
}

/// The system expires one locked, overdue offer (and marks it for
/// re-assignment when the policy says so). `false` when it is not due.
pub fn expire(conn: &mut PgConnection, id: Uuid) -> Result<bool, ApiError> {
    let command = Command::Expire;
    let (before, outcome) = match apply(conn, By::System, id, &IfMatch::Absent, &command) {
        Ok(done) => done,
        Err(ApiError::InvalidTransition { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    events::opportunity(
        conn,
        event_kind(&command, &outcome),
        Some(&before),
        id,
        json!({"action": outcome.action}),
    )?;
    Ok(true)
}

/// The system offers one locked opportunity awaiting re-assignment to the
/// next candidate with a free slot (excluding those who declined, returned
/// or let it expire). `false` when nobody can take it.
pub fn reassign(conn: &mut PgConnection, id: Uuid) -> Result<bool, ApiError> {
    let (view, _) = locked(conn, id)?;
    let weights = PolicyRow::load(conn)?.policy().weights;
    let ranking = ranking_for(conn, &view.row, weights)?;
    let partner = match best_with_slot(conn, &ranking) {
        Ok(p) => p,
        Err(ApiError::Conflict {
            code: "no_candidate",
            ..
        }) => {
            tracing::info!(opportunity = %id, excluded = ranking.excluded.len(), "no candidate to re-assign to");
            set_reassign(conn, id, false, false)?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let command = Command::AutoAssign { partner };
    let (before, outcome) = match apply(conn, By::System, id, &IfMatch::Absent, &command) {
        Ok(done) => done,
        Err(ApiError::InvalidTransition { .. }) => {
            set_reassign(conn, id, false, false)?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    events::opportunity(
        conn,
        event_kind(&command, &outcome),
        Some(&before),
        id,
        json!({"action": outcome.action}),
    )?;
    Ok(true)
}

/// Makes a user of the caller's own org the owner.
pub fn assign_owner(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    target: Uuid,
) -> Result<OpportunityRead, ApiError> {
    let (view, _) = locked_for(conn, actor, id, Action::AssignOwner)?;
    if_match.check(view.row.version)?;
    // Same answer for a user of another org as for no user at all.
    let user = User::find(conn, target)?
        .filter(|u| u.org_id == actor.org_id.0)
        .ok_or_else(|| ApiError::validation("user_id", "no such user in your org"))?;
    let role: Role = user.role.parse().map_err(ApiError::Internal)?;
    if !user.active || role.is_read_only() {
        return Err(ApiError::validation(
            "user_id",
            "the owner must be an active user who may write",
        ));
    }
    Opportunity::change_state(
        conn,
        id,
        &StateChanges {
            owner_org_id: Some(user.org_id),
            owner_user_id: Some(user.id),
            ..StateChanges::default()
        },
    )?;
    changed(
        conn,
        actor,
        EventType::OpportunityOwnerAssigned,
        None,
        id,
        json!({"owner_user_id": target}),
    )
}

/// Adds (`add`) or removes a collaborating partner (vendor writers, while
/// accepted).
pub fn change_collaborators(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    org: OrgId,
    add: bool,
) -> Result<OpportunityRead, ApiError> {
    let (view, facts) = locked_for(conn, actor, id, Action::ManageCollaborators)?;
    if_match.check(view.row.version)?;
    if add {
        if facts.collaborator_ids.contains(&org) {
            return Err(ApiError::validation("org_id", "already collaborates"));
        }
        let eligible = partner_state(conn, org.0)?.is_some_and(|p| p.is_partner && p.active)
            && facts.primary_partner_id.is_some_and(|p| p != org);
        if !eligible {
            return Err(ApiError::validation(
                "org_id",
                "must be an active partner org other than the primary partner",
            ));
        }
        store::add_collaborators(conn, id, &[org.0])?;
    } else if !store::remove_collaborator(conn, id, org.0)? {
        return Err(ApiError::NotFound);
    }
    Opportunity::change_state(conn, id, &StateChanges::default())?;
    changed(
        conn,
        actor,
        EventType::OpportunityCollaboratorsChanged,
        Some(&facts),
        id,
        json!({"org_id": org.0, "added": add}),
    )
}
