//! Roles, and which kind of org each belongs to.

use std::fmt;
use std::str::FromStr;

use crate::kind::OrgKind;

/// What a user may do, fixed by its row in `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    VendorAdmin,
    ChannelManager,
    VendorViewer,
    PartnerAdmin,
    AccountManager,
    AccountManagerDirector,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::VendorAdmin,
        Role::ChannelManager,
        Role::VendorViewer,
        Role::PartnerAdmin,
        Role::AccountManager,
        Role::AccountManagerDirector,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::VendorAdmin => "vendor_admin",
            Role::ChannelManager => "channel_manager",
            Role::VendorViewer => "vendor_viewer",
            Role::PartnerAdmin => "partner_admin",
            Role::AccountManager => "account_manager",
            Role::AccountManagerDirector => "account_manager_director",
        }
    }

    /// Vendor roles belong to the vendor org; the rest to partner orgs.
    pub fn is_vendor_role(&self) -> bool {
        matches!(
            self,
            Role::VendorAdmin | Role::ChannelManager | Role::VendorViewer
        )
    }

    /// Rule: directors and viewers are read-only.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Role::VendorViewer | Role::AccountManagerDirector)
    }

    /// An org's administrators: the vendor admin, a partner admin.
    pub fn is_admin(&self) -> bool {
        matches!(self, Role::VendorAdmin | Role::PartnerAdmin)
    }

    /// Vendor writers create, edit, distribute, approve and cancel.
    pub fn is_vendor_writer(&self) -> bool {
        matches!(self, Role::VendorAdmin | Role::ChannelManager)
    }

    /// Rule: a role fits only its kind of org.
    pub fn fits(&self, kind: OrgKind) -> bool {
        self.is_vendor_role() == (kind == OrgKind::Vendor)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directors_and_viewers_are_read_only() {
        let read_only: Vec<_> = Role::ALL.into_iter().filter(Role::is_read_only).collect();
        assert_eq!(
            read_only,
            vec![Role::VendorViewer, Role::AccountManagerDirector]
        );
    }

    #[test]
    fn vendor_roles_fit_only_the_vendor_org() {
        for role in Role::ALL {
            assert_eq!(role.fits(OrgKind::Vendor), role.is_vendor_role(), "{role}");
            assert_eq!(role.fits(OrgKind::Distributor), !role.is_vendor_role());
            assert_eq!(role.fits(OrgKind::Reseller), !role.is_vendor_role());
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
