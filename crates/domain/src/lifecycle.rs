//! The opportunity lifecycle as data: for each action, the rows of DOMAIN.md's
//! transition table — who may take it, and from which statuses. One function
//! decides; the same table yields `allowed_actions`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::{OrgId, UserId};
use crate::opportunity::{OpportunityFacts, Origin, Status, can_view};
use crate::policy::Policy;
use crate::reason::{Reason, ReasonCode, ReasonInput};
use crate::role::Role;
use crate::values::{CurrencyCode, Money};

mod describe;
mod edit;
pub use describe::{ActionDescription, SystemTransition, WhoMay, system_transitions, table};
pub use edit::{Field, authorize_edit, editable_fields};

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
        use Relation::*;
        use Status::*;
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
struct Row(Relation, &'static [Status]);

/// How an actor relates to an opportunity: who a row of the table names.
/// Public with a stable name and a description each, so that the table can
/// be described (`GET /lifecycle`) without handing out how it is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
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

impl Relation {
    /// How many relations there are.
    const COUNT: usize = Relation::AnyWriter as usize + 1;

    pub const ALL: [Relation; Relation::COUNT] = [
        Relation::VendorWriter,
        Relation::VendorWriterOnVendorOwned,
        Relation::CreatorAdminOrOwner,
        Relation::OfferedAdmin,
        Relation::PrimaryAdminOrOwner,
        Relation::HoldingPartnerAdmin,
        Relation::Collaborator,
        Relation::ResellersDistributor,
        Relation::AnyWriter,
    ];

    /// The stable name clients see.
    pub fn as_str(&self) -> &'static str {
        match self {
            Relation::VendorWriter => "vendor_writer",
            Relation::VendorWriterOnVendorOwned => "vendor_writer_on_vendor_owned",
            Relation::CreatorAdminOrOwner => "creator_admin_or_owner",
            Relation::OfferedAdmin => "offered_admin",
            Relation::PrimaryAdminOrOwner => "primary_admin_or_owner",
            Relation::HoldingPartnerAdmin => "holding_partner_admin",
            Relation::Collaborator => "collaborator",
            Relation::ResellersDistributor => "resellers_distributor",
            Relation::AnyWriter => "any_writer",
        }
    }

    /// What the relation means, in one line.
    pub fn description(&self) -> &'static str {
        match self {
            Relation::VendorWriter => "a vendor admin or channel manager",
            Relation::VendorWriterOnVendorOwned => {
                "a vendor admin or channel manager, while the vendor owns the opportunity"
            }
            Relation::CreatorAdminOrOwner => {
                "on a partner-created opportunity still owned by the creating org: that org's admin, the user who created it or its owner"
            }
            Relation::OfferedAdmin => {
                "the admin of the partner org it is offered to (its primary partner)"
            }
            Relation::PrimaryAdminOrOwner => {
                "the primary partner's admin, or its owner when the owner is a user of the primary partner"
            }
            Relation::HoldingPartnerAdmin => {
                "the admin of the partner org holding it: its owner org or its primary partner"
            }
            Relation::Collaborator => "a user of a collaborating partner org",
            Relation::ResellersDistributor => {
                "the distributor above its primary partner, or above the reseller that created it"
            }
            Relation::AnyWriter => "any user whose role may write",
        }
    }

    /// The roles whose users can hold the relation. Read-only roles hold
    /// none: they are refused every write whatever their relation.
    pub fn roles(&self) -> &'static [Role] {
        const VENDOR_WRITERS: &[Role] = &[Role::VendorAdmin, Role::ChannelManager];
        const PARTNER_WRITERS: &[Role] = &[Role::PartnerAdmin, Role::AccountManager];
        match self {
            Relation::VendorWriter | Relation::VendorWriterOnVendorOwned => VENDOR_WRITERS,
            // A distributor's account manager sees only what it owns, never
            // its resellers' opportunities.
            Relation::OfferedAdmin
            | Relation::HoldingPartnerAdmin
            | Relation::ResellersDistributor => &[Role::PartnerAdmin],
            Relation::CreatorAdminOrOwner
            | Relation::PrimaryAdminOrOwner
            | Relation::Collaborator => PARTNER_WRITERS,
            Relation::AnyWriter => &[
                Role::VendorAdmin,
                Role::ChannelManager,
                Role::PartnerAdmin,
                Role::AccountManager,
            ],
        }
    }

    fn matches(self, a: &Actor, o: &OpportunityFacts) -> bool {
        let admin = a.role == Role::PartnerAdmin;
        let partner = !a.is_vendor();
        match self {
            Relation::VendorWriter => a.role.is_vendor_writer(),
            Relation::VendorWriterOnVendorOwned => {
                a.role.is_vendor_writer() && o.owner_org_id == a.org_id
            }
            Relation::CreatorAdminOrOwner => {
                partner
                    && o.origin == Origin::Partner
                    && o.owner_org_id == a.org_id
                    && (admin || o.owner_user_id == a.user_id || o.creator_user_id == a.user_id)
            }
            Relation::OfferedAdmin => admin && o.primary_partner_id == Some(a.org_id),
            Relation::PrimaryAdminOrOwner => {
                partner
                    && o.primary_partner_id == Some(a.org_id)
                    && (admin || o.owner_user_id == a.user_id)
            }
            Relation::HoldingPartnerAdmin => {
                admin && (o.owner_org_id == a.org_id || o.primary_partner_id == Some(a.org_id))
            }
            Relation::Collaborator => partner && o.collaborator_ids.contains(&a.org_id),
            Relation::ResellersDistributor => {
                partner
                    && (o
                        .primary_partner_id
                        .is_some_and(|p| a.reseller_ids.contains(&p))
                        || (o.origin == Origin::Partner
                            && a.reseller_ids.contains(&o.owner_org_id)))
            }
            Relation::AnyWriter => true,
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition beyond the status table that can close an action the table
/// allows: a 409 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// The policy's `max_extensions` are used up.
    ExtensionLimit,
    /// A submitted or approved deal registration exists on it.
    LiveRegistration,
}

impl Condition {
    pub const ALL: [Condition; 2] = [Condition::ExtensionLimit, Condition::LiveRegistration];

    /// The `code` of the 409 it answers.
    pub fn code(&self) -> &'static str {
        match self {
            Condition::ExtensionLimit => "extension_limit_reached",
            Condition::LiveRegistration => "registration_exists",
        }
    }

    /// What closes the action, in one line.
    pub fn description(&self) -> &'static str {
        match self {
            Condition::ExtensionLimit => {
                "closed once the opportunity has been extended the policy's `max_extensions` times"
            }
            Condition::LiveRegistration => {
                "closed while a submitted or approved deal registration exists on the opportunity"
            }
        }
    }

    /// The action it can close.
    pub fn action(&self) -> Action {
        match self {
            Condition::ExtensionLimit => Action::Extend,
            Condition::LiveRegistration => Action::RegisterDeal,
        }
    }

    /// Whether it stands in the way on `opp`.
    pub fn blocks(&self, opp: &OpportunityFacts) -> bool {
        match self {
            Condition::ExtensionLimit => opp.extension_count >= opp.max_extensions,
            Condition::LiveRegistration => opp.live_registration,
        }
    }

    fn error(&self, opp: &OpportunityFacts) -> DomainError {
        let detail = match self {
            Condition::ExtensionLimit => format!(
                "the policy allows {} extensions and {} have been used",
                opp.max_extensions, opp.extension_count
            ),
            Condition::LiveRegistration => {
                "this opportunity already has a submitted or approved registration".to_owned()
            }
        };
        DomainError::Conflict {
            code: self.code(),
            detail,
        }
    }
}

