//! Lifecycle use cases: every transition of an opportunity, a user's or the
//! system's, runs through [`apply`] under a row lock in the caller's
//! transaction: load, let the domain decide every effect, take the
//! partner's capacity slot, check `If-Match`, write the change, its status
//! event and its outbox events.

use chrono::{DateTime, Utc};
use prm_domain::events::{EventType, for_transition};
use prm_domain::ids::{OpportunityId, UserId};
use prm_domain::lifecycle::{
    By, Command, Context, Outcome, PartnerState, RegistrationEffect, check_distribution,
    check_offer_deadline, transition,
};
use prm_domain::opportunity::{Action, OpportunityFacts, decide};
use prm_domain::policy::Policy;
use prm_domain::{Actor, DomainError, OrgId};
use prm_store::assignment::{clear_reassign, mark_assigned};
use prm_store::journal::Journal;
use prm_store::opportunities::{
    self as store, NewEvent, Opportunity, OpportunityView, StateChanges,
};
use prm_store::orgs::Org;
use prm_store::policies::PolicyRow;
use prm_store::users::User;
use prm_store::{PgConnection, deals};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::assignment::{best_with_slot, lock_partner, ranking_for};
use crate::service::opportunities::{OpportunityRead, announce, check_version, locked, locked_for};
use crate::service::{events, history};

/// A user's lifecycle request: a domain command, or one whose partner is
/// still to be checked (distribution) or chosen (auto-assign).
#[derive(Debug, Clone)]
pub enum Request {
    /// A command that names everything it needs.
    Command(Command),
    /// To one partner (`collaborators: None`) or in collaboration.
    Distribute {
        partner: OrgId,
        accept_by: Option<DateTime<Utc>>,
        collaborators: Option<Vec<OrgId>>,
    },
    /// To the best-ranked candidate with a free slot.
    AutoAssign,
}

impl Request {
    fn action(&self) -> Option<Action> {
        match self {
            Request::Command(c) => c.action(),
            Request::Distribute { .. } => Some(Action::Distribute),
            Request::AutoAssign => Some(Action::AutoAssign),
        }
    }
}

/// What a transition is applied with: the opportunity locked, its facts,
/// and the policy read once for the whole unit of work.
struct Locked {
    view: OpportunityView,
    before: OpportunityFacts,
    policy: Policy,
    vendor: OrgId,
}

fn lock(conn: &mut PgConnection, id: OpportunityId) -> Result<Locked, ApiError> {
    let (view, before) = locked(conn, id)?;
    let (policy, vendor) = PolicyRow::load_with_vendor(conn)?;
    Ok(Locked {
        view,
        before,
        policy: policy.policy(),
        vendor: vendor
            .map(OrgId)
            .ok_or_else(|| ApiError::Internal("no vendor org".into()))?,
    })
}

/// What an applied command did: the domain's outcome, what it changed
/// beside the status, and the opportunity read after it.
struct Applied {
    outcome: Outcome,
    side_effects: Vec<history::Change>,
    after: OpportunityView,
    /// Its status event and version, written with its outbox event.
    journal: Journal,
}

