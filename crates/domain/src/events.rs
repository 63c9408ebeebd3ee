//! Notifications: the event types and who may receive each event.

use std::fmt;
use std::str::FromStr;

use crate::ids::OrgId;
use crate::lifecycle::Action;
use crate::opportunity::{OpportunityFacts, Origin, Status};

macro_rules! event_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// `<resource>.<past-tense action>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }
        }
    };
}

event_types! {
    OpportunityCreated => "opportunity.created",
    OpportunityUpdated => "opportunity.updated",
    OpportunityApproved => "opportunity.approved",
    OpportunityRejected => "opportunity.rejected",
    OpportunityWithdrawn => "opportunity.withdrawn",
    OpportunityDelivered => "opportunity.delivered",
    OpportunityAccepted => "opportunity.accepted",
    OpportunityDeclined => "opportunity.declined",
    OpportunityExpired => "opportunity.expired",
    OpportunityReturned => "opportunity.returned",
    OpportunityClosed => "opportunity.closed",
    OpportunityExtended => "opportunity.extended",
    OpportunityCanceled => "opportunity.canceled",
    OpportunityOwnerAssigned => "opportunity.owner_assigned",
    OpportunityCollaboratorsChanged => "opportunity.collaborators_changed",
    NoteAdded => "note.added",
    ProgressAdded => "progress.added",
    DealRegistrationSubmitted => "deal_registration.submitted",
    DealRegistrationApproved => "deal_registration.approved",
    DealRegistrationRejected => "deal_registration.rejected",
    DealRegistrationWithdrawn => "deal_registration.withdrawn",
    DealRegistrationExpired => "deal_registration.expired",
    DealRegistrationClosed => "deal_registration.closed",
    CustomerRevealed => "customer.revealed",
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type `{s}`"))
    }
}

/// How one event's delivery to one webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Succeeded,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            DeliveryState::Pending,
            DeliveryState::Succeeded,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| format!("unknown delivery state `{s}`"))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event a lifecycle transition writes.
pub fn for_transition(action: Action, to: Status) -> EventType {
    match (action, to) {
        (Action::Approve, _) => EventType::OpportunityApproved,
        (Action::Reject, _) => EventType::OpportunityRejected,
        (Action::Withdraw, _) => EventType::OpportunityWithdrawn,
        (_, Status::Delivered) => EventType::OpportunityDelivered,
        (Action::Distribute | Action::Accept, Status::Accepted) => EventType::OpportunityAccepted,
        (_, Status::Declined) => EventType::OpportunityDeclined,
        (_, Status::Expired) => EventType::OpportunityExpired,
        (_, Status::Returned) => EventType::OpportunityReturned,
        (_, Status::Won | Status::Lost) => EventType::OpportunityClosed,
        (Action::Extend, _) => EventType::OpportunityExtended,
        (_, Status::Canceled) => EventType::OpportunityCanceled,
        _ => EventType::OpportunityUpdated,
    }
}

/// Rule (notifications): the partner orgs that may see an opportunity in
/// this state — the creating org of a partner-created one, the primary
/// partner and collaborators while the offer is live — and the distributor
/// above each. The vendor sees every event.
pub fn audience(o: &OpportunityFacts, parent_of: &dyn Fn(OrgId) -> Option<OrgId>) -> Vec<OrgId> {
    let mut orgs = Vec::new();
    if o.origin == Origin::Partner {
        orgs.push(o.owner_org_id);
    }
    if o.status.is_live_offer() {
        orgs.extend(o.primary_partner_id);
        orgs.extend(o.collaborator_ids.iter().copied());
    }
    with_parents(orgs, parent_of)
}

/// Adds each org's distributor, without duplicates.
pub fn with_parents(orgs: Vec<OrgId>, parent_of: &dyn Fn(OrgId) -> Option<OrgId>) -> Vec<OrgId> {
    let mut out: Vec<OrgId> = Vec::new();
    for o in orgs {
        for x in [Some(o), parent_of(o)].into_iter().flatten() {
            if !out.contains(&x) {
                out.push(x);
            }
        }
    }
    out
}

/// A change is sent to those who could see the opportunity before it or
/// after it: a partner hears of its own decline, not of the next offer.
pub fn change_audience(
    before: Option<&OpportunityFacts>,
    after: &OpportunityFacts,
    parent_of: &dyn Fn(OrgId) -> Option<OrgId>,
) -> Vec<OrgId> {
    let mut orgs = audience(after, parent_of);
    if let Some(b) = before {
        for o in audience(b, parent_of) {
            if !orgs.contains(&o) {
                orgs.push(o);
            }
        }
    }
    orgs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::opportunity::tests::facts;

    #[test]
    fn event_names_are_resource_dot_past_tense_action() {
        for t in EventType::ALL {
            let (resource, action) = t.as_str().split_once('.').unwrap();
            let past = action.ends_with("ed") || action == "withdrawn";
            assert!(!resource.is_empty() && past, "{t}");
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }

    #[test]
    fn a_declining_partner_hears_of_its_decline_but_not_the_next_offer() {
        let (a, b) = (OrgId::new(), OrgId::new());
        let none = |_: OrgId| None;
        let mut delivered = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        delivered.primary_partner_id = Some(a);
        let mut declined = delivered.clone();
        declined.status = Status::Declined;
        assert_eq!(change_audience(Some(&delivered), &declined, &none), vec![a]);
        let mut next = declined.clone();
        next.status = Status::Delivered;
        next.primary_partner_id = Some(b);
        assert_eq!(change_audience(Some(&declined), &next, &none), vec![b]);
    }

    #[test]
    fn distributors_hear_what_their_resellers_may_see() {
        let (res, dist) = (OrgId::new(), OrgId::new());
        let parent = move |o: OrgId| (o == res).then_some(dist);
        let own = facts(Status::PendingApproval, Origin::Partner, res, UserId::new());
        assert_eq!(audience(&own, &parent), vec![res, dist]);
        let draft = facts(Status::Draft, Origin::Vendor, OrgId::new(), UserId::new());
        assert!(
            audience(&draft, &parent).is_empty(),
            "vendor drafts reach no partner"
        );
    }

    #[test]
    fn each_transition_writes_its_event() {
        assert_eq!(
            for_transition(Action::Distribute, Status::Delivered),
            EventType::OpportunityDelivered
        );
        assert_eq!(
            for_transition(Action::Distribute, Status::Accepted),
            EventType::OpportunityAccepted
        );
        assert_eq!(
            for_transition(Action::Close, Status::Lost),
            EventType::OpportunityClosed
        );
        assert_eq!(
            for_transition(Action::Approve, Status::Accepted),
            EventType::OpportunityApproved
        );
        assert_eq!(
            for_transition(Action::Extend, Status::Accepted),
            EventType::OpportunityExtended
        );
    }
}

/// Rule (webhook targets): only public unicast addresses, unless the
/// operator allows private ones. Loopback, private, link-local, carrier-grade
/// NAT, unique-local, multicast, documentation and unspecified addresses are
/// refused.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod ip_tests {
    use super::is_public_ip;

    #[test]
    fn webhook_targets_on_loopback_private_or_link_local_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }
}