/// How one (actor, opportunity, action) cell of the table comes out. The
/// error a refusal carries is built only by [`decide`], which needs it:
/// [`allowed_actions`] asks about every action of every row of a page.
enum Verdict {
    Allowed,
    Invisible,
    /// Read-only role.
    ReadOnly,
    /// Not in any of the action's rows.
    NotInRow,
    /// In a row, but not from the current status.
    WrongStatus,
    /// Allowed by the table, but a condition beyond it stands in the way
    /// (the policy's extension limit, a live deal registration).
    Blocked(Condition),
}

fn judge(actor: &Actor, opp: &OpportunityFacts, action: Action) -> Verdict {
    if !can_view(actor, opp) {
        Verdict::Invisible
    } else if actor.role.is_read_only() {
        Verdict::ReadOnly
    } else {
        in_table(actor, opp, action)
    }
}

/// The table's answer for an actor who sees the opportunity and may write.
fn in_table(actor: &Actor, opp: &OpportunityFacts, action: Action) -> Verdict {
    let mut in_a_row = false;
    for Row(who, from) in action.rows() {
        if who.matches(actor, opp) {
            in_a_row = true;
            if from.contains(&opp.status) {
                return match blocking(opp, action) {
                    Some(condition) => Verdict::Blocked(condition),
                    None => Verdict::Allowed,
                };
            }
        }
    }
    if in_a_row {
        Verdict::WrongStatus
    } else {
        Verdict::NotInRow
    }
}

/// Rule: conditions beyond the status table ([`Condition`]). An accepted
/// opportunity is extended at most `max_extensions` times; a deal is
/// registered only while no submitted or approved registration exists on
/// the opportunity.
fn blocking(opp: &OpportunityFacts, action: Action) -> Option<Condition> {
    Condition::ALL
        .into_iter()
        .find(|c| c.action() == action && c.blocks(opp))
}

/// Decides whether `actor` may take `action` on `opp` now.
///
/// Rules: an opportunity the actor cannot see is 404 for every action;
/// read-only roles get 403 on every write whatever the status; an actor not
/// in any of the action's rows gets 403; a status not in the actor's rows is
/// a 409 naming the status and what the actor may do instead; a condition
/// beyond the table (see [`Condition`]) is a 409 with its own code.
pub fn decide(actor: &Actor, opp: &OpportunityFacts, action: Action) -> Result<(), DomainError> {
    match judge(actor, opp, action) {
        Verdict::Allowed => Ok(()),
        Verdict::Invisible => Err(DomainError::NotFound),
        Verdict::ReadOnly => actor.ensure_can_write(),
        Verdict::NotInRow => Err(DomainError::forbidden(action.refusal())),
        Verdict::Blocked(condition) => Err(condition.error(opp)),
        Verdict::WrongStatus => Err(DomainError::InvalidTransition {
            status: opp.status.to_string(),
            action: action.to_string(),
            allowed: allowed_actions(actor, opp)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        }),
    }
}

