//! The lifecycle table described as data (`GET /lifecycle`): for each action
//! the statuses it is taken from and leads to, the rows of who may take it
//! and the conditions beyond the table, read from the same rows `decide`
//! reads; and the transitions only the system takes. Tests hold the
//! description to `decide` for every cell and to `transition` for every
//! status it names.

use super::{Action, Condition, EXPIRABLE, REDISTRIBUTABLE, Relation, Row};
use crate::opportunity::Status;
use crate::role::Role;

/// Where an action leaves the opportunity's status.
enum Target {
    /// Where it was.
    Same,
    /// One of these (which one, the command decides: distribute in
    /// collaboration is accepted at once; close is won or lost).
    To(&'static [Status]),
}

/// Rule: where each action leads (`transition` decides it; a test holds
/// this to what it does). Actions that are not transitions leave the status
/// alone.
fn target(action: Action) -> Target {
    use Status::*;
    match action {
        Action::Approve => Target::To(&[Accepted]),
        Action::Reject => Target::To(&[Rejected]),
        Action::Withdraw => Target::To(&[Canceled]),
        Action::Distribute => Target::To(&[Delivered, Accepted]),
        Action::AutoAssign => Target::To(&[Delivered]),
        Action::Accept => Target::To(&[Accepted]),
        Action::Decline => Target::To(&[Declined]),
        Action::Return => Target::To(&[Returned]),
        Action::Close => Target::To(&[Won, Lost]),
        Action::Cancel => Target::To(&[Canceled]),
        Action::Edit
        | Action::Extend
        | Action::AssignOwner
        | Action::ManageCollaborators
        | Action::AddNote
        | Action::AddProgress
        | Action::RegisterDeal => Target::Same,
    }
}

/// One row of the table: who may take the action (a relation to the
/// opportunity, and the roles that can hold it) and from which statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoMay {
    pub relation: Relation,
    pub roles: &'static [Role],
    pub from: &'static [Status],
}

/// One action of the table.
///
/// A caller may take it when it can see the opportunity, its role is one of
/// a row's `roles`, it holds that row's relation, the opportunity is in one
/// of that row's `from` statuses, and none of the `conditions` stands in
/// the way. Otherwise: 404 when it cannot see the opportunity, 403 when no
/// row names it, 409 `invalid_transition` from another status, 409 with the
/// condition's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDescription {
    pub action: Action,
    /// Every status it may be taken from (its rows' together, in status
    /// order).
    pub from: Vec<Status>,
    /// Every status it may leave the opportunity in; `from` itself when it
    /// does not move the status.
    pub to: Vec<Status>,
    /// Whether it moves the status.
    pub changes_status: bool,
    pub who: Vec<WhoMay>,
    /// What can close it beyond the table.
    pub conditions: Vec<Condition>,
}

/// The whole table, one description per action in [`Action::ALL`] order.
pub fn table() -> Vec<ActionDescription> {
    Action::ALL.into_iter().map(describe).collect()
}

fn describe(action: Action) -> ActionDescription {
    let rows = action.rows();
    let from: Vec<Status> = Status::ALL
        .into_iter()
        .filter(|s| rows.iter().any(|Row(_, from)| from.contains(s)))
        .collect();
    let (to, changes_status) = match target(action) {
        Target::Same => (from.clone(), false),
        Target::To(to) => (to.to_vec(), true),
    };
    ActionDescription {
        action,
        from,
        to,
        changes_status,
        who: rows
            .iter()
            .map(|Row(relation, from)| WhoMay {
                relation: *relation,
                roles: relation.roles(),
                from,
            })
            .collect(),
        conditions: Condition::ALL
            .into_iter()
            .filter(|c| c.action() == action)
            .collect(),
    }
}

/// A transition no user takes: the system's (the deadline worker's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTransition {
    /// The name its status event records.
    pub name: &'static str,
    pub from: &'static [Status],
    pub to: Status,
    /// When the system takes it.
    pub description: &'static str,
}