/// Applies one command to the locked opportunity: the domain decides every
/// effect, then they are written with the status event and the version's
/// changed fields.
fn apply(
    conn: &mut PgConnection,
    by: By<'_>,
    locked: &Locked,
    command: &Command,
) -> Result<Applied, ApiError> {
    let Locked {
        view,
        before,
        policy,
        vendor,
    } = locked;
    let id = view.row.id;
    let outcome = transition(
        by,
        before,
        command,
        &Context {
            policy,
            vendor_org: *vendor,
            now: Utc::now(),
        },
    )?;
    // An automatic offer's partner was chosen by `best_with_slot`, which
    // holds its lock and counted its slot; any other offer locks the
    // partner, so automatic offers racing it count it.
    if let Some(partner) = outcome.offered_to.filter(|_| !outcome.automatic) {
        lock_partner(conn, partner)?;
    }
    let closing = outcome.closing.as_ref();
    let changes = StateChanges {
        status: (outcome.to != before.status).then_some(outcome.to),
        currency: outcome.currency.map(Some),
        primary_partner_id: outcome.primary.map(Some),
        owner_org_id: outcome.owner.map(|(o, _)| o),
        owner_user_id: outcome.owner.map(|(_, u)| u),
        accept_by: outcome.accept_by,
        expires_on: outcome.expires_on.map(Some),
        extension_count: outcome
            .extension_count
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        close_reason: closing.map(|_| outcome.reason.clone()),
        close_reason_code: closing.map(|_| outcome.reason_code.clone()),
        actual_revenue: closing.map(|c| c.actual_revenue.as_ref().map(|m| m.amount().clone())),
        closed_at: closing.map(|c| Some(c.closed_at)),
        pipeline_phase: None,
        win_probability: None,
        reassign_pending: Some(outcome.reassign_pending),
        auto_assignments: outcome
            .automatic
            .then(|| view.row.auto_assignments.saturating_add(1)),
    };
    let side_effects = history::side_effects(&view.row, &changes);
    let mut journal = Journal::new();
    // What the transition changes beside the row comes first, so that the
    // row's update reads the opportunity as it is after all of it.
    if let Some(c) = &outcome.collaborators {
        store::set_collaborators(conn, id, c)?;
    }
    let ended = match outcome.registrations {
        RegistrationEffect::Unchanged => vec![],
        RegistrationEffect::Close => deals::close_for_opportunity(conn, id)?
            .into_iter()
            .map(|r| (EventType::DealRegistrationClosed, r))
            .collect(),
        RegistrationEffect::End => deals::end_for_opportunity(conn, id)?
            .into_iter()
            .map(|r| (EventType::DealRegistrationWithdrawn, r))
            .collect(),
    };
    for (kind, r) in &ended {
        journal.event(&events::registration_event(*kind, r));
    }
    if let Some(p) = outcome.offered_to {
        mark_assigned(conn, p)?;
    }
    let actor = match by {
        By::User(a) => Some(a),
        By::System => None,
    };
    let after = Opportunity::change_state(conn, id, changes, actor.map(|a| a.org_id))?;
    journal.status_event(NewEvent {
        id: Uuid::now_v7(),
        opportunity_id: id,
        actor_user_id: actor.map(|a| a.user_id),
        actor_org_id: actor.map(|a| a.org_id),
        partner_org_id: outcome.partner,
        action: command.name(),
        from_status: Some(before.status),
        to_status: outcome.to,
        reason: outcome.reason.as_deref(),
        changes: history::stored(&side_effects),
        reason_code: outcome.reason_code.clone(),
    });
    history::record_version(&mut journal, view, &after);
    Ok(Applied {
        outcome,
        side_effects,
        after,
        journal,
    })
}

fn event_kind(command: &Command, outcome: &Outcome) -> EventType {
    match command.action() {
        Some(action) => for_transition(action, outcome.to),
        None => EventType::OpportunityExpired,
    }
}

/// Performs a user's lifecycle request inside the caller's transaction:
/// permission first, then `If-Match`, then what the request itself asks.
pub fn perform(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    request: Request,
) -> Result<OpportunityRead, ApiError> {
    if let Request::Distribute {
        accept_by,
        collaborators,
        ..
    } = &request
    {
        check_offer_deadline(*accept_by, collaborators.is_some(), Utc::now())?;
    }
    let action = request
        .action()
        .ok_or_else(|| DomainError::forbidden("only the system expires offers"))?;
    let locked = lock(conn, id)?;
    // Decided again by `transition`, with the effects; here so that a caller
    // who may not act learns nothing about targets or versions.
    decide(actor, &locked.before, action)?;
    check_version(conn, &locked.view.row, if_match)?;
    let command = command_for(conn, &locked, request)?;
    let Applied {
        outcome,
        side_effects,
        after,
        journal,
    } = apply(conn, By::User(actor), &locked, &command)?;
    announce(
        conn,
        journal,
        actor,
        event_kind(&command, &outcome),
        Some(&locked.before),
        after,
        json!({"action": command.name(), "reason": outcome.reason,
               "reason_code": outcome.reason_code.as_ref().map(|c| c.as_str()),
               "actor_org_id": actor.org_id.0, "changes": history::as_seen(&side_effects, true)}),
    )
}

/// Turns a request into the domain's command, checking the partners it
/// names or choosing the best candidate with a free slot.
fn command_for(
    conn: &mut PgConnection,
    locked: &Locked,
    request: Request,
) -> Result<Command, ApiError> {
    Ok(match request {
        Request::Command(command) => command,
        Request::Distribute {
            partner,
            accept_by,
            collaborators,
        } => {
            let primary = partner_state(conn, partner)?;
            let others = collaborators
                .iter()
                .flatten()
                .map(|c| partner_state(conn, *c))
                .collect::<Result<Vec<_>, _>>()?;
            check_distribution(primary, &others)?;
            match collaborators {
                Some(collaborators) => Command::DistributeCollaboration {
                    partner,
                    collaborators,
                },
                None => Command::DistributeOne { partner, accept_by },
            }
        }
        Request::AutoAssign => {
            let ranking = ranking_for(conn, &locked.view.row, locked.policy.weights)?;
            Command::AutoAssign {
                partner: best_with_slot(conn, &ranking)?,
            }
        }
    })
}

fn partner_state(conn: &mut PgConnection, id: OrgId) -> Result<Option<PartnerState>, ApiError> {
    Ok(Org::find(conn, id)?.map(|o| PartnerState {
        id: o.id,
        is_partner: o.kind.is_partner(),
        active: o.active,
        accepting: o.accepting,
    }))
}

