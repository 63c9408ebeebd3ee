//! The opportunity: statuses, who may see it, and who may do what to it.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::error::{DomainError, Violations};

use crate::ids::{OrgId, UserId};
pub use crate::lifecycle::{Action, allowed_actions, decide};
use crate::role::Role;

/// Lifecycle status, as in DOMAIN.md's status table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    PendingApproval,
    Delivered,
    Accepted,
    Declined,
    Returned,
    Expired,
    Won,
    Lost,
    Canceled,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::Draft,
        Status::PendingApproval,
        Status::Delivered,
        Status::Accepted,
        Status::Declined,
        Status::Returned,
        Status::Expired,
        Status::Won,
        Status::Lost,
        Status::Canceled,
        Status::Rejected,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::PendingApproval => "pending_approval",
            Status::Delivered => "delivered",
            Status::Accepted => "accepted",
            Status::Declined => "declined",
            Status::Returned => "returned",
            Status::Expired => "expired",
            Status::Won => "won",
            Status::Lost => "lost",
            Status::Canceled => "canceled",
            Status::Rejected => "rejected",
        }
    }

    /// What the status means, in one line (DOMAIN.md's status table).
    pub fn description(&self) -> &'static str {
        match self {
            Status::Draft => "vendor-created, not yet distributed",
            Status::PendingApproval => "partner-created, awaiting the vendor's approval",
            Status::Delivered => {
                "offered to one partner, awaiting its accept or decline before `accept_by`"
            }
            Status::Accepted => "a partner (and any collaborators) is working it",
            Status::Declined => {
                "declined by the offered partner; back with the vendor to distribute again"
            }
            Status::Returned => "returned by the partner; back with the vendor to distribute again",
            Status::Expired => {
                "not answered before `accept_by`; back with the vendor to distribute again"
            }
            Status::Won => "closed as won, with its reason and actual revenue",
            Status::Lost => "closed as lost, with its reason",
            Status::Canceled => "ended by the vendor, or withdrawn by its creator",
            Status::Rejected => "a partner-created opportunity the vendor refused",
        }
    }

    /// Closed for good: nothing changes it any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Status::Won | Status::Lost | Status::Canceled | Status::Rejected
        )
    }

    /// A live offer: the primary partner and collaborators see it.
    pub fn is_live_offer(&self) -> bool {
        matches!(
            self,
            Status::Delivered | Status::Accepted | Status::Won | Status::Lost
        )
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who brought the opportunity in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Vendor,
    Partner,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Vendor => "vendor",
            Origin::Partner => "partner",
        }
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "vendor" => Ok(Origin::Vendor),
            "partner" => Ok(Origin::Partner),
            _ => Err(format!("unknown origin `{s}`")),
        }
    }
}

/// Sales phase, in the order partners move through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Qualify,
    Develop,
    Propose,
    Negotiate,
    Commit,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::Qualify,
        Phase::Develop,
        Phase::Propose,
        Phase::Negotiate,
        Phase::Commit,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Qualify => "qualify",
            Phase::Develop => "develop",
            Phase::Propose => "propose",
            Phase::Negotiate => "negotiate",
            Phase::Commit => "commit",
        }
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown phase `{s}`"))
    }
}

/// What the rules need to know about one opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityFacts {
    pub status: Status,
    pub origin: Origin,
    pub owner_org_id: OrgId,
    pub owner_user_id: UserId,
    pub creator_user_id: UserId,
    pub primary_partner_id: Option<OrgId>,
    pub collaborator_ids: Vec<OrgId>,
    /// The org holding the opportunity's customer (for name masking).
    pub customer_org_id: OrgId,
    /// The answer deadline of a `delivered` offer.
    pub accept_by: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_on: Option<chrono::NaiveDate>,
    /// Extensions taken so far, and how many the policy allows.
    pub extension_count: u32,
    pub max_extensions: u32,
    /// Automatic assignments so far, for the re-assignment limit.
    pub auto_assignments: u32,
    /// Currency of its amounts, once one is known.
    pub currency: Option<crate::values::CurrencyCode>,
    /// A submitted or approved deal registration exists on it.
    pub live_registration: bool,
}

