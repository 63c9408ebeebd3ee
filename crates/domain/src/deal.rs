//! Deal registration: a partner's claim to exclusivity for a customer and
//! product lines, decided by the vendor.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::customer::CustomerIdentity;
use crate::error::DomainError;
use crate::ids::{OrgId, UserId};
use crate::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegStatus {
    Submitted,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    Closed,
}

impl RegStatus {
    pub const ALL: [RegStatus; 6] = [
        RegStatus::Submitted,
        RegStatus::Approved,
        RegStatus::Rejected,
        RegStatus::Withdrawn,
        RegStatus::Expired,
        RegStatus::Closed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RegStatus::Submitted => "submitted",
            RegStatus::Approved => "approved",
            RegStatus::Rejected => "rejected",
            RegStatus::Withdrawn => "withdrawn",
            RegStatus::Expired => "expired",
            RegStatus::Closed => "closed",
        }
    }

    /// Submitted or approved: it claims the customer.
    pub fn is_active(&self) -> bool {
        matches!(self, RegStatus::Submitted | RegStatus::Approved)
    }
}

impl FromStr for RegStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown registration status `{s}`"))
    }
}

impl fmt::Display for RegStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a caller may do to a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegAction {
    Approve,
    Reject,
    Withdraw,
}

impl RegAction {
    pub const ALL: [RegAction; 3] = [RegAction::Approve, RegAction::Reject, RegAction::Withdraw];

    pub fn as_str(&self) -> &'static str {
        match self {
            RegAction::Approve => "approve",
            RegAction::Reject => "reject",
            RegAction::Withdraw => "withdraw",
        }
    }
}

impl FromStr for RegAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegAction::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown registration action `{s}`"))
    }
}

/// What the rules need to know about one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationFacts {
    pub status: RegStatus,
    pub org_id: OrgId,
    pub submitted_by: UserId,
    /// Another org's approved registration for the same customer and a
    /// shared product line, as [`check_exclusivity`] names it: while it
    /// stands, this one cannot be approved.
    pub held_by_other: Option<String>,
}

/// Rule: vendor users see every registration; a partner its own org's and,
/// for a distributor, its resellers'.
pub fn can_view(actor: &Actor, reg: &RegistrationFacts) -> bool {
    actor.is_vendor() || actor.org_scope().contains(&reg.org_id)
}

/// Rule: vendor writers approve or reject a submitted registration; the
/// registering org (its admin or the submitter) withdraws it.
pub fn decide(
    actor: &Actor,
    reg: &RegistrationFacts,
    action: RegAction,
) -> Result<(), DomainError> {
    if !can_view(actor, reg) {
        return Err(DomainError::NotFound);
    }
    actor.ensure_can_write()?;
    let allowed = match action {
        RegAction::Approve | RegAction::Reject => actor.role.is_vendor_writer(),
        RegAction::Withdraw => {
            actor.org_id == reg.org_id
                && (actor.role == Role::PartnerAdmin || actor.user_id == reg.submitted_by)
        }
    };
    if !allowed {
        return Err(DomainError::forbidden(match action {
            RegAction::Approve | RegAction::Reject => {
                "only vendor writers decide on deal registrations"
            }
            RegAction::Withdraw => "only the registering org's admin or the submitter withdraws it",
        }));
    }
    if reg.status == RegStatus::Submitted {
        match &reg.held_by_other {
            Some(holder) if action == RegAction::Approve => Err(DomainError::Conflict {
                code: "registration_exclusivity",
                detail: holder.clone(),
            }),
            _ => Ok(()),
        }
    } else {
        Err(DomainError::InvalidTransition {
            status: reg.status.to_string(),
            action: action.as_str().to_owned(),
            allowed: allowed_actions(actor, reg)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        })
    }
}

pub fn allowed_actions(actor: &Actor, reg: &RegistrationFacts) -> Vec<RegAction> {
    if reg.status != RegStatus::Submitted {
        return Vec::new();
    }
    RegAction::ALL
        .into_iter()
        .filter(|a| decide(actor, reg, *a).is_ok())
        .collect()
}