/// Every action `actor` may take on `opp` now: exactly those `decide` allows
/// (the cells where [`in_table`] says `Allowed`). Visibility and the role
/// are the same for every action, so they are checked once; each row's
/// status is checked before its relation, and each relation is worked out
/// at most once: a list page asks this for every row.
pub fn allowed_actions(actor: &Actor, opp: &OpportunityFacts) -> Vec<Action> {
    if !can_view(actor, opp) || actor.role.is_read_only() {
        return Vec::new();
    }
    let mut relation = [None::<bool>; Relation::COUNT];
    let mut allowed = Vec::with_capacity(Action::ALL.len());
    for action in Action::ALL {
        let in_a_row = action.rows().iter().any(|Row(who, from)| {
            from.contains(&opp.status)
                && *relation[*who as usize].get_or_insert_with(|| who.matches(actor, opp))
        });
        if in_a_row && blocking(opp, action).is_none() {
            allowed.push(action);
        }
    }
    allowed
}

#[cfg(test)]
pub(super) mod tests {
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
    fn extend_and_register_deal_close_once_their_limits_are_reached() {
        let admin = reseller_admin();
        let mut o = offered(Status::Accepted, admin.org_id);
        assert!(allowed_actions(&admin, &o).contains(&Action::Extend));
        o.extension_count = o.max_extensions;
        assert!(!allowed_actions(&admin, &o).contains(&Action::Extend));
        assert!(matches!(
            decide(&admin, &o, Action::Extend),
            Err(DomainError::Conflict {
                code: "extension_limit_reached",
                ..
            })
        ));
        let am = reseller_admin().with_role(Role::AccountManager);
        let mut own = facts(
            Status::PendingApproval,
            Origin::Partner,
            am.org_id,
            am.user_id,
        );
        assert!(allowed_actions(&am, &own).contains(&Action::RegisterDeal));
        own.live_registration = true;
        assert!(!allowed_actions(&am, &own).contains(&Action::RegisterDeal));
        assert!(matches!(
            decide(&am, &own, Action::RegisterDeal),
            Err(DomainError::Conflict {
                code: "registration_exists",
                ..
            })
        ));
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

    /// One cell's actor and opportunity, and how they were made.
    pub(super) struct Cell {
        pub actor: Actor,
        pub opp: OpportunityFacts,
        /// 0: primary partner, 1: collaborator, 2: not the owner, 3: owner org.
        pub relation: u8,
        /// 0: none, 1: extensions used up, 2: a live registration.
        pub condition: u8,
    }

    /// Every status × role × relation × condition: actors of every role (a
    /// partner's of its own org and of the distributor above it), facts
    /// relating them to the opportunity every way the table tells apart.
    pub(super) fn cells() -> Vec<Cell> {
        let partner_org = OrgId::new();
        let mut out = Vec::new();
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
                        for (relation, condition) in
                            (0..4).flat_map(|r| (0..3).map(move |c| (r, c)))
                        {
                            let mut o = facts(status, origin, partner_org, actor.user_id);
                            match relation {
                                0 => o.primary_partner_id = Some(partner_org),
                                1 => o.collaborator_ids = vec![actor.org_id],
                                2 => o.owner_user_id = UserId::new(),
                                _ => o.owner_org_id = actor.org_id,
                            }
                            match condition {
                                0 => {}
                                1 => o.extension_count = o.max_extensions,
                                _ => o.live_registration = true,
                            }
                            out.push(Cell {
                                actor: actor.clone(),
                                opp: o,
                                relation,
                                condition,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Every status × action × role × relation: `allowed_actions` and `decide`
    /// agree, and read-only roles are refused everything.
    #[test]
    fn allowed_actions_agree_with_decide_for_every_status_action_and_role() {
        let mut count = 0;
        for Cell {
            actor,
            opp: o,
            relation,
            condition,
        } in cells()
        {
            let role = actor.role;
            let (status, origin) = (o.status, o.origin);
            let allowed = allowed_actions(&actor, &o);
            for action in Action::ALL {
                count += 1;
                let decided = decide(&actor, &o, action);
                assert_eq!(
                    allowed.contains(&action),
                    decided.is_ok(),
                    "{role} {status} {origin:?} relation {relation} condition {condition} {action}: {decided:?}"
                );
                if role.is_read_only() && can_view(&actor, &o) {
                    assert!(forbidden(decided.clone()), "{role} is read-only");
                }
                // The conditions beyond the table close exactly their action.
                let closed = match (condition, action) {
                    (1, Action::Extend) => Some("extension_limit_reached"),
                    (2, Action::RegisterDeal) => Some("registration_exists"),
                    _ => None,
                };
                if let Some(code) = closed {
                    assert!(!allowed.contains(&action), "{action} listed");
                    if let Err(DomainError::Conflict { code: c, .. }) = &decided {
                        assert_eq!(*c, code);
                    }
                }
            }
        }
        assert!(count > 15000, "{count} cells");
    }
}

/// What a transition asks for, beyond who takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Approve,
    Reject {
        reason: ReasonInput,
    },
    Withdraw,
    /// To one partner, who must answer before the deadline (default: now
    /// plus the policy's acceptance window).
    DistributeOne {
        partner: OrgId,
        accept_by: Option<DateTime<Utc>>,
    },
    /// To the best-ranked candidate with free capacity, chosen by the caller
    /// from the ranking (a vendor writer, or the system re-assigning).
    AutoAssign {
        partner: OrgId,
    },
    /// To a primary partner and collaborators, accepted at once.
    DistributeCollaboration {
        partner: OrgId,
        collaborators: Vec<OrgId>,
    },
    Accept,
    Decline {
        reason: ReasonInput,
    },
    Return {
        reason: ReasonInput,
    },
    /// Won (an optional reason text, no code) or lost (a reason code).
    Close {
        won: bool,
        reason: ReasonInput,
        actual: Option<Money>,
    },
    Extend {
        expires_on: NaiveDate,
    },
    Cancel {
        reason: ReasonInput,
    },
    /// The system: an offer whose `accept_by` has passed.
    Expire,
}

impl Command {
    /// The action of the transition table, `None` for the system's own.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            Command::Approve => Action::Approve,
            Command::Reject { .. } => Action::Reject,
            Command::Withdraw => Action::Withdraw,
            Command::DistributeOne { .. } | Command::DistributeCollaboration { .. } => {
                Action::Distribute
            }
            Command::AutoAssign { .. } => Action::AutoAssign,
            Command::Accept => Action::Accept,
            Command::Decline { .. } => Action::Decline,
            Command::Return { .. } => Action::Return,
            Command::Close { .. } => Action::Close,
            Command::Extend { .. } => Action::Extend,
            Command::Cancel { .. } => Action::Cancel,
            Command::Expire => return None,
        })
    }

    /// The name the transition's event records.
    pub fn name(&self) -> &'static str {
        match self.action() {
            Some(a) => a.as_str(),
            None => "expire",
        }
    }

