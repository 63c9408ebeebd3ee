//! Organizations and their assignment profiles.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::role::Role;

pub use crate::kind::{OrgKind, Tier};

/// Largest capacity a partner may declare (open opportunities at once).
pub const MAX_CAPACITY: i32 = 100_000;

/// Rule: only partner orgs are created through the API (the vendor exists
/// once, from bootstrap), and only a reseller may have a parent, which must be
/// a distributor.
pub fn check_new_org(kind: OrgKind, parent_kind: Option<OrgKind>) -> Result<(), DomainError> {
    if kind == OrgKind::Vendor {
        return Err(DomainError::invalid(
            "kind",
            "the vendor org exists once and is created at bootstrap",
        ));
    }
    check_parent(kind, parent_kind)
}

/// Rule: a parent link goes from a reseller to a distributor, nowhere else.
pub fn check_parent(kind: OrgKind, parent_kind: Option<OrgKind>) -> Result<(), DomainError> {
    match (kind, parent_kind) {
        (_, None) => Ok(()),
        (OrgKind::Reseller, Some(OrgKind::Distributor)) => Ok(()),
        (OrgKind::Reseller, Some(_)) => Err(DomainError::invalid(
            "parent_id",
            "a reseller's parent must be a distributor",
        )),
        (_, Some(_)) => Err(DomainError::invalid(
            "parent_id",
            "only a reseller may have a parent",
        )),
    }
}

/// Rule: orgs are managed by the vendor admin only.
pub fn can_manage_orgs(actor: &Actor) -> Result<(), DomainError> {
    if actor.role == Role::VendorAdmin {
        Ok(())
    } else if actor.role.is_read_only() {
        Err(DomainError::forbidden("read-only roles cannot change orgs"))
    } else {
        Err(DomainError::forbidden("only a vendor admin manages orgs"))
    }
}

/// Rule: vendor users see every org; a partner sees itself and, for a
/// distributor, its resellers. Other orgs do not exist for it (404).
pub fn can_view_org(actor: &Actor, org: OrgId) -> bool {
    actor.is_vendor() || actor.org_scope().contains(&org)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};

    #[test]
    fn vendor_org_is_never_created_through_the_api() {
        assert!(check_new_org(OrgKind::Vendor, None).is_err());
        assert!(check_new_org(OrgKind::Distributor, None).is_ok());
    }

    #[test]
    fn reseller_parent_must_be_a_distributor() {
        assert!(check_parent(OrgKind::Reseller, Some(OrgKind::Distributor)).is_ok());
        assert!(check_parent(OrgKind::Reseller, Some(OrgKind::Reseller)).is_err());
        assert!(check_parent(OrgKind::Reseller, Some(OrgKind::Vendor)).is_err());
        assert!(check_parent(OrgKind::Distributor, Some(OrgKind::Distributor)).is_err());
    }

    #[test]
    fn only_vendor_admin_manages_orgs() {
        for role in Role::ALL {
            let actor = if role.is_vendor_role() {
                vendor(role)
            } else {
                distributor_admin().with_role(role)
            };
            assert_eq!(
                can_manage_orgs(&actor).is_ok(),
                role == Role::VendorAdmin,
                "{role}"
            );
        }
    }

    #[test]
    fn partner_sees_its_own_org_and_its_resellers_only() {
        let dist = distributor_admin();
        let res = reseller_admin();
        assert!(can_view_org(&dist, dist.org_id));
        assert!(can_view_org(&dist, dist.reseller_ids[0]));
        assert!(!can_view_org(&res, dist.org_id));
        assert!(can_view_org(&vendor(Role::VendorViewer), res.org_id));
    }

    #[test]
    fn tiers_rank_platinum_over_gold_over_silver_over_registered() {
        assert!(Tier::Platinum > Tier::Gold);
        assert!(Tier::Gold > Tier::Silver);
        assert!(Tier::Silver > Tier::Registered);
    }
}

/// Which parts of an org a PATCH touches.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgEdit {
    /// Anything besides the `accepting` switch.
    pub other_fields: bool,
    pub accepting: bool,
}

/// Rule: the vendor admin edits any org; a partner admin may only pause or
/// resume its own org (`accepting`); everyone else is refused.
pub fn can_edit_org(actor: &Actor, org: OrgId, edit: OrgEdit) -> Result<(), DomainError> {
    if !can_view_org(actor, org) {
        return Err(DomainError::NotFound);
    }
    if actor.role == Role::VendorAdmin {
        return Ok(());
    }
    actor.ensure_can_write()?;
    if actor.role == Role::PartnerAdmin && actor.org_id == org && !edit.other_fields {
        return Ok(());
    }
    Err(DomainError::forbidden(
        "only the vendor admin edits orgs; a partner admin may only set its own `accepting`",
    ))
}

#[cfg(test)]
mod edit_tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};

    #[test]
    fn partner_admin_may_pause_its_own_org_only() {
        let a = reseller_admin();
        let pause = OrgEdit {
            other_fields: false,
            accepting: true,
        };
        let rename = OrgEdit {
            other_fields: true,
            accepting: false,
        };
        assert!(can_edit_org(&a, a.org_id, pause).is_ok());
        assert!(matches!(
            can_edit_org(&a, a.org_id, rename),
            Err(DomainError::Forbidden(_))
        ));
        assert_eq!(
            can_edit_org(&a, OrgId::new(), pause),
            Err(DomainError::NotFound)
        );
        let d = distributor_admin();
        assert!(matches!(
            can_edit_org(&d, d.reseller_ids[0], pause),
            Err(DomainError::Forbidden(_))
        ));
        assert!(can_edit_org(&vendor(Role::VendorAdmin), a.org_id, rename).is_ok());
        assert!(can_edit_org(&vendor(Role::ChannelManager), a.org_id, pause).is_err());
    }
}