/// Another org's registration as conflict checks see it.
#[derive(Debug, Clone)]
pub struct OtherRegistration<Id> {
    pub id: Id,
    pub org_id: OrgId,
    pub org_name: String,
    pub status: RegStatus,
    pub identity: CustomerIdentity,
    pub product_lines: Vec<String>,
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

/// Rule: a conflict is another org's submitted or approved registration for
/// the same real customer with an overlapping product line.
pub fn conflicts<Id: Clone>(
    org: OrgId,
    identity: &CustomerIdentity,
    product_lines: &[String],
    others: &[OtherRegistration<Id>],
) -> Vec<Id> {
    others
        .iter()
        .filter(|o| {
            o.org_id != org
                && o.status.is_active()
                && o.identity.same_customer(identity)
                && overlaps(&o.product_lines, product_lines)
        })
        .map(|o| o.id.clone())
        .collect()
}

/// Rule: while one org holds an approved registration for a customer and
/// product line, no other org's registration for them can be approved (409
/// naming the holder).
pub fn check_exclusivity<Id: fmt::Display>(
    org: OrgId,
    identity: &CustomerIdentity,
    product_lines: &[String],
    others: &[OtherRegistration<Id>],
) -> Result<(), DomainError> {
    match others.iter().find(|o| {
        o.org_id != org
            && o.status == RegStatus::Approved
            && o.identity.same_customer(identity)
            && overlaps(&o.product_lines, product_lines)
    }) {
        Some(holder) => Err(DomainError::Conflict {
            code: "registration_exclusivity",
            detail: format!(
                "{} ({}) holds approved registration {} for this customer and product line",
                holder.org_name, holder.org_id, holder.id
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};

    fn identity(name: &str) -> CustomerIdentity {
        CustomerIdentity::new(name, "DE".parse().unwrap(), None, None)
    }

    fn other(org: OrgId, status: RegStatus, name: &str, lines: &[&str]) -> OtherRegistration<u32> {
        OtherRegistration {
            id: 7,
            org_id: org,
            org_name: "Holder".into(),
            status,
            identity: identity(name),
            product_lines: lines.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn reg(status: RegStatus, org: OrgId, by: UserId) -> RegistrationFacts {
        RegistrationFacts {
            status,
            org_id: org,
            submitted_by: by,
            held_by_other: None,
        }
    }

    #[test]
    fn a_registration_blocked_by_another_orgs_exclusivity_offers_no_approve() {
        let cm = vendor(Role::ChannelManager);
        let mut r = reg(RegStatus::Submitted, OrgId::new(), UserId::new());
        assert!(allowed_actions(&cm, &r).contains(&RegAction::Approve));
        r.held_by_other = Some("Holder holds approved registration 7".into());
        assert_eq!(allowed_actions(&cm, &r), vec![RegAction::Reject]);
        assert!(matches!(
            decide(&cm, &r, RegAction::Approve),
            Err(DomainError::Conflict {
                code: "registration_exclusivity",
                ..
            })
        ));
    }

    #[test]
    fn conflicts_are_other_orgs_active_claims_on_the_same_customer_and_a_shared_line() {
        let me = OrgId::new();
        let them = OrgId::new();
        let lines = vec!["cloud".to_owned()];
        let others = [
            other(
                them,
                RegStatus::Submitted,
                "Fabrikam GmbH",
                &["cloud", "ai"],
            ),
            other(them, RegStatus::Rejected, "Fabrikam", &["cloud"]),
            other(them, RegStatus::Approved, "Fabrikam", &["security"]),
            other(me, RegStatus::Approved, "Fabrikam", &["cloud"]),
            other(them, RegStatus::Approved, "Contoso", &["cloud"]),
        ];
        assert_eq!(
            conflicts(me, &identity("fabrikam"), &lines, &others),
            vec![7]
        );
    }

    #[test]
    fn an_approved_holder_blocks_other_orgs_approvals() {
        let me = OrgId::new();
        let holder = OrgId::new();
        let lines = vec!["cloud".to_owned()];
        let others = [other(holder, RegStatus::Approved, "Fabrikam", &["cloud"])];
        match check_exclusivity(me, &identity("FABRIKAM gmbh"), &lines, &others) {
            Err(DomainError::Conflict { code, detail }) => {
                assert_eq!(code, "registration_exclusivity");
                assert!(detail.contains(&holder.to_string()));
            }
            other => panic!("{other:?}"),
        }
        let submitted = [other(holder, RegStatus::Submitted, "Fabrikam", &["cloud"])];
        assert!(check_exclusivity(me, &identity("Fabrikam"), &lines, &submitted).is_ok());
    }

    #[test]
    fn vendor_writers_decide_and_the_registering_org_withdraws() {
        let admin = reseller_admin();
        let r = reg(RegStatus::Submitted, admin.org_id, UserId::new());
        let cm = vendor(Role::ChannelManager);
        assert!(decide(&cm, &r, RegAction::Approve).is_ok());
        assert!(decide(&cm, &r, RegAction::Withdraw).is_err());
        assert!(decide(&admin, &r, RegAction::Withdraw).is_ok());
        assert!(matches!(
            decide(&admin, &r, RegAction::Approve),
            Err(DomainError::Forbidden(_))
        ));
        let viewer = vendor(Role::VendorViewer);
        assert!(matches!(
            decide(&viewer, &r, RegAction::Approve),
            Err(DomainError::Forbidden(_))
        ));
        let decided = reg(RegStatus::Approved, admin.org_id, admin.user_id);
        assert!(matches!(
            decide(&cm, &decided, RegAction::Reject),
            Err(DomainError::InvalidTransition { .. })
        ));
        assert_eq!(
            allowed_actions(&cm, &r),
            vec![RegAction::Approve, RegAction::Reject]
        );
    }

    #[test]
    fn registrations_are_visible_to_the_vendor_and_the_registering_side() {
        let d = distributor_admin();
        let r = reg(RegStatus::Submitted, d.reseller_ids[0], UserId::new());
        assert!(can_view(&d, &r));
        assert!(!can_view(&reseller_admin(), &r));
        assert_eq!(
            decide(&reseller_admin(), &r, RegAction::Withdraw),
            Err(DomainError::NotFound)
        );
    }
}
