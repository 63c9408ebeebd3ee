//! The caller of a request, as the rules see it.

use crate::ids::{OrgId, UserId};
use crate::kind::OrgKind;
use crate::role::Role;

/// An authenticated, active user with its org and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub org_kind: OrgKind,
    pub role: Role,
    /// For a distributor: its resellers. Empty otherwise.
    pub reseller_ids: Vec<OrgId>,
}

impl Actor {
    pub fn is_vendor(&self) -> bool {
        self.org_kind == OrgKind::Vendor
    }

    /// The orgs whose data a partner acts for: its own and its resellers'.
    pub fn org_scope(&self) -> Vec<OrgId> {
        let mut orgs = Vec::with_capacity(1 + self.reseller_ids.len());
        orgs.push(self.org_id);
        orgs.extend(&self.reseller_ids);
        orgs
    }

    /// Rule: directors and viewers get 403 on every write.
    pub fn ensure_can_write(&self) -> Result<(), crate::DomainError> {
        if self.role.is_read_only() {
            Err(crate::DomainError::forbidden(format!(
                "the {} role is read-only",
                self.role
            )))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn vendor(role: Role) -> Actor {
        Actor {
            user_id: UserId::new(),
            org_id: OrgId::new(),
            org_kind: OrgKind::Vendor,
            role,
            reseller_ids: vec![],
        }
    }

    pub fn distributor_admin() -> Actor {
        Actor {
            user_id: UserId::new(),
            org_id: OrgId::new(),
            org_kind: OrgKind::Distributor,
            role: Role::PartnerAdmin,
            reseller_ids: vec![OrgId::new()],
        }
    }

    pub fn reseller_admin() -> Actor {
        Actor {
            user_id: UserId::new(),
            org_id: OrgId::new(),
            org_kind: OrgKind::Reseller,
            role: Role::PartnerAdmin,
            reseller_ids: vec![],
        }
    }

    impl Actor {
        pub fn with_role(mut self, role: Role) -> Self {
            self.role = role;
            self
        }
    }

    #[test]
    fn read_only_roles_cannot_write() {
        assert!(vendor(Role::VendorViewer).ensure_can_write().is_err());
        assert!(
            distributor_admin()
                .with_role(Role::AccountManagerDirector)
                .ensure_can_write()
                .is_err()
        );
        assert!(vendor(Role::ChannelManager).ensure_can_write().is_ok());
    }
}
