//! Users: who may see and manage which org's users.

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::OrgId;
use crate::org::OrgKind;
use crate::role::Role;

/// Rule: vendor users see every user; partner users see their own org's.
pub fn can_view_users_of(actor: &Actor, org: OrgId) -> bool {
    actor.is_vendor() || actor.org_id == org
}

/// Rule: the vendor admin manages users of any org; a partner admin manages
/// its own org's users; nobody else manages users. A role must fit its org's
/// kind. Errors: 403 when the caller may see the org's users but not manage
/// them, 422 naming `org_id` when the org is not one it may see.
pub fn can_manage_user(
    actor: &Actor,
    org: OrgId,
    org_kind: OrgKind,
    role: Option<Role>,
) -> Result<(), DomainError> {
    if !can_view_users_of(actor, org) {
        return Err(DomainError::invalid("org_id", "no such org"));
    }
    actor.ensure_can_write()?;
    let allowed = actor.role == Role::VendorAdmin
        || (actor.role == Role::PartnerAdmin && actor.org_id == org);
    if !allowed {
        return Err(DomainError::forbidden(
            "only the vendor admin or the org's partner admin manages its users",
        ));
    }
    if let Some(role) = role
        && !role.fits(org_kind)
    {
        return Err(DomainError::invalid(
            "role",
            format!("the {role} role does not belong in a {org_kind} org"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};

    #[test]
    fn vendor_admin_manages_users_of_any_org() {
        let admin = vendor(Role::VendorAdmin);
        assert!(
            can_manage_user(
                &admin,
                OrgId::new(),
                OrgKind::Reseller,
                Some(Role::AccountManager)
            )
            .is_ok()
        );
        assert!(
            can_manage_user(
                &admin,
                admin.org_id,
                OrgKind::Vendor,
                Some(Role::ChannelManager)
            )
            .is_ok()
        );
    }

    #[test]
    fn partner_admin_manages_its_own_org_users_only() {
        let a = reseller_admin();
        assert!(
            can_manage_user(&a, a.org_id, OrgKind::Reseller, Some(Role::AccountManager)).is_ok()
        );
        assert!(matches!(
            can_manage_user(
                &a,
                OrgId::new(),
                OrgKind::Reseller,
                Some(Role::AccountManager)
            ),
            Err(DomainError::Invalid(_))
        ));
        // A distributor's admin does not manage its resellers' users.
        let d = distributor_admin();
        assert!(can_manage_user(&d, d.reseller_ids[0], OrgKind::Reseller, None).is_err());
    }

    #[test]
    fn user_roles_must_fit_the_org_kind() {
        let a = reseller_admin();
        assert!(matches!(
            can_manage_user(&a, a.org_id, OrgKind::Reseller, Some(Role::VendorAdmin)),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn only_admins_manage_users() {
        let cm = vendor(Role::ChannelManager);
        assert!(matches!(
            can_manage_user(&cm, cm.org_id, OrgKind::Vendor, None),
            Err(DomainError::Forbidden(_))
        ));
        let am = reseller_admin().with_role(Role::AccountManager);
        assert!(matches!(
            can_manage_user(&am, am.org_id, OrgKind::Reseller, None),
            Err(DomainError::Forbidden(_))
        ));
        let dir = reseller_admin().with_role(Role::AccountManagerDirector);
        assert!(matches!(
            can_manage_user(&dir, dir.org_id, OrgKind::Reseller, None),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn partner_users_see_only_their_own_orgs_users() {
        let a = reseller_admin();
        assert!(can_view_users_of(&a, a.org_id));
        assert!(!can_view_users_of(&a, OrgId::new()));
        assert!(can_view_users_of(&vendor(Role::VendorViewer), a.org_id));
    }
}