/// Which opportunities a caller may read, in a form a query can apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Vendor users: everything.
    All,
    /// Partner users: those their orgs created (any status), or that are
    /// offered live to their orgs as primary partner or collaborator; an
    /// account manager additionally only those it owns.
    Partner {
        orgs: Vec<OrgId>,
        owner: Option<UserId>,
    },
}

/// The number a search term names as a reference: `OPP-000123`, `opp-123`
/// or `OPP123` (any case); `None` for anything else.
pub fn parse_reference(q: &str) -> Option<i64> {
    let q = q.trim();
    q.get(..3).filter(|p| p.eq_ignore_ascii_case("opp"))?;
    let rest = &q[3..];
    let digits = rest.strip_prefix('-').unwrap_or(rest);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An opportunity's human reference: its number as `OPP-` and at least six
/// digits (`OPP-000123`). Written digit by digit: `format!` cost about a
/// thousand instructions a call, 2 % of a list page.
pub fn reference(number: i64) -> String {
    if number < 0 {
        return format!("OPP-{number:06}");
    }
    let mut digits = [b'0'; 20];
    let mut n = number.unsigned_abs();
    let mut start = digits.len();
    while n > 0 {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = start.min(digits.len() - 6);
    let mut text = String::with_capacity(4 + digits.len() - start);
    text.push_str("OPP-");
    // Only ASCII digits were written.
    text.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
    text
}

/// Rule (visibility): vendor users see all; a partner admin or director sees
/// what its org (and, for a distributor, its resellers) created or holds a
/// live offer on; an account manager sees those of them it owns.
pub fn visibility(actor: &Actor) -> Visibility {
    if actor.is_vendor() {
        return Visibility::All;
    }
    match actor.role {
        Role::AccountManager => Visibility::Partner {
            orgs: vec![actor.org_id],
            owner: Some(actor.user_id),
        },
        _ => Visibility::Partner {
            orgs: actor.org_scope(),
            owner: None,
        },
    }
}

impl Visibility {
    pub fn allows(&self, opp: &OpportunityFacts) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Partner { orgs, owner } => {
                if owner.is_some_and(|u| u != opp.owner_user_id) {
                    return false;
                }
                let created = opp.origin == Origin::Partner && orgs.contains(&opp.owner_org_id);
                let offered = opp.status.is_live_offer()
                    && (opp.primary_partner_id.is_some_and(|p| orgs.contains(&p))
                        || opp.collaborator_ids.iter().any(|c| orgs.contains(c)));
                created || offered
            }
        }
    }
}

pub fn can_view(actor: &Actor, opp: &OpportunityFacts) -> bool {
    visibility(actor).allows(opp)
}

/// Rule: while an opportunity is only `delivered`, partners do not see the
/// contact's e-mail and phone; they get them when they accept.
pub fn contact_details_visible(actor: &Actor, opp: &OpportunityFacts) -> bool {
    actor.is_vendor() || contact_details_visible_to_partners(opp)
}

/// The same rule for a reader not known yet (an event, which every org
/// of its audience reads alike).
pub fn contact_details_visible_to_partners(opp: &OpportunityFacts) -> bool {
    opp.status != Status::Delivered
}

/// The contact details that rule withholds, as field history names them.
pub const CONTACT_DETAIL_FIELDS: [&str; 2] = ["contact.email", "contact.phone"];

/// What a new opportunity starts as, decided from who creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creation {
    pub status: Status,
    pub origin: Origin,
}

/// What the create rules need to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct CreateRequest {
    /// The customer's holding org, or `None` when the id names no customer.
    pub customer_org_id: Option<OrgId>,
    pub has_estimated_revenue: bool,
    pub has_expected_close_date: bool,
}