    /// The reason the command records, checked against the policy's codes
    /// (see [`Reason::parse`]): a user's decline, return, reject, cancel and
    /// lost close have a code, a won close at most a text.
    fn reason(&self, policy: &Policy) -> Result<(Option<ReasonCode>, Option<String>), DomainError> {
        match self {
            Command::Close {
                won: true, reason, ..
            } => Ok((None, Reason::parse_won(reason)?)),
            Command::Reject { reason }
            | Command::Decline { reason }
            | Command::Return { reason }
            | Command::Cancel { reason }
            | Command::Close { reason, .. } => {
                let r = Reason::parse(&policy.reason_codes, reason)?;
                Ok((Some(r.code), r.text))
            }
            _ => Ok((None, None)),
        }
    }
}

/// Who takes a transition: a user, or the system (the deadline worker).
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    User(&'a Actor),
    System,
}

/// What a transition is decided against besides the opportunity.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub policy: &'a Policy,
    /// The vendor org, which takes back what is returned.
    pub vendor_org: OrgId,
    pub now: DateTime<Utc>,
}

/// What happens to the opportunity's deal registrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationEffect {
    Unchanged,
    /// Approved ones close with the opportunity (won or lost).
    Close,
    /// Live ones end: the opportunity left the registering org.
    End,
}

/// The close fields a won or lost opportunity gets (its reason is the
/// outcome's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    pub actual_revenue: Option<Money>,
    pub closed_at: DateTime<Utc>,
}

/// Every effect of a decided transition. `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub to: Status,
    /// New primary partner, when it changes.
    pub primary: Option<OrgId>,
    /// New collaborator set, when it changes.
    pub collaborators: Option<Vec<OrgId>>,
    /// New owner (org, user), when it changes.
    pub owner: Option<(OrgId, UserId)>,
    /// The partner org the change concerns (shown to it in its timeline).
    pub partner: Option<OrgId>,
    /// `Some(None)` clears the answer deadline.
    pub accept_by: Option<Option<DateTime<Utc>>>,
    pub expires_on: Option<NaiveDate>,
    pub extension_count: Option<u32>,
    pub closing: Option<Closing>,
    /// The currency the amounts take when none was known yet.
    pub currency: Option<CurrencyCode>,
    pub registrations: RegistrationEffect,
    /// The partner newly offered it: it becomes the most recently assigned,
    /// and its open offers are counted under a lock on it.
    pub offered_to: Option<OrgId>,
    /// An automatic assignment: it counts towards the re-assignment limit,
    /// and (rule: capacity) goes only to a partner with a free slot, while a
    /// vendor writer's own choice of partner may exceed it.
    pub automatic: bool,
    /// Whether the system should re-assign it next (policy on decline and
    /// expiry, within its limit).
    pub reassign_pending: bool,
    /// The reason's text recorded with the event (and a close's).
    pub reason: Option<String>,
    /// The reason's code from the policy's list: a user's decline, return,
    /// reject, cancel or lost close; `None` for every other transition.
    pub reason_code: Option<ReasonCode>,
}

/// Both checks' results: every failing field of both when both refuse.
fn together<T>(
    first: Result<T, DomainError>,
    second: Result<(), DomainError>,
) -> Result<T, DomainError> {
    match (first, second) {
        (Err(DomainError::Invalid(mut a)), Err(DomainError::Invalid(b))) => {
            a.extend(b);
            Err(DomainError::Invalid(a))
        }
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        (Ok(v), Ok(())) => Ok(v),
    }
}

fn check_system(
    opp: &OpportunityFacts,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let ok = match command {
        Command::Expire => {
            EXPIRABLE.contains(&opp.status) && opp.accept_by.is_some_and(|t| t <= now)
        }
        Command::AutoAssign { .. } => REDISTRIBUTABLE.contains(&opp.status),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition {
            status: opp.status.to_string(),
            action: command.name().to_owned(),
            allowed: Vec::new(),
        })
    }
}

/// What the system expires (once past `accept_by`): an offer.
const EXPIRABLE: &[Status] = &[Status::Delivered];

const REDISTRIBUTABLE: &[Status] = &[
    Status::Draft,
    Status::Declined,
    Status::Returned,
    Status::Expired,
];