/// The transitions only the system takes, from the statuses `transition`
/// accepts them in.
pub fn system_transitions() -> [SystemTransition; 2] {
    [
        SystemTransition {
            name: "expire",
            from: EXPIRABLE,
            to: Status::Expired,
            description: "an offer not answered before its `accept_by`",
        },
        SystemTransition {
            name: "auto_assign",
            from: REDISTRIBUTABLE,
            to: Status::Delivered,
            description: "after a decline or an expiry, when the policy re-assigns automatically \
                (at most `max_auto_reassignments` times): an offer to the best-ranked \
                candidate with a free slot",
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use chrono::Utc;

    use super::*;
    use crate::actor::Actor;
    use crate::error::DomainError;
    use crate::ids::OrgId;
    use crate::lifecycle::tests::{Cell, cells};
    use crate::lifecycle::{By, Command, Context, decide, transition};
    use crate::opportunity::{OpportunityFacts, Origin, can_view};
    use crate::policy::Policy;

    /// Whether `a` holds `r` on `o`, written from the relation's
    /// description (not from the table's own matcher). Roles are the
    /// description's `roles`, checked beside it.
    fn holds(r: Relation, a: &Actor, o: &OpportunityFacts) -> bool {
        let admin = a.role == Role::PartnerAdmin;
        let me = |u| u == a.user_id;
        match r {
            Relation::VendorWriter | Relation::AnyWriter => true,
            Relation::VendorWriterOnVendorOwned => o.owner_org_id == a.org_id,
            Relation::CreatorAdminOrOwner => {
                o.origin == Origin::Partner
                    && o.owner_org_id == a.org_id
                    && (admin || me(o.creator_user_id) || me(o.owner_user_id))
            }
            Relation::OfferedAdmin => admin && o.primary_partner_id == Some(a.org_id),
            Relation::PrimaryAdminOrOwner => {
                o.primary_partner_id == Some(a.org_id) && (admin || me(o.owner_user_id))
            }
            Relation::HoldingPartnerAdmin => {
                admin && (o.owner_org_id == a.org_id || o.primary_partner_id == Some(a.org_id))
            }
            Relation::Collaborator => o.collaborator_ids.contains(&a.org_id),
            Relation::ResellersDistributor => {
                o.primary_partner_id
                    .is_some_and(|p| a.reseller_ids.contains(&p))
                    || (o.origin == Origin::Partner && a.reseller_ids.contains(&o.owner_org_id))
            }
        }
    }

    /// The row of `d` through which the description lets `a` act on `o`.
    fn row_allowing<'d>(
        d: &'d ActionDescription,
        a: &Actor,
        o: &OpportunityFacts,
    ) -> Option<&'d WhoMay> {
        if !can_view(a, o) || d.conditions.iter().any(|c| c.blocks(o)) {
            return None;
        }
        d.who.iter().find(|w| {
            w.roles.contains(&a.role) && w.from.contains(&o.status) && holds(w.relation, a, o)
        })
    }

    /// Every status × action × role × relation (and each condition): the
    /// description allows exactly what `decide` allows, and every role it
    /// lists for a relation can act through it somewhere.
    #[test]
    fn the_described_table_allows_exactly_what_decide_allows_in_every_cell() {
        let table = table();
        let mut witnessed = HashSet::new();
        let mut count = 0;
        for Cell { actor, opp: o, .. } in cells() {
            for d in &table {
                count += 1;
                let described = row_allowing(d, &actor, &o);
                let decided = decide(&actor, &o, d.action);
                assert_eq!(
                    described.is_some(),
                    decided.is_ok(),
                    "{} {} {:?} {}: described {described:?}, decided {decided:?}",
                    actor.role,
                    o.status,
                    o.origin,
                    d.action
                );
                if let Some(w) = described {
                    witnessed.insert((w.relation, actor.role));
                }
                // A condition that blocks is the 409 it names.
                if let Some(c) = d.conditions.iter().find(|c| c.blocks(&o))
                    && let Err(DomainError::Conflict { code, .. }) = &decided
                {
                    assert_eq!(*code, c.code());
                }
            }
        }
        assert!(count > 15000, "{count} cells");
        for d in &table {
            for w in &d.who {
                for role in w.roles {
                    assert!(
                        witnessed.contains(&(w.relation, *role)),
                        "{}: no {role} ever acts as {}",
                        d.action,
                        w.relation
                    );
                }
            }
        }
    }

    /// One command of each kind a user sends, for the opportunity `o`.
    fn commands() -> Vec<Command> {
        let today = Utc::now().date_naive();
        let eur = "EUR".parse().unwrap();
        let money = crate::values::Money::parse("10", eur).unwrap();
        let reason = || crate::reason::ReasonInput::text("because");
        vec![
            Command::Approve,
            Command::Reject { reason: reason() },
            Command::Withdraw,
            Command::DistributeOne {
                partner: OrgId::new(),
                accept_by: None,
            },
            Command::DistributeCollaboration {
                partner: OrgId::new(),
                collaborators: vec![OrgId::new()],
            },
            Command::AutoAssign {
                partner: OrgId::new(),
            },
            Command::Accept,
            Command::Decline { reason: reason() },
            Command::Return { reason: reason() },
            Command::Close {
                won: true,
                reason: reason(),
                actual: Some(money),
            },
            Command::Close {
                won: false,
                reason: reason(),
                actual: None,
            },
            Command::Extend {
                expires_on: today + chrono::Days::new(10),
            },
            Command::Cancel { reason: reason() },
        ]
    }

    /// The statuses the description names as where an action leads are
    /// exactly those `transition` leads to from every cell it is allowed
    /// in; an action that keeps the status keeps it; the actions no command
    /// takes (edits, notes, progress, owners, collaborators, registrations)
    /// keep it by construction.
    #[test]
    fn the_described_to_statuses_are_where_transition_leads() {
        let policy = Policy::default();
        let ctx = Context {
            policy: &policy,
            vendor_org: OrgId::new(),
            now: Utc::now(),
        };
        let table = table();
        let cells = cells();
        let mut reached: HashMap<Action, HashSet<Status>> = HashMap::new();
        for command in commands() {
            let action = command.action().unwrap();
            let d = table.iter().find(|d| d.action == action).unwrap();
            for Cell { actor, opp: o, .. } in &cells {
                if decide(actor, o, action).is_err() {
                    continue;
                }
                let out = transition(By::User(actor), o, &command, &ctx)
                    .unwrap_or_else(|e| panic!("{command:?} from {}: {e:?}", o.status));
                assert!(d.to.contains(&out.to), "{action}: {} not described", out.to);
                if !d.changes_status {
                    assert_eq!(out.to, o.status, "{action} keeps the status");
                }
                reached.entry(action).or_default().insert(out.to);
            }
        }
        for d in &table {
            match reached.get(&d.action) {
                Some(to) if d.changes_status => {
                    assert_eq!(*to, d.to.iter().copied().collect(), "{}", d.action)
                }
                Some(_) => {}
                None => assert!(!d.changes_status, "{}: no command takes it", d.action),
            }
        }
        assert!(
            reached.len() >= 11,
            "every transition was reached: {reached:?}"
        );
    }

    /// Each system transition is taken from exactly its `from` statuses and
    /// leads to its `to`.
    #[test]
    fn the_described_system_transitions_are_the_ones_transition_takes() {
        let policy = Policy::default();
        let now = Utc::now();
        let ctx = Context {
            policy: &policy,
            vendor_org: OrgId::new(),
            now,
        };
        for t in system_transitions() {
            let command = match t.name {
                "expire" => Command::Expire,
                _ => Command::AutoAssign {
                    partner: OrgId::new(),
                },
            };
            assert_eq!(command.name(), t.name);
            for status in Status::ALL {
                let mut o = crate::opportunity::tests::facts(
                    status,
                    Origin::Vendor,
                    OrgId::new(),
                    crate::ids::UserId::new(),
                );
                o.accept_by = Some(now - chrono::Duration::seconds(1));
                let out = transition(By::System, &o, &command, &ctx);
                assert_eq!(out.is_ok(), t.from.contains(&status), "{} {status}", t.name);
                if let Ok(out) = out {
                    assert_eq!(out.to, t.to, "{}", t.name);
                }
            }
        }
    }

    #[test]
    fn relations_and_conditions_have_distinct_stable_names() {
        let names: HashSet<_> = Relation::ALL.iter().map(Relation::as_str).collect();
        assert_eq!(names.len(), Relation::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        let codes: HashSet<_> = Condition::ALL.iter().map(Condition::code).collect();
        assert_eq!(codes.len(), Condition::ALL.len());
        // Every relation the table names is described; no role it lists is
        // read-only (those are refused every write).
        for d in table() {
            for w in &d.who {
                assert!(!w.relation.description().is_empty());
                assert!(w.roles.iter().all(|r| !r.is_read_only()), "{}", d.action);
            }
        }
    }
}
