//! External references (DOMAIN.md): an org's own id for an opportunity or a
//! customer it can see, so that its CRM syncs without a mapping table.
//! Unique per org and resource kind, read only by the org that set it.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::error::DomainError;

/// The longest reference, in characters.
pub const MAX_LEN: usize = 200;

/// A reference as an org's CRM spells it: 1 to 200 characters, no control
/// characters, no surrounding spaces. Kept exactly (CRM ids are
/// case-sensitive), so a filter finds it as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalRef(String);

impl ExternalRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for ExternalRef {
    type Err = String;

    /// Rule: a reference is 1 to 200 characters without control characters
    /// or surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            Err("must not be empty".to_owned())
        } else if s.chars().count() > MAX_LEN {
            Err(format!("must be at most {MAX_LEN} characters"))
        } else if s.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
        } else if s.trim() != s {
            Err("must not begin or end with white space".to_owned())
        } else {
            Ok(Self(s.to_owned()))
        }
    }
}

impl fmt::Display for ExternalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an external reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    Customer,
    Opportunity,
}

impl RefKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RefKind::Customer => "customer",
            RefKind::Opportunity => "opportunity",
        }
    }
}

/// Rule: an org attaches a reference to what its user can see and may write
/// to at all; read-only roles (directors, viewers) attach none. Whether the
/// resource is visible is the caller's to check first (404 otherwise).
pub fn check_can_attach(actor: &Actor) -> Result<(), DomainError> {
    actor.ensure_can_write()
}

/// Rule: a reference is unique per org and resource kind; a second resource
/// given the same one is a 409 that names the first.
pub fn taken(kind: RefKind, external_ref: &ExternalRef, existing: uuid::Uuid) -> DomainError {
    DomainError::Duplicate {
        code: "external_ref_exists",
        detail: format!(
            "your org's external_ref `{external_ref}` already names {} {existing}",
            kind.as_str()
        ),
        existing_id: existing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{reseller_admin, vendor};
    use crate::role::Role;

    #[test]
    fn an_external_ref_is_kept_exactly_and_refuses_what_no_crm_id_holds() {
        for good in [
            "0061t00000ABCdeAAA",
            "a",
            "CRM 42/7",
            "ünï-ref",
            &"x".repeat(200),
        ] {
            assert_eq!(good.parse::<ExternalRef>().unwrap().as_str(), good);
        }
        for bad in ["", " x", "x ", "a\tb", "a\u{0}b", "a\nb", &"x".repeat(201)] {
            assert!(bad.parse::<ExternalRef>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn read_only_roles_attach_no_external_ref() {
        assert!(check_can_attach(&vendor(Role::VendorViewer)).is_err());
        assert!(check_can_attach(&vendor(Role::ChannelManager)).is_ok());
        assert!(check_can_attach(&reseller_admin()).is_ok());
    }

    #[test]
    fn a_taken_external_ref_is_a_conflict_naming_the_existing_resource() {
        let id = uuid::Uuid::now_v7();
        let e = taken(RefKind::Customer, &"C-1".parse().unwrap(), id);
        match e {
            DomainError::Duplicate {
                code,
                detail,
                existing_id,
            } => {
                assert_eq!(code, "external_ref_exists");
                assert_eq!(existing_id, id);
                assert!(detail.contains(&id.to_string()), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }
}