/// Decides a transition and every effect it has.
///
/// Rules: approving makes the creating org the primary partner; distribution
/// replaces the primary partner and collaborators; accepting hands ownership
/// to the accepting admin's org; returning gives it back to its creator
/// (`vendor_org` for the vendor side); acceptance starts the validity
/// period; an offer's deadline is given or the policy's window; extensions
/// follow the extension policy; a close records outcome, reason and actual
/// revenue, and closes approved registrations; leaving the partner ends
/// them; the system expires overdue offers and re-assigns by the policy.
/// A user's reason takes a code from the policy's list (see
/// [`Reason::parse`]); the system's transitions record a text and no code.
pub fn transition(
    by: By<'_>,
    opp: &OpportunityFacts,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<Outcome, DomainError> {
    match (by, command.action()) {
        (By::User(actor), Some(action)) => decide(actor, opp, action)?,
        (By::User(_), None) => {
            return Err(DomainError::forbidden("only the system expires offers"));
        }
        (By::System, _) => check_system(opp, command, ctx.now)?,
    }
    let policy = ctx.policy;
    let validity = || {
        opp.expires_on.is_none().then(|| {
            ctx.now.date_naive() + chrono::Days::new(u64::from(policy.opportunity_validity_days))
        })
    };
    let window = || ctx.now + chrono::Duration::hours(i64::from(policy.acceptance_window_hours));
    let close_check = match command {
        Command::Close { won, actual, .. } => check_close(*won, actual.as_ref(), opp.currency),
        _ => Ok(()),
    };
    let (reason_code, reason) = together(command.reason(policy), close_check)?;
    let mut out = Outcome {
        to: opp.status,
        primary: None,
        collaborators: None,
        owner: None,
        partner: opp.primary_partner_id,
        accept_by: None,
        expires_on: None,
        extension_count: None,
        closing: None,
        currency: None,
        registrations: RegistrationEffect::Unchanged,
        offered_to: None,
        automatic: false,
        reassign_pending: false,
        reason,
        reason_code,
    };
    match command {
        Command::Approve => {
            out.to = Status::Accepted;
            out.primary = Some(opp.owner_org_id);
            out.partner = Some(opp.owner_org_id);
            out.expires_on = validity();
            out.accept_by = Some(None);
        }
        Command::Reject { .. } => {
            out.to = Status::Rejected;
            out.partner = Some(opp.owner_org_id);
        }
        Command::Withdraw => {
            out.to = Status::Canceled;
            out.partner = Some(opp.owner_org_id);
        }
        Command::DistributeOne { partner, accept_by } => {
            out.to = Status::Delivered;
            out.primary = Some(*partner);
            out.collaborators = Some(Vec::new());
            out.partner = Some(*partner);
            out.accept_by = Some(Some(accept_by.unwrap_or_else(window)));
            out.offered_to = Some(*partner);
        }
        Command::AutoAssign { partner } => {
            out.to = Status::Delivered;
            out.primary = Some(*partner);
            out.collaborators = Some(Vec::new());
            out.partner = Some(*partner);
            out.accept_by = Some(Some(window()));
            out.offered_to = Some(*partner);
            out.automatic = true;
            if matches!(by, By::System) {
                out.reason = Some("automatic re-assignment".to_owned());
            }
        }
        Command::DistributeCollaboration {
            partner,
            collaborators,
        } => {
            out.to = Status::Accepted;
            out.primary = Some(*partner);
            out.collaborators = Some(collaborators.clone());
            out.partner = Some(*partner);
            out.expires_on = validity();
            out.accept_by = Some(None);
            out.offered_to = Some(*partner);
        }
        Command::Accept => {
            let By::User(actor) = by else {
                return Err(DomainError::forbidden("only the offered partner accepts"));
            };
            out.to = Status::Accepted;
            out.owner = Some((actor.org_id, actor.user_id));
            out.expires_on = validity();
            out.accept_by = Some(None);
        }
        Command::Decline { .. } => {
            out.to = Status::Declined;
            out.accept_by = Some(None);
        }
        Command::Return { .. } => {
            out.to = Status::Returned;
            out.owner =
                (opp.origin == Origin::Vendor).then_some((ctx.vendor_org, opp.creator_user_id));
        }
        Command::Close { won, actual, .. } => {
            out.to = if *won { Status::Won } else { Status::Lost };
            out.accept_by = Some(None);
            if opp.currency.is_none() {
                // No estimate was given: the actual revenue sets the currency.
                out.currency = actual.as_ref().map(Money::currency);
            }
            out.closing = Some(Closing {
                actual_revenue: actual.clone(),
                closed_at: ctx.now,
            });
        }
        Command::Extend { expires_on } => {
            check_extension(policy, opp, *expires_on, ctx.now.date_naive())?;
            out.expires_on = Some(*expires_on);
            out.extension_count = Some(opp.extension_count + 1);
        }
        Command::Cancel { .. } => {
            out.to = Status::Canceled;
            out.accept_by = Some(None);
        }
        Command::Expire => {
            out.to = Status::Expired;
            out.accept_by = Some(None);
            out.reason = Some("no answer before the deadline".to_owned());
        }
    }
    out.registrations = match out.to {
        _ if out.to == opp.status => RegistrationEffect::Unchanged,
        Status::Won | Status::Lost => RegistrationEffect::Close,
        Status::Canceled | Status::Rejected | Status::Returned | Status::Declined => {
            RegistrationEffect::End
        }
        _ => RegistrationEffect::Unchanged,
    };
    out.reassign_pending = should_reassign(policy, out.to, opp.auto_assignments);
    Ok(out)
}

/// Rule (automatic re-assignment): on decline or expiry, when the policy
/// says so and its limit is not reached.
pub fn should_reassign(policy: &Policy, to: Status, auto_assignments: u32) -> bool {
    matches!(to, Status::Declined | Status::Expired)
        && policy.auto_reassign
        && auto_assignments < policy.max_auto_reassignments
}

/// Rule: an offer's deadline lies in the future; a collaboration, accepted
/// at once, has none.
pub fn check_offer_deadline(
    accept_by: Option<DateTime<Utc>>,
    collaboration: bool,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    match accept_by {
        Some(_) if collaboration => Err(DomainError::invalid(
            "accept_by",
            "a collaboration is accepted at once; leave accept_by out",
        )),
        Some(t) if t <= now => Err(DomainError::invalid("accept_by", "must be in the future")),
        _ => Ok(()),
    }
}

/// Rule (capacity): a partner holds at most `capacity` open (delivered or
/// accepted) opportunities as primary partner; a new offer needs a free slot.
pub fn check_capacity(capacity: u32, open: u32) -> Result<(), DomainError> {
    if open < capacity {
        Ok(())
    } else {
        Err(DomainError::Conflict {
            code: "partner_at_capacity",
            detail: format!(
                "the partner holds {open} open opportunities and its capacity is {capacity}"
            ),
        })
    }
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

/// Rule (extension policy): each extension moves the current expiry forward
/// by at most `max_extension_days` (from today when it has none), to a later
/// date. How many are left is `decide`'s (see [`Condition`]).
pub fn check_extension(
    policy: &Policy,
    opp: &OpportunityFacts,
    requested: NaiveDate,
    today: NaiveDate,
) -> Result<(), DomainError> {
    let current = opp.expires_on;
    let floor = current.map_or(today, |c| c.max(today));
    if requested <= floor {
        return Err(DomainError::invalid(
            "expires_on",
            format!("must be later than {floor}"),
        ));
    }
    let base = current.unwrap_or(today);
    let horizon = base + chrono::Days::new(u64::from(policy.max_extension_days));
    if requested > horizon {
        return Err(DomainError::invalid(
            "expires_on",
            format!(
                "an extension moves the expiry forward by at most {} days (to {horizon})",
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

    fn ctx(policy: &Policy) -> Context<'_> {
        Context {
            policy,
            vendor_org: OrgId::new(),
            now: Utc::now(),
        }
    }

    fn by_user(a: &Actor) -> By<'_> {
        By::User(a)
    }

    #[test]
    fn approval_makes_the_creating_org_the_primary_partner() {
        let cm = vendor(Role::ChannelManager);
        let org = OrgId::new();
        let o = facts(Status::PendingApproval, Origin::Partner, org, UserId::new());
        let p = Policy::default();
        let out = transition(by_user(&cm), &o, &Command::Approve, &ctx(&p)).unwrap();
        assert_eq!(out.to, Status::Accepted);
        assert_eq!(out.primary, Some(org));
        assert!(out.expires_on.is_some(), "acceptance starts the validity");
        assert_eq!(
            out.offered_to, None,
            "its own opportunity needs no capacity"
        );
    }

    #[test]
    fn accepting_hands_ownership_to_the_accepting_org_and_starts_the_validity() {
        let admin = reseller_admin();
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(admin.org_id);
        let p = Policy::default();
        let c = ctx(&p);
        let out = transition(by_user(&admin), &o, &Command::Accept, &c).unwrap();
        assert_eq!(out.owner, Some((admin.org_id, admin.user_id)));
        assert_eq!(
            out.expires_on,
            Some(c.now.date_naive() + chrono::Days::new(90))
        );
        assert_eq!(out.accept_by, Some(None));
    }

    #[test]
    fn returning_gives_ownership_back_to_the_vendor_creator_and_ends_registrations() {
        let admin = reseller_admin();
        let mut o = facts(
            Status::Accepted,
            Origin::Vendor,
            admin.org_id,
            admin.user_id,
        );
        o.creator_user_id = UserId::new();
        o.primary_partner_id = Some(admin.org_id);
        let p = Policy::default();
        let c = ctx(&p);
        let out = transition(
            by_user(&admin),
            &o,
            &Command::Return {
                reason: ReasonInput::text(" quiet "),
            },
            &c,
        )
        .unwrap();
        assert_eq!(out.to, Status::Returned);
        assert_eq!(out.owner, Some((c.vendor_org, o.creator_user_id)));
        assert_eq!(out.registrations, RegistrationEffect::End);
        assert_eq!(out.reason.as_deref(), Some("quiet"));
        assert_eq!(out.reason_code, Some(ReasonCode::other()));
    }

    #[test]
    fn collaboration_distribution_is_accepted_at_once() {
        let cm = vendor(Role::ChannelManager);
        let o = facts(Status::Draft, Origin::Vendor, cm.org_id, cm.user_id);
        let (p, c) = (OrgId::new(), OrgId::new());
        let policy = Policy::default();
        let out = transition(
            by_user(&cm),
            &o,
            &Command::DistributeCollaboration {
                partner: p,
                collaborators: vec![c],
            },
            &ctx(&policy),
        )
        .unwrap();
        assert_eq!(out.to, Status::Accepted);
        assert_eq!(out.collaborators, Some(vec![c]));
        assert_eq!(out.offered_to, Some(p));
        assert!(!out.automatic, "the vendor writer's own choice");
        let out = transition(
            by_user(&cm),
            &o,
            &Command::DistributeOne {
                partner: p,
                accept_by: None,
            },
            &ctx(&policy),
        )
        .unwrap();
        assert_eq!(out.to, Status::Delivered);
        assert_eq!(out.collaborators, Some(vec![]));
        assert!(
            matches!(out.accept_by, Some(Some(_))),
            "the policy's window"
        );
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
    fn a_partner_takes_no_offer_beyond_its_capacity() {
        assert!(check_capacity(2, 1).is_ok());
        assert!(matches!(
            check_capacity(2, 2),
            Err(DomainError::Conflict {
                code: "partner_at_capacity",
                ..
            })
        ));
        assert!(check_capacity(0, 0).is_err());
    }

    #[test]
    fn an_offer_deadline_lies_ahead_and_a_collaboration_has_none() {
        let now = Utc::now();
        let later = Some(now + chrono::Duration::hours(1));
        assert!(check_offer_deadline(later, false, now).is_ok());
        assert!(check_offer_deadline(None, true, now).is_ok());
        assert!(check_offer_deadline(later, true, now).is_err());
        assert!(check_offer_deadline(Some(now), false, now).is_err());
    }

    fn accepted_until(expires: &str, count: u32) -> OpportunityFacts {
        let mut o = facts(
            Status::Accepted,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.expires_on = Some(day(expires));
        o.extension_count = count;
        o
    }

    #[test]
    fn each_extension_moves_the_current_expiry_forward_by_at_most_max_extension_days() {
        let p = Policy {
            max_extensions: 2,
            max_extension_days: 90,
            ..Policy::default()
        };
        let today = day("2027-01-01");
        // Right after acceptance the expiry is today + 90: still extendable.
        let fresh = accepted_until("2027-04-01", 0);
        assert!(check_extension(&p, &fresh, day("2027-05-01"), today).is_ok());
        assert!(check_extension(&p, &fresh, day("2027-06-30"), today).is_ok());
        assert!(
            check_extension(&p, &fresh, day("2027-07-01"), today).is_err(),
            "91 days past the current expiry"
        );
        assert!(
            check_extension(&p, &fresh, day("2027-03-01"), today).is_err(),
            "earlier"
        );
        // The limit (2 here) is decided with the table, before the date.
        let cm = vendor(Role::ChannelManager);
        assert!(matches!(
            transition(
                by_user(&cm),
                &accepted_until("2027-04-01", 2),
                &Command::Extend {
                    expires_on: day("2027-05-01"),
                },
                &ctx(&p),
            ),
            Err(DomainError::Conflict {
                code: "extension_limit_reached",
                ..
            })
        ));
        // No expiry yet: counted from today.
        let mut none = fresh.clone();
        none.expires_on = None;
        assert!(check_extension(&p, &none, day("2027-04-01"), today).is_ok());
        assert!(check_extension(&p, &none, day("2027-04-02"), today).is_err());
    }

    #[test]
    fn an_extension_counts_and_sets_the_new_expiry() {
        let admin = reseller_admin();
        let mut o = accepted_until("2099-01-01", 1);
        o.primary_partner_id = Some(admin.org_id);
        let p = Policy::default();
        let out = transition(
            by_user(&admin),
            &o,
            &Command::Extend {
                expires_on: day("2099-02-01"),
            },
            &ctx(&p),
        )
        .unwrap();
        assert_eq!(out.to, Status::Accepted);
        assert_eq!(out.expires_on, Some(day("2099-02-01")));
        assert_eq!(out.extension_count, Some(2));
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
    fn a_close_records_its_fields_closes_registrations_and_may_set_the_currency() {
        let cm = vendor(Role::ChannelManager);
        let mut o = accepted_until("2099-01-01", 0);
        o.primary_partner_id = Some(OrgId::new());
        let usd: crate::values::CurrencyCode = "USD".parse().unwrap();
        let m = crate::values::Money::parse("10", usd).unwrap();
        let p = Policy::default();
        let out = transition(
            by_user(&cm),
            &o,
            &Command::Close {
                won: true,
                reason: ReasonInput::text("signed"),
                actual: Some(m.clone()),
            },
            &ctx(&p),
        )
        .unwrap();
        assert_eq!(out.to, Status::Won);
        assert_eq!(out.registrations, RegistrationEffect::Close);
        assert_eq!(out.currency, Some(usd));
        assert_eq!(out.reason.as_deref(), Some("signed"));
        assert_eq!(out.reason_code, None, "only a loss has a reason code");
        let closing = out.closing.unwrap();
        assert_eq!(closing.actual_revenue, Some(m));
    }

    #[test]
    fn the_system_expires_only_delivered_offers_past_their_deadline() {
        let now = Utc::now();
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(OrgId::new());
        o.accept_by = Some(now - chrono::Duration::seconds(1));
        let p = Policy::default();
        let c = Context { now, ..ctx(&p) };
        let out = transition(By::System, &o, &Command::Expire, &c).unwrap();
        assert_eq!(out.to, Status::Expired);
        assert_eq!(out.partner, o.primary_partner_id);
        assert_eq!(Command::Expire.name(), "expire");
        assert!(out.reassign_pending, "the default policy re-assigns");
        let mut future = o.clone();
        future.accept_by = Some(now + chrono::Duration::hours(1));
        assert!(transition(By::System, &future, &Command::Expire, &c).is_err());
        o.status = Status::Accepted;
        assert!(transition(By::System, &o, &Command::Expire, &c).is_err());
        let cm = vendor(Role::ChannelManager);
        assert!(matches!(
            transition(By::User(&cm), &future, &Command::Expire, &c),
            Err(DomainError::Forbidden(_))
        ));
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
            ..p.clone()
        };
        assert!(!should_reassign(&off, Status::Declined, 0));
        let declined = facts(
            Status::Declined,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        let partner = OrgId::new();
        let out = transition(
            By::System,
            &declined,
            &Command::AutoAssign { partner },
            &ctx(&p),
        )
        .unwrap();
        assert_eq!(out.to, Status::Delivered);

        assert_eq!(out.offered_to, Some(partner));
        assert!(out.automatic, "counted, and fits the capacity");
        assert!(!out.reassign_pending);
        let won = facts(Status::Won, Origin::Vendor, OrgId::new(), UserId::new());
        assert!(transition(By::System, &won, &Command::AutoAssign { partner }, &ctx(&p)).is_err());
        let admin = reseller_admin();
        let mut offered = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        offered.primary_partner_id = Some(admin.org_id);
        let out = transition(
            by_user(&admin),
            &offered,
            &Command::Decline {
                reason: ReasonInput::coded("no_capacity", None),
            },
            &ctx(&p),
        )
        .unwrap();
        assert!(out.reassign_pending);
        assert_eq!(out.accept_by, Some(None));
    }

    fn offered_to(admin: &Actor) -> OpportunityFacts {
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(admin.org_id);
        o
    }

    #[test]
    fn a_decline_takes_a_reason_code_from_the_vendors_policy() {
        let admin = reseller_admin();
        let o = offered_to(&admin);
        let p = Policy {
            reason_codes: vec![ReasonCode::parse("too_small").unwrap(), ReasonCode::other()],
            ..Policy::default()
        };
        let decline = |code: &str| Command::Decline {
            reason: ReasonInput::coded(code, None),
        };
        let out = transition(by_user(&admin), &o, &decline("too_small"), &ctx(&p)).unwrap();
        assert_eq!(out.reason_code, ReasonCode::parse("too_small").ok());
        assert_eq!(out.reason, None);
        match transition(by_user(&admin), &o, &decline("budget"), &ctx(&p)) {
            Err(DomainError::Invalid(f)) => assert_eq!(f[0].field, "reason_code"),
            other => panic!("a default code the vendor dropped: {other:?}"),
        }
    }

    #[test]
    fn a_lost_close_takes_a_reason_code_and_a_won_one_none() {
        let cm = vendor(Role::ChannelManager);
        let mut o = accepted_until("2099-01-01", 0);
        o.primary_partner_id = Some(OrgId::new());
        let p = Policy::default();
        let lost = Command::Close {
            won: false,
            reason: ReasonInput::coded("competitor", Some("chose Fabrikam".into())),
            actual: None,
        };
        let out = transition(by_user(&cm), &o, &lost, &ctx(&p)).unwrap();
        assert_eq!(out.to, Status::Lost);
        assert_eq!(out.reason_code, ReasonCode::parse("competitor").ok());
        assert_eq!(out.reason.as_deref(), Some("chose Fabrikam"));
        let eur: CurrencyCode = "EUR".parse().unwrap();
        let won = Command::Close {
            won: true,
            reason: ReasonInput::coded("competitor", None),
            actual: Some(Money::parse("10", eur).unwrap()),
        };
        match transition(by_user(&cm), &o, &won, &ctx(&p)) {
            Err(DomainError::Invalid(f)) => assert_eq!(f[0].field, "reason_code"),
            other => panic!("{other:?}"),
        }
        let won = Command::Close {
            won: true,
            reason: ReasonInput::default(),
            actual: Some(Money::parse("10", eur).unwrap()),
        };
        let out = transition(by_user(&cm), &o, &won, &ctx(&p)).unwrap();
        assert_eq!(
            (out.reason, out.reason_code),
            (None, None),
            "no text needed"
        );
    }

    #[test]
    fn a_close_reports_its_reason_and_its_revenue_failures_together() {
        let cm = vendor(Role::ChannelManager);
        let o = accepted_until("2099-01-01", 0);
        let p = Policy::default();
        let won = Command::Close {
            won: true,
            reason: ReasonInput::coded("budget", None),
            actual: None,
        };
        match transition(by_user(&cm), &o, &won, &ctx(&p)) {
            Err(DomainError::Invalid(f)) => {
                let fields: Vec<_> = f.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["reason_code", "actual_revenue"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_systems_transitions_record_a_text_and_no_reason_code() {
        let now = Utc::now();
        let mut o = offered_to(&reseller_admin());
        o.accept_by = Some(now - chrono::Duration::seconds(1));
        let p = Policy::default();
        let c = Context { now, ..ctx(&p) };
        let out = transition(By::System, &o, &Command::Expire, &c).unwrap();
        assert_eq!(out.reason_code, None);
        assert!(out.reason.is_some());
        let declined = facts(
            Status::Declined,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        let partner = OrgId::new();
        let out = transition(By::System, &declined, &Command::AutoAssign { partner }, &c).unwrap();
        assert_eq!(out.reason_code, None);
        assert_eq!(out.reason.as_deref(), Some("automatic re-assignment"));
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
