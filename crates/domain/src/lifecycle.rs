//! The opportunity lifecycle as data: for each action, the rows of DOMAIN.md's
//! transition table — who may take it, and from which statuses. One function
//! decides; the same table yields `allowed_actions`.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::opportunity::{OpportunityFacts, Origin, Status, can_view};
use crate::role::Role;

/// Something a caller may do to an existing opportunity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Change fields (`PATCH`).
    Edit,
    Approve,
    Reject,
    Withdraw,
    /// To one partner (→ `delivered`) or in collaboration (→ `accepted`).
    Distribute,
    /// To the best-ranked candidate (→ `delivered`).
    AutoAssign,
    Accept,
    Decline,
    Return,
    /// Won or lost.
    Close,
    Extend,
    Cancel,
    AssignOwner,
    /// Add or remove collaborators.
    ManageCollaborators,
    AddNote,
    AddProgress,
    RegisterDeal,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::Edit,
        Action::Approve,
        Action::Reject,
        Action::Withdraw,
        Action::Distribute,
        Action::AutoAssign,
        Action::Accept,
        Action::Decline,
        Action::Return,
        Action::Close,
        Action::Extend,
        Action::Cancel,
        Action::AssignOwner,
        Action::ManageCollaborators,
        Action::AddNote,
        Action::AddProgress,
        Action::RegisterDeal,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Edit => "edit",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Withdraw => "withdraw",
            Action::Distribute => "distribute",
            Action::AutoAssign => "auto_assign",
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::Return => "return",
            Action::Close => "close",
            Action::Extend => "extend",
            Action::Cancel => "cancel",
            Action::AssignOwner => "assign_owner",
            Action::ManageCollaborators => "manage_collaborators",
            Action::AddNote => "add_note",
            Action::AddProgress => "add_progress",
            Action::RegisterDeal => "register_deal",
        }
    }

    /// The rows of the transition table for this action.
    fn rows(&self) -> &'static [Row] {
        use Status::*;
        use Who::*;
        const OPEN: &[Status] = &[
            Draft,
            PendingApproval,
            Delivered,
            Accepted,
            Declined,
            Returned,
            Expired,
        ];
        const ANY: &[Status] = &Status::ALL;
        const REDISTRIBUTABLE: &[Status] = &[Draft, Declined, Returned, Expired];
        match self {
            Action::Edit => &[
                Row(VendorWriter, OPEN),
                Row(CreatorAdminOrOwner, &[PendingApproval]),
                Row(PrimaryAdminOrOwner, &[Accepted]),
            ],
            Action::Approve | Action::Reject => &[Row(VendorWriter, &[PendingApproval])],
            Action::Withdraw => &[Row(CreatorAdminOrOwner, &[PendingApproval])],
            Action::Distribute | Action::AutoAssign => &[Row(VendorWriter, REDISTRIBUTABLE)],
            Action::Accept | Action::Decline => &[Row(OfferedAdmin, &[Delivered])],
            Action::Return => &[Row(PrimaryAdminOrOwner, &[Accepted])],
            Action::Close | Action::Extend => &[
                Row(VendorWriter, &[Accepted]),
                Row(PrimaryAdminOrOwner, &[Accepted]),
            ],
            Action::Cancel => &[Row(VendorWriter, OPEN)],
            Action::AssignOwner => &[
                Row(VendorWriterOnVendorOwned, ANY),
                Row(HoldingPartnerAdmin, ANY),
            ],
            Action::ManageCollaborators => &[Row(VendorWriter, &[Accepted])],
            Action::AddNote => &[Row(AnyWriter, ANY)],
            Action::AddProgress => &[
                Row(VendorWriter, &[Accepted]),
                Row(PrimaryAdminOrOwner, &[Accepted]),
                Row(Collaborator, &[Accepted]),
                Row(ResellersDistributor, &[Accepted]),
            ],
            Action::RegisterDeal => &[Row(CreatorAdminOrOwner, &[PendingApproval, Accepted])],
        }
    }

    fn refusal(&self) -> &'static str {
        match self {
            Action::Edit => {
                "only vendor writers, the owner or its org's admin edit this opportunity; collaborators cannot change fields"
            }
            Action::Approve | Action::Reject => {
                "only vendor writers decide on partner-created opportunities"
            }
            Action::Withdraw => "only its creator or the creating org's admin withdraws it",
            Action::Distribute | Action::AutoAssign => {
                "only vendor writers distribute opportunities"
            }
            Action::Accept | Action::Decline => {
                "only the offered partner's admin accepts or declines"
            }
            Action::Return => {
                "only the primary partner's admin or the owner returns it; collaborators cannot"
            }
            Action::Close => {
                "only vendor writers, or the primary partner's admin or owner, close it; collaborators cannot"
            }
            Action::Extend => {
                "only vendor writers, or the primary partner's admin or owner, extend it; collaborators cannot"
            }
            Action::Cancel => "only vendor writers cancel opportunities",
            Action::AssignOwner => {
                "only the holding org's admin (or a vendor writer for vendor-owned ones) assigns the owner"
            }
            Action::ManageCollaborators => {
                "only vendor writers add or remove collaborators; partners never assign an opportunity to another partner"
            }
            Action::AddNote => "read-only roles cannot add notes",
            Action::AddProgress => {
                "only vendor writers, the primary partner's admin or owner, collaborators and the reseller's distributor add progress"
            }
            Action::RegisterDeal => "only the creating org's admin or the owner registers a deal",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`"))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the table: an actor relation and the statuses it may act from.
struct Row(Who, &'static [Status]);

/// How an actor relates to an opportunity.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// `vendor_admin` or `channel_manager`.
    VendorWriter,
    /// A vendor writer, on an opportunity the vendor owns.
    VendorWriterOnVendorOwned,
    /// The creating org's admin, the creator or the owner (partner-created only).
    CreatorAdminOrOwner,
    /// The offered (primary) partner's admin.
    OfferedAdmin,
    /// The primary partner's admin, or the owner when it is of that org.
    PrimaryAdminOrOwner,
    /// The admin of the org holding it: its owner org or its primary partner.
    HoldingPartnerAdmin,
    /// A user of a collaborating org.
    Collaborator,
    /// A distributor's user, on its reseller's opportunity.
    ResellersDistributor,
    /// Anyone who may write at all.
    AnyWriter,
}

impl Who {
    fn matches(self, a: &Actor, o: &OpportunityFacts) -> bool {
        let admin = a.role == Role::PartnerAdmin;
        let partner = !a.is_vendor();
        match self {
            Who::VendorWriter => a.role.is_vendor_writer(),
            Who::VendorWriterOnVendorOwned => {
                a.role.is_vendor_writer() && o.owner_org_id == a.org_id
            }
            Who::CreatorAdminOrOwner => {
                partner
                    && o.origin == Origin::Partner
                    && o.owner_org_id == a.org_id
                    && (admin || o.owner_user_id == a.user_id || o.creator_user_id == a.user_id)
            }
            Who::OfferedAdmin => admin && o.primary_partner_id == Some(a.org_id),
            Who::PrimaryAdminOrOwner => {
                partner
                    && o.primary_partner_id == Some(a.org_id)
                    && (admin || o.owner_user_id == a.user_id)
            }
            Who::HoldingPartnerAdmin => {
                admin && (o.owner_org_id == a.org_id || o.primary_partner_id == Some(a.org_id))
            }
            Who::Collaborator => partner && o.collaborator_ids.contains(&a.org_id),
            Who::ResellersDistributor => {
                partner
                    && (o
                        .primary_partner_id
                        .is_some_and(|p| a.reseller_ids.contains(&p))
                        || (o.origin == Origin::Partner
                            && a.reseller_ids.contains(&o.owner_org_id)))
            }
            Who::AnyWriter => true,
        }
    }
}

/// Decides whether `actor` may take `action` on `opp` now.
///
/// Rules: an opportunity the actor cannot see is 404 for every action;
/// read-only roles get 403 on every write whatever the status; an actor not
/// in any of the action's rows gets 403; a status not in the actor's rows is
/// a 409 naming the status and what the actor may do instead.
pub fn decide(actor: &Actor, opp: &OpportunityFacts, action: Action) -> Result<(), DomainError> {
    if !can_view(actor, opp) {
        return Err(DomainError::NotFound);
    }
    actor.ensure_can_write()?;
    let mut in_a_row = false;
    for Row(who, from) in action.rows() {
        if who.matches(actor, opp) {
            in_a_row = true;
            if from.contains(&opp.status) {
                return Ok(());
            }
        }
    }
    if !in_a_row {
        return Err(DomainError::forbidden(action.refusal()));
    }
    Err(DomainError::InvalidTransition {
        status: opp.status.to_string(),
        action: action.to_string(),
        allowed: allowed_actions(actor, opp)
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
    })
}

/// Every action `actor` may take on `opp` now: exactly those `decide` allows.
pub fn allowed_actions(actor: &Actor, opp: &OpportunityFacts) -> Vec<Action> {
    if !can_view(actor, opp) || actor.ensure_can_write().is_err() {
        return Vec::new();
    }
    Action::ALL
        .into_iter()
        .filter(|action| {
            action
                .rows()
                .iter()
                .any(|Row(who, from)| who.matches(actor, opp) && from.contains(&opp.status))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};
    use crate::ids::{OrgId, UserId};
    use crate::opportunity::tests::facts;

    /// A vendor-created opportunity offered to `primary` in `status`.
    fn offered(status: Status, primary: OrgId) -> OpportunityFacts {
        let mut o = facts(status, Origin::Vendor, OrgId::new(), UserId::new());
        o.primary_partner_id = Some(primary);
        o
    }

    fn forbidden(r: Result<(), DomainError>) -> bool {
        matches!(r, Err(DomainError::Forbidden(_)))
    }

    fn conflict(r: Result<(), DomainError>) -> bool {
        matches!(r, Err(DomainError::InvalidTransition { .. }))
    }

    #[test]
    fn vendor_writer_approves_and_rejects_partner_created_opportunities() {
        let cm = vendor(Role::ChannelManager);
        let o = facts(
            Status::PendingApproval,
            Origin::Partner,
            OrgId::new(),
            UserId::new(),
        );
        assert!(decide(&cm, &o, Action::Approve).is_ok());
        assert!(decide(&cm, &o, Action::Reject).is_ok());
        let partner = reseller_admin();
        let own = facts(
            Status::PendingApproval,
            Origin::Partner,
            partner.org_id,
            partner.user_id,
        );
        assert!(forbidden(decide(&partner, &own, Action::Approve)));
    }

    #[test]
    fn creator_or_its_org_admin_withdraws_a_pending_opportunity() {
        let am = reseller_admin().with_role(Role::AccountManager);
        let o = facts(
            Status::PendingApproval,
            Origin::Partner,
            am.org_id,
            am.user_id,
        );
        assert!(decide(&am, &o, Action::Withdraw).is_ok());
        let admin = Actor {
            user_id: UserId::new(),
            role: Role::PartnerAdmin,
            ..am.clone()
        };
        assert!(decide(&admin, &o, Action::Withdraw).is_ok());
        assert!(decide(&vendor(Role::ChannelManager), &o, Action::Withdraw).is_err());
        let mut approved = o.clone();
        approved.status = Status::Accepted;
        approved.primary_partner_id = Some(am.org_id);
        assert!(conflict(decide(&am, &approved, Action::Withdraw)));
    }

    #[test]
    fn vendor_writer_distributes_from_draft_declined_returned_or_expired() {
        let cm = vendor(Role::ChannelManager);
        for status in Status::ALL {
            let o = facts(status, Origin::Vendor, cm.org_id, cm.user_id);
            let ok = matches!(
                status,
                Status::Draft | Status::Declined | Status::Returned | Status::Expired
            );
            assert_eq!(decide(&cm, &o, Action::Distribute).is_ok(), ok, "{status}");
        }
    }

    #[test]
    fn only_the_offered_orgs_admin_accepts_or_declines() {
        let admin = reseller_admin();
        let o = offered(Status::Delivered, admin.org_id);
        assert!(decide(&admin, &o, Action::Accept).is_ok());
        assert!(decide(&admin, &o, Action::Decline).is_ok());
        let am = admin.clone().with_role(Role::AccountManager);
        let mut owned = o.clone();
        owned.owner_user_id = am.user_id;
        assert!(forbidden(decide(&am, &owned, Action::Accept)));
        assert!(forbidden(decide(
            &vendor(Role::ChannelManager),
            &o,
            Action::Accept
        )));
        // A distributor sees its reseller's offer but does not answer it.
        let mut d = distributor_admin();
        d.reseller_ids = vec![admin.org_id];
        assert!(forbidden(decide(&d, &o, Action::Accept)));
        assert!(conflict(decide(
            &admin,
            &offered(Status::Accepted, admin.org_id),
            Action::Accept
        )));
    }

    #[test]
    fn collaborators_cannot_close_extend_or_return() {
        let collab = reseller_admin();
        let mut o = offered(Status::Accepted, OrgId::new());
        o.collaborator_ids = vec![collab.org_id];
        for action in [Action::Close, Action::Extend, Action::Return, Action::Edit] {
            assert!(forbidden(decide(&collab, &o, action)), "{action}");
        }
        assert!(decide(&collab, &o, Action::AddNote).is_ok());
        assert!(decide(&collab, &o, Action::AddProgress).is_ok());
    }

    #[test]
    fn primary_partners_admin_or_owner_closes_returns_and_extends() {
        let admin = reseller_admin();
        let o = offered(Status::Accepted, admin.org_id);
        for action in [Action::Close, Action::Extend, Action::Return] {
            assert!(decide(&admin, &o, action).is_ok(), "{action}");
        }
        let owner = admin.clone().with_role(Role::AccountManager);
        let mut owned = o.clone();
        owned.owner_user_id = owner.user_id;
        owned.owner_org_id = owner.org_id;
        assert!(decide(&owner, &owned, Action::Close).is_ok());
        let cm = vendor(Role::ChannelManager);
        assert!(decide(&cm, &o, Action::Close).is_ok());
        assert!(decide(&cm, &o, Action::Extend).is_ok());
        assert!(
            forbidden(decide(&cm, &o, Action::Return)),
            "the vendor does not return to itself"
        );
    }

    #[test]
    fn partners_never_assign_an_opportunity_to_another_partner() {
        let admin = reseller_admin();
        for status in Status::ALL {
            let o = offered(status, admin.org_id);
            assert!(
                !allowed_actions(&admin, &o)
                    .iter()
                    .any(|a| matches!(a, Action::Distribute | Action::ManageCollaborators)),
                "{status}"
            );
        }
    }

    #[test]
    fn vendor_writer_cancels_anything_not_terminal() {
        let cm = vendor(Role::ChannelManager);
        for status in Status::ALL {
            let o = facts(status, Origin::Vendor, cm.org_id, cm.user_id);
            assert_eq!(
                decide(&cm, &o, Action::Cancel).is_ok(),
                !status.is_terminal(),
                "{status}"
            );
        }
    }

    #[test]
    fn assign_owner_by_the_holding_partner_admin_or_a_vendor_writer_for_vendor_owned() {
        let admin = reseller_admin();
        let o = offered(Status::Accepted, admin.org_id);
        assert!(decide(&admin, &o, Action::AssignOwner).is_ok());
        let am = admin.clone().with_role(Role::AccountManager);
        let mut owned = o.clone();
        owned.owner_user_id = am.user_id;
        assert!(forbidden(decide(&am, &owned, Action::AssignOwner)));
        let cm = vendor(Role::ChannelManager);
        let vendor_owned = facts(Status::Draft, Origin::Vendor, cm.org_id, cm.user_id);
        assert!(decide(&cm, &vendor_owned, Action::AssignOwner).is_ok());
        let mut partner_owned = o.clone();
        partner_owned.owner_org_id = admin.org_id;
        assert!(forbidden(decide(&cm, &partner_owned, Action::AssignOwner)));
    }

    #[test]
    fn only_vendor_writers_manage_collaborators_while_accepted() {
        let cm = vendor(Role::ChannelManager);
        assert!(
            decide(
                &cm,
                &offered(Status::Accepted, OrgId::new()),
                Action::ManageCollaborators
            )
            .is_ok()
        );
        assert!(conflict(decide(
            &cm,
            &offered(Status::Delivered, OrgId::new()),
            Action::ManageCollaborators
        )));
        let admin = reseller_admin();
        assert!(forbidden(decide(
            &admin,
            &offered(Status::Accepted, admin.org_id),
            Action::ManageCollaborators
        )));
    }

    #[test]
    fn distributor_adds_progress_on_its_resellers_opportunities() {
        let d = distributor_admin();
        let o = offered(Status::Accepted, d.reseller_ids[0]);
        assert!(decide(&d, &o, Action::AddProgress).is_ok());
        assert!(forbidden(decide(&d, &o, Action::Close)));
    }

    #[test]
    fn creating_org_registers_deals_on_its_own_opportunities() {
        let am = reseller_admin().with_role(Role::AccountManager);
        let o = facts(
            Status::PendingApproval,
            Origin::Partner,
            am.org_id,
            am.user_id,
        );
        assert!(decide(&am, &o, Action::RegisterDeal).is_ok());
        let admin = reseller_admin();
        let vendor_made = offered(Status::Accepted, admin.org_id);
        assert!(forbidden(decide(
            &admin,
            &vendor_made,
            Action::RegisterDeal
        )));
    }

    #[test]
    fn a_wrong_status_is_409_naming_the_status_and_the_allowed_actions() {
        let cm = vendor(Role::ChannelManager);
        let o = facts(Status::Won, Origin::Vendor, cm.org_id, cm.user_id);
        match decide(&cm, &o, Action::Close) {
            Err(DomainError::InvalidTransition {
                status, allowed, ..
            }) => {
                assert_eq!(status, "won");
                assert_eq!(allowed, vec!["assign_owner", "add_note"]);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every status × action × role × relation: `allowed_actions` and `decide`
    /// agree, and read-only roles are refused everything.
    #[test]
    fn allowed_actions_agree_with_decide_for_every_status_action_and_role() {
        let partner_org = OrgId::new();
        let mut cells = 0;
        for role in Role::ALL {
            let actors: Vec<Actor> = if role.is_vendor_role() {
                vec![vendor(role)]
            } else {
                let base = Actor {
                    org_id: partner_org,
                    ..reseller_admin().with_role(role)
                };
                let mut dist = distributor_admin().with_role(role);
                dist.reseller_ids = vec![partner_org];
                vec![base, dist]
            };
            for actor in actors {
                for status in Status::ALL {
                    for origin in [Origin::Vendor, Origin::Partner] {
                        for relation in 0..4 {
                            let mut o = facts(status, origin, partner_org, actor.user_id);
                            match relation {
                                0 => o.primary_partner_id = Some(partner_org),
                                1 => o.collaborator_ids = vec![actor.org_id],
                                2 => o.owner_user_id = UserId::new(),
                                _ => o.owner_org_id = actor.org_id,
                            }
                            let allowed = allowed_actions(&actor, &o);
                            for action in Action::ALL {
                                cells += 1;
                                let decided = decide(&actor, &o, action);
                                assert_eq!(
                                    allowed.contains(&action),
                                    decided.is_ok(),
                                    "{role} {status} {origin:?} relation {relation} {action}: {decided:?}"
                                );
                                if role.is_read_only() && can_view(&actor, &o) {
                                    assert!(forbidden(decided), "{role} is read-only");
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(cells > 5000, "{cells} cells");
    }
}

/// What a transition asks for, beyond who takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Approve,
    Reject,
    Withdraw,
    /// To one partner, who must accept before the deadline.
    DistributeOne {
        partner: crate::ids::OrgId,
    },
    /// To the best-ranked candidate, chosen by the caller from the ranking.
    AutoAssign {
        partner: crate::ids::OrgId,
    },
    /// To a primary partner and collaborators, accepted at once.
    DistributeCollaboration {
        partner: crate::ids::OrgId,
        collaborators: Vec<crate::ids::OrgId>,
    },
    Accept,
    Decline,
    Return,
    Close {
        won: bool,
    },
    Extend,
    Cancel,
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::Approve => Action::Approve,
            Command::Reject => Action::Reject,
            Command::Withdraw => Action::Withdraw,
            Command::DistributeOne { .. } | Command::DistributeCollaboration { .. } => {
                Action::Distribute
            }
            Command::AutoAssign { .. } => Action::AutoAssign,
            Command::Accept => Action::Accept,
            Command::Decline => Action::Decline,
            Command::Return => Action::Return,
            Command::Close { .. } => Action::Close,
            Command::Extend => Action::Extend,
            Command::Cancel => Action::Cancel,
        }
    }
}

/// What a decided transition changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub to: Status,
    /// New primary partner, when it changes.
    pub primary: Option<crate::ids::OrgId>,
    /// New collaborator set, when it changes.
    pub collaborators: Option<Vec<crate::ids::OrgId>>,
    /// New owner (org, user), when it changes.
    pub owner: Option<(crate::ids::OrgId, crate::ids::UserId)>,
    /// The partner org the change concerns (shown to it in its timeline).
    pub partner: Option<crate::ids::OrgId>,
}

/// Decides a transition and what it changes.
///
/// Rules: approving makes the creating org the primary partner; distribution
/// replaces the primary partner and collaborators; accepting hands ownership
/// to the accepting admin's org; returning gives it back to its creator
/// (`vendor_org` for the vendor side).
pub fn transition(
    actor: &Actor,
    opp: &OpportunityFacts,
    command: &Command,
    vendor_org: crate::ids::OrgId,
) -> Result<Outcome, DomainError> {
    decide(actor, opp, command.action())?;
    let same = Outcome {
        to: opp.status,
        primary: None,
        collaborators: None,
        owner: None,
        partner: opp.primary_partner_id,
    };
    Ok(match command {
        Command::Approve => Outcome {
            to: Status::Accepted,
            primary: Some(opp.owner_org_id),
            partner: Some(opp.owner_org_id),
            ..same
        },
        Command::Reject => Outcome {
            to: Status::Rejected,
            partner: Some(opp.owner_org_id),
            ..same
        },
        Command::Withdraw => Outcome {
            to: Status::Canceled,
            partner: Some(opp.owner_org_id),
            ..same
        },
        Command::DistributeOne { partner } | Command::AutoAssign { partner } => Outcome {
            to: Status::Delivered,
            primary: Some(*partner),
            collaborators: Some(Vec::new()),
            partner: Some(*partner),
            owner: None,
        },
        Command::DistributeCollaboration {
            partner,
            collaborators,
        } => Outcome {
            to: Status::Accepted,
            primary: Some(*partner),
            collaborators: Some(collaborators.clone()),
            partner: Some(*partner),
            owner: None,
        },
        Command::Accept => Outcome {
            to: Status::Accepted,
            owner: Some((actor.org_id, actor.user_id)),
            ..same
        },
        Command::Decline => Outcome {
            to: Status::Declined,
            ..same
        },
        Command::Return => Outcome {
            to: Status::Returned,
            owner: (opp.origin == Origin::Vendor).then_some((vendor_org, opp.creator_user_id)),
            ..same
        },
        Command::Close { won } => Outcome {
            to: if *won { Status::Won } else { Status::Lost },
            ..same
        },
        Command::Extend => same,
        Command::Cancel => Outcome {
            to: Status::Canceled,
            ..same
        },
    })
}

/// What the system (the deadline worker) may do without an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemCommand {
    /// An offer whose `accept_by` has passed.
    Expire,
    /// Automatic re-assignment to the next candidate.
    Reassign { partner: crate::ids::OrgId },
}

/// Rule: the system expires a `delivered` offer once `accept_by` has passed,
/// and re-assigns from the statuses a vendor writer could distribute from.
pub fn system_transition(
    opp: &OpportunityFacts,
    accept_by: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    command: SystemCommand,
) -> Result<Outcome, DomainError> {
    let refuse = |action: &str| DomainError::InvalidTransition {
        status: opp.status.to_string(),
        action: action.to_owned(),
        allowed: Vec::new(),
    };
    match command {
        SystemCommand::Expire => {
            if opp.status != Status::Delivered || accept_by.is_none_or(|t| t > now) {
                return Err(refuse("expire"));
            }
            Ok(Outcome {
                to: Status::Expired,
                primary: None,
                collaborators: None,
                owner: None,
                partner: opp.primary_partner_id,
            })
        }
        SystemCommand::Reassign { partner } => {
            if !matches!(
                opp.status,
                Status::Declined | Status::Expired | Status::Returned | Status::Draft
            ) {
                return Err(refuse("auto_assign"));
            }
            Ok(Outcome {
                to: Status::Delivered,
                primary: Some(partner),
                collaborators: Some(Vec::new()),
                owner: None,
                partner: Some(partner),
            })
        }
    }
}

/// Rule (automatic re-assignment): on decline or expiry, when the policy
/// says so and its limit is not reached.
pub fn should_reassign(policy: &crate::policy::Policy, to: Status, auto_assignments: u32) -> bool {
    matches!(to, Status::Declined | Status::Expired)
        && policy.auto_reassign
        && auto_assignments < policy.max_auto_reassignments
}

/// A partner org as the distribution rules see it.
#[derive(Debug, Clone, Copy)]
pub struct PartnerState {
    pub id: crate::ids::OrgId,
    pub is_partner: bool,
    pub active: bool,
    pub accepting: bool,
}

/// Rule: an offer goes to an active partner org that is accepting; the
/// collaborators are other active partners, each once.
pub fn check_distribution(
    primary: Option<PartnerState>,
    collaborators: &[Option<PartnerState>],
) -> Result<(), DomainError> {
    let mut v = crate::error::Violations::new();
    match primary {
        None => v.add("partner_id", "no such partner org"),
        Some(p) if !p.is_partner => v.add("partner_id", "must be a distributor or reseller"),
        Some(p) if !p.active => v.add("partner_id", "the partner is deactivated"),
        Some(_) => {}
    }
    let mut seen = Vec::new();
    for (i, c) in collaborators.iter().enumerate() {
        let field = format!("collaborator_ids[{i}]");
        match c {
            None => v.add(field, "no such partner org"),
            Some(c) if !c.is_partner => v.add(field, "must be a distributor or reseller"),
            Some(c) if !c.active => v.add(field, "the partner is deactivated"),
            Some(c) if primary.is_some_and(|p| p.id == c.id) => {
                v.add(field, "the primary partner cannot also collaborate")
            }
            Some(c) if seen.contains(&c.id) => v.add(field, "listed twice"),
            Some(c) => seen.push(c.id),
        }
    }
    v.into_result()?;
    if let Some(p) = primary
        && !p.accepting
    {
        return Err(DomainError::Conflict {
            code: "partner_not_accepting",
            detail: "the partner has paused itself and takes no new opportunities".to_owned(),
        });
    }
    Ok(())
}

/// Rule (extension policy): at most `max_extensions` extensions, each to a
/// later date no further than `max_extension_days` from today.
pub fn check_extension(
    policy: &crate::policy::Policy,
    extension_count: u32,
    current: Option<chrono::NaiveDate>,
    requested: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<(), DomainError> {
    if extension_count >= policy.max_extensions {
        return Err(DomainError::Conflict {
            code: "extension_limit_reached",
            detail: format!(
                "the policy allows {} extensions and {} have been used",
                policy.max_extensions, extension_count
            ),
        });
    }
    let floor = current.map_or(today, |c| c.max(today));
    if requested <= floor {
        return Err(DomainError::invalid(
            "expires_on",
            format!("must be later than {floor}"),
        ));
    }
    let horizon = today + chrono::Days::new(u64::from(policy.max_extension_days));
    if requested > horizon {
        return Err(DomainError::invalid(
            "expires_on",
            format!(
                "the policy allows at most {} days ahead ({horizon})",
                policy.max_extension_days
            ),
        ));
    }
    Ok(())
}

/// Rule: won opportunities give their actual revenue; it is in the
/// opportunity's currency when it has one.
pub fn check_close(
    won: bool,
    actual: Option<&crate::values::Money>,
    currency: Option<crate::values::CurrencyCode>,
) -> Result<(), DomainError> {
    match actual {
        None if won => Err(DomainError::invalid(
            "actual_revenue",
            "a won opportunity gives its actual revenue",
        )),
        Some(m) if currency.is_some_and(|c| c != m.currency()) => Err(DomainError::invalid(
            "actual_revenue.currency",
            "must be the opportunity's currency",
        )),
        _ => Ok(()),
    }
}

/// Rule: partners move the pipeline phase forward only; the vendor may
/// correct it either way.
pub fn check_phase(
    actor: &Actor,
    latest: Option<crate::opportunity::Phase>,
    next: crate::opportunity::Phase,
) -> Result<(), DomainError> {
    match latest {
        Some(current) if !actor.is_vendor() && next < current => Err(DomainError::invalid(
            "development_phase",
            format!(
                "partners move phases forward only; it is `{}`",
                current.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;
    use crate::actor::tests::{reseller_admin, vendor};
    use crate::ids::{OrgId, UserId};
    use crate::opportunity::Phase;
    use crate::opportunity::tests::facts;
    use crate::policy::Policy;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn approval_makes_the_creating_org_the_primary_partner() {
        let cm = vendor(Role::ChannelManager);
        let org = OrgId::new();
        let o = facts(Status::PendingApproval, Origin::Partner, org, UserId::new());
        let out = transition(&cm, &o, &Command::Approve, cm.org_id).unwrap();
        assert_eq!(out.to, Status::Accepted);
        assert_eq!(out.primary, Some(org));
    }

    #[test]
    fn accepting_hands_ownership_to_the_accepting_org() {
        let admin = reseller_admin();
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(admin.org_id);
        let out = transition(&admin, &o, &Command::Accept, OrgId::new()).unwrap();
        assert_eq!(out.owner, Some((admin.org_id, admin.user_id)));
    }

    #[test]
    fn returning_gives_ownership_back_to_the_vendor_creator() {
        let admin = reseller_admin();
        let vendor_org = OrgId::new();
        let mut o = facts(
            Status::Accepted,
            Origin::Vendor,
            admin.org_id,
            admin.user_id,
        );
        o.creator_user_id = UserId::new();
        o.primary_partner_id = Some(admin.org_id);
        let out = transition(&admin, &o, &Command::Return, vendor_org).unwrap();
        assert_eq!(out.to, Status::Returned);
        assert_eq!(out.owner, Some((vendor_org, o.creator_user_id)));
    }

    #[test]
    fn collaboration_distribution_is_accepted_at_once() {
        let cm = vendor(Role::ChannelManager);
        let o = facts(Status::Draft, Origin::Vendor, cm.org_id, cm.user_id);
        let (p, c) = (OrgId::new(), OrgId::new());
        let out = transition(
            &cm,
            &o,
            &Command::DistributeCollaboration {
                partner: p,
                collaborators: vec![c],
            },
            cm.org_id,
        )
        .unwrap();
        assert_eq!(out.to, Status::Accepted);
        assert_eq!(out.collaborators, Some(vec![c]));
        let out = transition(&cm, &o, &Command::DistributeOne { partner: p }, cm.org_id).unwrap();
        assert_eq!(out.to, Status::Delivered);
        assert_eq!(out.collaborators, Some(vec![]));
    }

    fn state(active: bool, accepting: bool) -> Option<PartnerState> {
        Some(PartnerState {
            id: OrgId::new(),
            is_partner: true,
            active,
            accepting,
        })
    }

    #[test]
    fn distribution_goes_to_active_accepting_partners() {
        assert!(check_distribution(state(true, true), &[state(true, false)]).is_ok());
        assert!(matches!(
            check_distribution(state(true, false), &[]),
            Err(DomainError::Conflict {
                code: "partner_not_accepting",
                ..
            })
        ));
        assert!(matches!(
            check_distribution(state(false, true), &[]),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            check_distribution(None, &[]),
            Err(DomainError::Invalid(_))
        ));
        let p = state(true, true);
        match check_distribution(p, &[p, None]) {
            Err(DomainError::Invalid(f)) => assert_eq!(f.len(), 2),
            other => panic!("{other:?}"),
        }
        let vendor_org = Some(PartnerState {
            id: OrgId::new(),
            is_partner: false,
            active: true,
            accepting: true,
        });
        assert!(check_distribution(vendor_org, &[]).is_err());
    }

    #[test]
    fn extensions_stay_within_the_policy() {
        let p = Policy {
            max_extensions: 2,
            max_extension_days: 90,
            ..Policy::default()
        };
        let today = day("2027-01-01");
        let current = Some(day("2027-02-01"));
        assert!(check_extension(&p, 0, current, day("2027-03-01"), today).is_ok());
        assert!(check_extension(&p, 1, current, day("2027-04-01"), today).is_ok());
        assert!(matches!(
            check_extension(&p, 2, current, day("2027-03-01"), today),
            Err(DomainError::Conflict {
                code: "extension_limit_reached",
                ..
            })
        ));
        assert!(
            check_extension(&p, 0, current, day("2027-01-15"), today).is_err(),
            "earlier"
        );
        assert!(
            check_extension(&p, 0, current, day("2027-04-02"), today).is_err(),
            "beyond horizon"
        );
    }

    #[test]
    fn a_won_close_gives_actual_revenue_in_the_opportunitys_currency() {
        let eur: crate::values::CurrencyCode = "EUR".parse().unwrap();
        let usd: crate::values::CurrencyCode = "USD".parse().unwrap();
        let m = crate::values::Money::parse("10", usd).unwrap();
        assert!(check_close(true, None, Some(eur)).is_err());
        assert!(check_close(false, None, Some(eur)).is_ok());
        assert!(check_close(true, Some(&m), Some(eur)).is_err());
        assert!(check_close(true, Some(&m), Some(usd)).is_ok());
        assert!(check_close(true, Some(&m), None).is_ok());
    }

    #[test]
    fn the_system_expires_only_delivered_offers_past_their_deadline() {
        let now = chrono::Utc::now();
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(OrgId::new());
        let past = Some(now - chrono::Duration::seconds(1));
        let out = system_transition(&o, past, now, SystemCommand::Expire).unwrap();
        assert_eq!(out.to, Status::Expired);
        assert_eq!(out.partner, o.primary_partner_id);
        let future = Some(now + chrono::Duration::hours(1));
        assert!(system_transition(&o, future, now, SystemCommand::Expire).is_err());
        o.status = Status::Accepted;
        assert!(system_transition(&o, past, now, SystemCommand::Expire).is_err());
    }

    #[test]
    fn reassignment_follows_the_policy_and_its_limit() {
        let p = Policy {
            auto_reassign: true,
            max_auto_reassignments: 2,
            ..Policy::default()
        };
        assert!(should_reassign(&p, Status::Declined, 0));
        assert!(should_reassign(&p, Status::Expired, 1));
        assert!(!should_reassign(&p, Status::Expired, 2));
        assert!(!should_reassign(&p, Status::Returned, 0));
        let off = Policy {
            auto_reassign: false,
            ..p
        };
        assert!(!should_reassign(&off, Status::Declined, 0));
        let now = chrono::Utc::now();
        let declined = facts(
            Status::Declined,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        let out = system_transition(
            &declined,
            None,
            now,
            SystemCommand::Reassign {
                partner: OrgId::new(),
            },
        )
        .unwrap();
        assert_eq!(out.to, Status::Delivered);
        let won = facts(Status::Won, Origin::Vendor, OrgId::new(), UserId::new());
        assert!(
            system_transition(
                &won,
                None,
                now,
                SystemCommand::Reassign {
                    partner: OrgId::new()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn partners_move_phases_forward_only() {
        let admin = reseller_admin();
        assert!(check_phase(&admin, Some(Phase::Propose), Phase::Negotiate).is_ok());
        assert!(check_phase(&admin, Some(Phase::Propose), Phase::Propose).is_ok());
        assert!(check_phase(&admin, Some(Phase::Propose), Phase::Develop).is_err());
        assert!(
            check_phase(
                &vendor(Role::ChannelManager),
                Some(Phase::Commit),
                Phase::Qualify
            )
            .is_ok()
        );
        assert!(check_phase(&admin, None, Phase::Commit).is_ok());
    }
}