/// Rule: vendor writers create drafts; partner admins and account managers
/// create `pending_approval` opportunities for their org's customers (a
/// distributor's also for its resellers' customers) and must give amount,
/// currency and expected close date.
pub fn decide_create(actor: &Actor, req: &CreateRequest) -> Result<Creation, DomainError> {
    actor.ensure_can_write()?;
    if actor.is_vendor() {
        if !actor.role.is_vendor_writer() {
            return Err(DomainError::forbidden(
                "only vendor writers create opportunities",
            ));
        }
        if req.customer_org_id.is_none() {
            return Err(DomainError::invalid("customer_id", "no such customer"));
        }
        return Ok(Creation {
            status: Status::Draft,
            origin: Origin::Vendor,
        });
    }
    let mut v = Violations::new();
    match req.customer_org_id {
        Some(org) if actor.org_scope().contains(&org) => {}
        // A customer the caller cannot see answers exactly like a missing one.
        _ => v.add("customer_id", "no such customer"),
    }
    let required = [
        ("estimated_revenue", req.has_estimated_revenue),
        ("expected_close_date", req.has_expected_close_date),
    ];
    for (field, present) in required {
        if !present {
            v.add(field, "partners must give full revenue information");
        }
    }
    v.into_result()?;
    Ok(Creation {
        status: Status::PendingApproval,
        origin: Origin::Partner,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};

    #[test]
    fn a_search_term_names_a_reference_in_any_of_its_spellings() {
        for (q, n) in [
            ("OPP-000123", 123),
            ("opp-123", 123),
            ("Opp123", 123),
            (" OPP-7 ", 7),
        ] {
            assert_eq!(parse_reference(q), Some(n), "{q}");
        }
        for q in [
            "OPP-",
            "OPP-12a",
            "123",
            "OPPX-1",
            "fabrikam",
            "OPP--1",
            "OPP-1234567890123456789",
        ] {
            assert_eq!(parse_reference(q), None, "{q}");
        }
        assert_eq!(parse_reference(&reference(42)), Some(42));
    }

    #[test]
    fn references_read_as_format_writes_them() {
        for n in [
            0,
            1,
            7,
            123,
            99_999,
            999_999,
            1_000_000,
            93_458,
            i64::MAX,
            -5,
            i64::MIN,
        ] {
            assert_eq!(reference(n), format!("OPP-{n:06}"));
        }
    }

    pub(crate) fn facts(
        status: Status,
        origin: Origin,
        owner_org: OrgId,
        owner: UserId,
    ) -> OpportunityFacts {
        OpportunityFacts {
            status,
            origin,
            owner_org_id: owner_org,
            owner_user_id: owner,
            creator_user_id: owner,
            primary_partner_id: None,
            collaborator_ids: vec![],
            customer_org_id: owner_org,
            accept_by: None,
            expires_on: None,
            extension_count: 0,
            max_extensions: 2,
            auto_assignments: 0,
            currency: None,
            live_registration: false,
        }
    }

    fn full_revenue(customer_org: OrgId) -> CreateRequest {
        CreateRequest {
            customer_org_id: Some(customer_org),
            has_estimated_revenue: true,
            has_expected_close_date: true,
        }
    }

    #[test]
    fn vendor_writer_creates_drafts() {
        for role in [Role::VendorAdmin, Role::ChannelManager] {
            let c = decide_create(&vendor(role), &full_revenue(OrgId::new())).unwrap();
            assert_eq!(c.status, Status::Draft);
            assert_eq!(c.origin, Origin::Vendor);
        }
    }

    #[test]
    fn partner_creates_pending_approval() {
        let a = reseller_admin();
        let c = decide_create(&a, &full_revenue(a.org_id)).unwrap();
        assert_eq!(c.status, Status::PendingApproval);
        let am = a.clone().with_role(Role::AccountManager);
        assert_eq!(
            decide_create(&am, &full_revenue(am.org_id)).unwrap().origin,
            Origin::Partner
        );
    }

    #[test]
    fn partner_must_give_full_revenue_information() {
        let a = reseller_admin();
        let req = CreateRequest {
            customer_org_id: Some(a.org_id),
            has_estimated_revenue: false,
            has_expected_close_date: false,
        };
        match decide_create(&a, &req) {
            Err(DomainError::Invalid(fields)) => assert_eq!(fields.len(), 2),
            other => panic!("{other:?}"),
        }
        let vendor_req = CreateRequest {
            customer_org_id: Some(a.org_id),
            ..req
        };
        assert!(decide_create(&vendor(Role::ChannelManager), &vendor_req).is_ok());
    }

    #[test]
    fn distributor_creates_for_its_resellers_customers_but_not_others() {
        let d = distributor_admin().with_role(Role::AccountManager);
        assert!(decide_create(&d, &full_revenue(d.reseller_ids[0])).is_ok());
        assert!(decide_create(&d, &full_revenue(OrgId::new())).is_err());
        let r = reseller_admin();
        assert!(decide_create(&r, &full_revenue(OrgId::new())).is_err());
    }

    #[test]
    fn directors_and_viewers_cannot_create() {
        let dir = reseller_admin().with_role(Role::AccountManagerDirector);
        assert!(matches!(
            decide_create(&dir, &full_revenue(dir.org_id)),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            decide_create(&vendor(Role::VendorViewer), &full_revenue(OrgId::new())),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn vendor_users_see_everything() {
        let o = facts(Status::Draft, Origin::Vendor, OrgId::new(), UserId::new());
        assert!(can_view(&vendor(Role::VendorViewer), &o));
    }

    #[test]
    fn partner_sees_its_own_opportunities_in_any_status() {
        let a = reseller_admin();
        for status in Status::ALL {
            let o = facts(status, Origin::Partner, a.org_id, UserId::new());
            assert!(can_view(&a, &o), "{status}");
        }
    }

    #[test]
    fn partner_sees_vendor_opportunities_only_while_offered_live() {
        let a = reseller_admin();
        for status in Status::ALL {
            let mut o = facts(status, Origin::Vendor, OrgId::new(), UserId::new());
            o.primary_partner_id = Some(a.org_id);
            assert_eq!(can_view(&a, &o), status.is_live_offer(), "{status}");
            o.primary_partner_id = None;
            o.collaborator_ids = vec![a.org_id];
            assert_eq!(can_view(&a, &o), status.is_live_offer(), "{status}");
        }
    }

    #[test]
    fn foreign_partner_cannot_see() {
        let a = reseller_admin();
        let o = facts(
            Status::Accepted,
            Origin::Partner,
            OrgId::new(),
            UserId::new(),
        );
        assert!(!can_view(&a, &o));
    }

    #[test]
    fn distributor_sees_its_resellers_opportunities() {
        let d = distributor_admin().with_role(Role::AccountManagerDirector);
        let o = facts(
            Status::PendingApproval,
            Origin::Partner,
            d.reseller_ids[0],
            UserId::new(),
        );
        assert!(can_view(&d, &o));
    }

    #[test]
    fn account_manager_sees_only_those_it_owns() {
        let am = reseller_admin().with_role(Role::AccountManager);
        let mine = facts(
            Status::PendingApproval,
            Origin::Partner,
            am.org_id,
            am.user_id,
        );
        let colleague = facts(
            Status::PendingApproval,
            Origin::Partner,
            am.org_id,
            UserId::new(),
        );
        assert!(can_view(&am, &mine));
        assert!(!can_view(&am, &colleague));
    }

    #[test]
    fn contact_details_are_withheld_while_delivered() {
        let a = reseller_admin();
        let mut o = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.primary_partner_id = Some(a.org_id);
        assert!(!contact_details_visible(&a, &o));
        assert!(contact_details_visible(&vendor(Role::ChannelManager), &o));
        o.status = Status::Accepted;
        assert!(contact_details_visible(&a, &o));
    }
}
