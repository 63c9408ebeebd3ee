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
/// above each. The vendor sees every event. The distributors are added
/// where the org tree is, as the event is written (the store's
/// `Journal::write`, for every event whose audience asks for them).
pub fn audience(o: &OpportunityFacts) -> Vec<OrgId> {
    let mut orgs = Vec::new();
    if o.origin == Origin::Partner {
        orgs.push(o.owner_org_id);
    }
    if o.status.is_live_offer() {
        orgs.extend(o.primary_partner_id);
        orgs.extend(o.collaborator_ids.iter().copied());
    }
    distinct(orgs)
}

fn distinct(orgs: Vec<OrgId>) -> Vec<OrgId> {
    let mut out: Vec<OrgId> = Vec::new();
    for o in orgs {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// A change is sent to those who could see the opportunity before it or
/// after it: a partner hears of its own decline, not of the next offer.
pub fn change_audience(before: Option<&OpportunityFacts>, after: &OpportunityFacts) -> Vec<OrgId> {
    let mut orgs = audience(after);
    if let Some(b) = before {
        orgs.extend(audience(b));
    }
    distinct(orgs)
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
        let mut delivered = facts(
            Status::Delivered,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        delivered.primary_partner_id = Some(a);
        let mut declined = delivered.clone();
        declined.status = Status::Declined;
        assert_eq!(change_audience(Some(&delivered), &declined), vec![a]);
        let mut next = declined.clone();
        next.status = Status::Delivered;
        next.primary_partner_id = Some(b);
        assert_eq!(change_audience(Some(&declined), &next), vec![b]);
    }

    #[test]
    fn a_partner_created_opportunity_reaches_its_org_and_a_vendor_draft_none() {
        // The distributor above each org is added as the event is written
        // (tests/api/notifications.rs: the_feed_shows_each_caller_only_the_events_it_may_see_in_order).
        let res = OrgId::new();
        let own = facts(Status::PendingApproval, Origin::Partner, res, UserId::new());
        assert_eq!(audience(&own), vec![res]);
        let draft = facts(Status::Draft, Origin::Vendor, OrgId::new(), UserId::new());
        assert!(
            audience(&draft).is_empty(),
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

/// Rule (webhook targets): only globally reachable unicast addresses,
/// unless the operator allows private ones. The classification is IANA's
/// IPv4 and IPv6 Special-Purpose Address Registries (entries whose
/// "Globally Reachable" is false, or deprecated), plus multicast and
/// broadcast, and for IPv6 anything outside global unicast (`2000::/3`).
/// An IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64,
/// 6to4, Teredo) is judged as that IPv4 address.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 blocks that are not globally reachable, from IANA's IPv4
/// Special-Purpose Address Registry, with multicast and the reserved
/// class E (which includes the limited broadcast).
const V4_REFUSED: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this network"),
    ([10, 0, 0, 0], 8, "private use"),
    ([100, 64, 0, 0], 10, "shared address space"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link local"),
    ([172, 16, 0, 0], 12, "private use"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 88, 99, 0], 24, "deprecated 6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private use"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved (and limited broadcast)"),
];

/// Inside `192.0.0.0/24`, the registry marks these globally reachable.
const V4_REACHABLE_EXCEPTIONS: &[[u8; 4]] = &[[192, 0, 0, 9], [192, 0, 0, 10]];

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    if V4_REACHABLE_EXCEPTIONS.contains(&ip.octets()) {
        return true;
    }
    !V4_REFUSED.iter().any(|(net, len, _)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        bits & mask == u32::from_be_bytes(*net) & mask
    })
}

/// IPv6 blocks inside global unicast that are not globally reachable,
/// from IANA's IPv6 Special-Purpose Address Registry: (first 64 bits'
/// prefix as 16-bit groups, length).
const V6_REFUSED: &[([u16; 4], u8, &str)] = &[
    ([0x2001, 0x0002, 0, 0], 48, "benchmarking"),
    ([0x2001, 0x0010, 0, 0], 28, "deprecated ORCHID"),
    ([0x2001, 0x0db8, 0, 0], 32, "documentation"),
    ([0x3fff, 0, 0, 0], 20, "documentation"),
];

/// Inside `2001::/23` (IETF protocol assignments, not reachable as a
/// whole) the registry marks these globally reachable.
const V6_REACHABLE_IN_2001_23: &[([u16; 4], u8)] = &[
    ([0x2001, 0x0001, 0, 0], 32),
    ([0x2001, 0x0003, 0, 0], 32),
    ([0x2001, 0x0004, 0x0112, 0], 48),
    ([0x2001, 0x0020, 0, 0], 28),
    ([0x2001, 0x0030, 0, 0], 28),
];

fn is_public_v6(ip: std::net::Ipv6Addr) -> bool {
    use std::net::Ipv4Addr;
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let top =
        u64::from(s[0]) << 48 | u64::from(s[1]) << 32 | u64::from(s[2]) << 16 | u64::from(s[3]);
    let within = |net: &[u16; 4], len: u8| {
        let n = u64::from(net[0]) << 48
            | u64::from(net[1]) << 32
            | u64::from(net[2]) << 16
            | u64::from(net[3]);
        let mask = u64::MAX.checked_shl(64 - u32::from(len)).unwrap_or(0);
        top & mask == n & mask
    };
    // IPv4-mapped (::ffff:0:0/96) and NAT64's well-known prefix
    // (64:ff9b::/96): the IPv4 address decides.
    if (s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff) || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(v4(s[6], s[7]));
    }
    // Outside global unicast: unspecified, loopback, IPv4-compatible
    // (::/96, deprecated), local-use NAT64, unique local, link local,
    // site local (deprecated), multicast, and the rest unassigned.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 6to4 (2002::/16): judged by the IPv4 address in bits 16 to 48.
    if s[0] == 0x2002 {
        return is_public_v4(v4(s[1], s[2]));
    }
    // Teredo (2001::/32): the server's IPv4 address, and the client's
    // stored inverted in the last 32 bits.
    if s[0] == 0x2001 && s[1] == 0 {
        return is_public_v4(v4(s[2], s[3])) && is_public_v4(v4(!s[6], !s[7]));
    }
    if V6_REFUSED.iter().any(|(net, len, _)| within(net, *len)) {
        return false;
    }
    if within(&[0x2001, 0, 0, 0], 23) {
        return V6_REACHABLE_IN_2001_23
            .iter()
            .any(|(net, len)| within(net, *len));
    }
    true
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

    /// Every form an address that is not globally reachable can take,
    /// IPv4 carried in IPv6 included; and the same forms around a public
    /// IPv4 address pass.
    #[test]
    fn webhook_targets_not_globally_reachable_are_refused_in_every_form() {
        for (ip, form) in [
            ("::127.0.0.1", "IPv4-compatible loopback"),
            ("::8.8.8.8", "IPv4-compatible (deprecated)"),
            ("::ffff:10.0.0.1", "IPv4-mapped private"),
            ("64:ff9b::7f00:1", "NAT64 of loopback"),
            ("64:ff9b::a00:1", "NAT64 of private"),
            ("64:ff9b:1::808:808", "local-use NAT64"),
            ("2002:7f00:1::1", "6to4 of loopback"),
            ("2002:c0a8:101::1", "6to4 of private"),
            ("2001:0:5ef5:79fb::80ff:fffe", "Teredo, client 127.0.0.1"),
            ("2001:0:a00:1::f7f7:f7f7", "Teredo, server 10.0.0.1"),
            ("fec0::1", "site local"),
            ("ff02::1", "multicast"),
            ("::", "unspecified"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation (RFC 9637)"),
            ("2001:2::1", "benchmarking"),
            ("2001:10::1", "deprecated ORCHID"),
            ("2001:100::1", "IETF protocol assignments"),
            ("4000::1", "unassigned"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("192.0.0.1", "IETF protocol assignments"),
            ("192.0.2.1", "TEST-NET-1"),
            ("198.51.100.1", "TEST-NET-2"),
            ("203.0.113.1", "TEST-NET-3"),
            ("192.88.99.1", "deprecated 6to4 relay"),
            ("100.127.255.255", "shared address space"),
        ] {
            assert!(
                !is_public_ip(ip.parse().unwrap()),
                "{ip} ({form}) was allowed"
            );
        }
        for ip in [
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:5ef5:79fb::f7f7:f7f7",
            "2001:4860:4860::8888",
            "2001:4:112::1",
            "192.0.0.9",
            "100.128.0.1",
            "198.20.0.1",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip} was refused");
        }
    }
}