/// The system takes `command` on the locked opportunity and records its
/// event. `false` when the command does not apply in its status.
fn by_system(
    conn: &mut PgConnection,
    locked: &Locked,
    command: &Command,
) -> Result<bool, ApiError> {
    let Applied {
        outcome,
        side_effects,
        after,
        journal,
    } = match apply(conn, By::System, locked, command) {
        Ok(done) => done,
        Err(ApiError::InvalidTransition { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    events::opportunity_after(
        conn,
        journal,
        event_kind(command, &outcome),
        Some(&locked.before),
        &after.row,
        &after.facts(),
        json!({"action": command.name(), "changes": history::as_seen(&side_effects, true)}),
    )?;
    Ok(true)
}

/// The system expires one locked, overdue offer (and marks it for
/// re-assignment when the policy says so). `false` when it is not due.
pub fn expire(conn: &mut PgConnection, id: OpportunityId) -> Result<bool, ApiError> {
    let locked = lock(conn, id)?;
    by_system(conn, &locked, &Command::Expire)
}

/// The system offers one locked opportunity awaiting re-assignment to the
/// next candidate with a free slot (excluding those who declined, returned
/// or let it expire). `false` when nobody can take it.
pub fn reassign(conn: &mut PgConnection, id: OpportunityId) -> Result<bool, ApiError> {
    let locked = lock(conn, id)?;
    let ranking = ranking_for(conn, &locked.view.row, locked.policy.weights)?;
    let done = match best_with_slot(conn, &ranking) {
        Ok(partner) => by_system(conn, &locked, &Command::AutoAssign { partner })?,
        Err(ApiError::Conflict {
            code: "no_candidate",
            ..
        }) => {
            tracing::info!(opportunity = %id, excluded = ranking.excluded.len(), "no candidate to re-assign to");
            false
        }
        Err(e) => return Err(e),
    };
    if !done {
        clear_reassign(conn, id)?;
    }
    Ok(done)
}

/// Makes a user of the caller's own org the owner.
pub fn assign_owner(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    target: UserId,
) -> Result<OpportunityRead, ApiError> {
    let (view, _) = locked_for(conn, actor, id, Action::AssignOwner)?;
    check_version(conn, &view.row, if_match)?;
    // Same answer for a user of another org as for no user at all.
    let user = User::find(conn, target)?
        .filter(|u| u.org_id == actor.org_id)
        .ok_or_else(|| ApiError::validation("user_id", "no such user in your org"))?;
    if !user.active || user.role.is_read_only() {
        return Err(ApiError::validation(
            "user_id",
            "the owner must be an active user who may write",
        ));
    }
    let after = Opportunity::change_state(
        conn,
        id,
        StateChanges {
            owner_org_id: Some(user.org_id),
            owner_user_id: Some(user.id),
            ..StateChanges::default()
        },
        Some(actor.org_id),
    )?;
    let mut journal = Journal::new();
    history::record_version(&mut journal, &view, &after);
    announce(
        conn,
        journal,
        actor,
        EventType::OpportunityOwnerAssigned,
        None,
        after,
        json!({"owner_user_id": target}),
    )
}

/// Adds (`add`) or removes a collaborating partner (vendor writers, while
/// accepted).
pub fn change_collaborators(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    org: OrgId,
    add: bool,
) -> Result<OpportunityRead, ApiError> {
    let (view, facts) = locked_for(conn, actor, id, Action::ManageCollaborators)?;
    check_version(conn, &view.row, if_match)?;
    if add {
        if facts.collaborator_ids.contains(&org) {
            return Err(ApiError::validation("org_id", "already collaborates"));
        }
        let eligible = partner_state(conn, org)?.is_some_and(|p| p.is_partner && p.active)
            && facts.primary_partner_id.is_some_and(|p| p != org);
        if !eligible {
            return Err(ApiError::validation(
                "org_id",
                "must be an active partner org other than the primary partner",
            ));
        }
        store::add_collaborators(conn, id, &[org])?;
    } else if !store::remove_collaborator(conn, id, org)? {
        return Err(ApiError::NotFound);
    }
    let after = Opportunity::change_state(conn, id, StateChanges::default(), Some(actor.org_id))?;
    let mut journal = Journal::new();
    history::record_version(&mut journal, &view, &after);
    announce(
        conn,
        journal,
        actor,
        EventType::OpportunityCollaboratorsChanged,
        Some(&facts),
        after,
        json!({"org_id": org.0, "added": add}),
    )
}

/// The orgs collaborating on an opportunity the caller sees.
pub fn collaborators(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
) -> Result<Vec<Org>, ApiError> {
    let view = crate::service::opportunities::visible(conn, actor, id)?;
    view.collaborator_ids
        .iter()
        .map(|o| {
            Org::find(conn, *o)?.ok_or_else(|| ApiError::Internal("collaborator org gone".into()))
        })
        .collect()
}
