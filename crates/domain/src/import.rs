//! Imports (API.md, "Bulk"): many creates posted as one CSV and run in the
//! background, each row as the single create would run (same validation,
//! same authorization). What an import is, its limits and who reads it.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::{OrgId, UserId};

/// The most data rows one import may hold.
pub const MAX_ROWS: usize = 50_000;

/// The largest CSV body, in bytes.
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What an import creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportKind {
    Customers,
    Opportunities,
}

impl ImportKind {
    pub const ALL: [ImportKind; 2] = [ImportKind::Customers, ImportKind::Opportunities];

    pub fn as_str(&self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Opportunities => "opportunities",
        }
    }

    /// Rows run in one transaction. A customer's identity check holds a
    /// lock every customer create waits for until the batch commits, so
    /// customers go in smaller batches.
    pub fn batch(&self) -> usize {
        match self {
            ImportKind::Customers => 50,
            ImportKind::Opportunities => 200,
        }
    }
}

impl FromStr for ImportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown import kind `{s}`"))
    }
}

impl fmt::Display for ImportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportStatus {
    /// Posted; no row has run yet.
    Queued,
    /// Rows are running, batch by batch.
    Running,
    /// Every row has run (created or rejected).
    Done,
    /// Stopped before its end; `failure` says why.
    Failed,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 4] = [
        ImportStatus::Queued,
        ImportStatus::Running,
        ImportStatus::Done,
        ImportStatus::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }
}

impl FromStr for ImportStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown import status `{s}`"))
    }
}

/// Rule: an import is a write, so read-only roles post none; what each row
/// may create is decided row by row, as for the single create.
pub fn check_can_import(actor: &Actor) -> Result<(), DomainError> {
    actor.ensure_can_write()
}

/// Rule: an import is read by the user who posted it and by its org's
/// admins (a vendor admin for the vendor's), not by other orgs.
pub fn can_view_import(actor: &Actor, org: OrgId, user: UserId) -> bool {
    actor.org_id == org && (actor.user_id == user || actor.role.is_admin())
}

/// Rule: a row runs as its importer would run it now, so an import whose
/// importer may no longer act stops.
pub fn check_importer(active: bool) -> Result<(), DomainError> {
    if active {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "the importing user or its org has been deactivated",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{reseller_admin, vendor};
    use crate::role::Role;

    #[test]
    fn an_import_is_read_by_its_importer_and_its_orgs_admins_only() {
        let admin = reseller_admin();
        let mut am = admin.clone();
        am.user_id = UserId::new();
        am.role = Role::AccountManager;
        let mut other_am = am.clone();
        other_am.user_id = UserId::new();
        assert!(can_view_import(&am, am.org_id, am.user_id));
        assert!(can_view_import(&admin, am.org_id, am.user_id));
        assert!(!can_view_import(&other_am, am.org_id, am.user_id));
        let cm = vendor(Role::VendorAdmin);
        assert!(
            !can_view_import(&cm, am.org_id, am.user_id),
            "not the vendor's"
        );
    }

    #[test]
    fn read_only_roles_post_no_import() {
        assert!(check_can_import(&vendor(Role::VendorViewer)).is_err());
        assert!(check_can_import(&vendor(Role::ChannelManager)).is_ok());
    }

    #[test]
    fn import_kinds_and_statuses_round_trip_their_names() {
        for k in ImportKind::ALL {
            assert_eq!(k.as_str().parse::<ImportKind>().unwrap(), k);
        }
        for s in ImportStatus::ALL {
            assert_eq!(s.as_str().parse::<ImportStatus>().unwrap(), s);
        }
        assert!("leads".parse::<ImportKind>().is_err());
    }
}
