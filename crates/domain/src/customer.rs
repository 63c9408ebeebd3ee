//! End-customer accounts: who may register them, and when two rows are the
//! same real customer.

use std::fmt;
use std::str::FromStr;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::{CustomerId, OrgId};
use crate::org::OrgKind;
use crate::values::CountryCode;

/// How an org holds a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Registration {
    /// A partner works with this customer; several partners may.
    Preregistered,
    /// The vendor made this partner the customer's holder; only one may be.
    Associated,
    /// The vendor holds the customer itself.
    VendorOwned,
}

impl Registration {
    pub fn as_str(&self) -> &'static str {
        match self {
            Registration::Preregistered => "preregistered",
            Registration::Associated => "associated",
            Registration::VendorOwned => "vendor_owned",
        }
    }
}

impl FromStr for Registration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "preregistered" => Ok(Registration::Preregistered),
            "associated" => Ok(Registration::Associated),
            "vendor_owned" => Ok(Registration::VendorOwned),
            _ => Err(format!("unknown registration `{s}`")),
        }
    }
}

impl fmt::Display for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Legal-form words ignored at the end of a company name.
const LEGAL_SUFFIXES: &[&str] = &[
    "ab",
    "ag",
    "aps",
    "as",
    "asa",
    "bv",
    "bvba",
    "co",
    "company",
    "corp",
    "corporation",
    "cv",
    "eg",
    "ev",
    "gbr",
    "gmbh",
    "inc",
    "incorporated",
    "kft",
    "kg",
    "kgaa",
    "kk",
    "limited",
    "llc",
    "llp",
    "lp",
    "ltd",
    "mbh",
    "nv",
    "oy",
    "oyj",
    "plc",
    "pte",
    "pty",
    "sa",
    "sarl",
    "sas",
    "se",
    "spa",
    "sro",
    "srl",
    "ug",
];

/// Rule (customer identity): case, punctuation and trailing legal suffixes
/// (GmbH, Ltd, Inc, …) do not make a different customer.
pub fn normalize_name(name: &str) -> String {
    let lowered = name.to_lowercase();
    let cleaned: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// A tax id compared without spaces, dots or dashes, upper case.
pub fn normalize_tax_id(tax_id: &str) -> Option<String> {
    let t: String = tax_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!t.is_empty()).then_some(t)
}

/// A web domain compared without scheme, `www.`, path or case.
pub fn normalize_domain(domain: &str) -> Option<String> {
    let d = domain.trim().to_lowercase();
    let d = d
        .strip_prefix("https://")
        .or_else(|| d.strip_prefix("http://"))
        .unwrap_or(&d);
    let d = d.split(['/', '?', '#']).next().unwrap_or("");
    let d = d.strip_prefix("www.").unwrap_or(d).trim_end_matches('.');
    (d.contains('.') && !d.starts_with('.')).then(|| d.to_owned())
}

/// What identifies a real customer across orgs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerIdentity {
    pub name_key: String,
    pub country: CountryCode,
    pub tax_id: Option<String>,
    pub web_domain: Option<String>,
}

impl CustomerIdentity {
    pub fn new(
        name: &str,
        country: CountryCode,
        tax_id: Option<&str>,
        web_domain: Option<&str>,
    ) -> Self {
        Self {
            name_key: normalize_name(name),
            country,
            tax_id: tax_id.and_then(normalize_tax_id),
            web_domain: web_domain.and_then(normalize_domain),
        }
    }

    /// Rule (customer identity): same normalized name and country, or an equal
    /// tax id, or an equal web domain when both give one.
    pub fn same_customer(&self, other: &CustomerIdentity) -> bool {
        let both_equal =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x == y);
        (self.name_key == other.name_key && self.country == other.country)
            || both_equal(&self.tax_id, &other.tax_id)
            || both_equal(&self.web_domain, &other.web_domain)
    }
}

/// An existing customer row, as far as the identity rules need it.
#[derive(Debug, Clone)]
pub struct ExistingCustomer {
    pub id: CustomerId,
    pub org_id: OrgId,
    pub org_name: String,
    pub registration: Registration,
    pub identity: CustomerIdentity,
}

/// Rule: who may register a customer for which org, and how.
/// Partners register customers for their own org, as `preregistered`; vendor
/// writers register for the vendor (`vendor_owned`) or for a partner
/// (`preregistered` or `associated`).
pub fn decide_registration(
    actor: &Actor,
    target_org: (OrgId, OrgKind),
    requested: Option<Registration>,
) -> Result<Registration, DomainError> {
    actor.ensure_can_write()?;
    let (org_id, kind) = target_org;
    if actor.is_vendor() {
        if !actor.role.is_vendor_writer() {
            return Err(DomainError::forbidden(
                "only vendor writers register customers",
            ));
        }
        return match (kind, requested) {
            (OrgKind::Vendor, None | Some(Registration::VendorOwned)) => {
                Ok(Registration::VendorOwned)
            }
            (OrgKind::Vendor, Some(_)) => Err(DomainError::invalid(
                "registration",
                "a customer held by the vendor is `vendor_owned`",
            )),
            (_, None | Some(Registration::Preregistered)) => Ok(Registration::Preregistered),
            (_, Some(Registration::Associated)) => Ok(Registration::Associated),
            (_, Some(Registration::VendorOwned)) => Err(DomainError::invalid(
                "registration",
                "a partner's customer is `preregistered` or `associated`",
            )),
        };
    }
    if org_id != actor.org_id {
        return Err(DomainError::invalid(
            "org_id",
            "partners register customers for their own org only",
        ));
    }
    match requested {
        None | Some(Registration::Preregistered) => Ok(Registration::Preregistered),
        Some(_) => Err(DomainError::invalid(
            "registration",
            "only the vendor associates customers with a partner",
        )),
    }
}

/// Rule: one org holds a real customer once (409 duplicate), and a customer
/// is associated with at most one partner (409 naming the holder).
pub fn check_new_customer(
    org_id: OrgId,
    registration: Registration,
    identity: &CustomerIdentity,
    existing: &[ExistingCustomer],
) -> Result<(), DomainError> {
    for other in existing
        .iter()
        .filter(|e| e.identity.same_customer(identity))
    {
        if other.org_id == org_id {
            return Err(DomainError::Conflict {
                code: "duplicate_customer",
                detail: format!("this org already holds the same customer as {}", other.id),
            });
        }
        if registration == Registration::Associated
            && other.registration == Registration::Associated
        {
            return Err(DomainError::Conflict {
                code: "customer_already_associated",
                detail: format!(
                    "the customer is already associated with {} ({})",
                    other.org_name, other.org_id
                ),
            });
        }
    }
    Ok(())
}

/// Rule: vendor users see every customer; a partner sees its own org's and,
/// for a distributor, its resellers'.
pub fn can_view_customer(actor: &Actor, customer_org: OrgId) -> bool {
    actor.is_vendor() || actor.org_scope().contains(&customer_org)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, reseller_admin, vendor};
    use crate::role::Role;

    fn de() -> CountryCode {
        "DE".parse().unwrap()
    }

    #[test]
    fn customer_identity_ignores_case_punctuation_and_legal_suffixes() {
        assert_eq!(normalize_name("Fabrikam GmbH"), "fabrikam");
        assert_eq!(normalize_name("FABRIKAM, g.m.b.h."), "fabrikam g m b h");
        assert_eq!(normalize_name("Contoso Ltd."), "contoso");
        assert_eq!(
            normalize_name("Müller & Söhne GmbH & Co. KG"),
            "müller söhne"
        );
        assert_eq!(normalize_name("Inc"), "inc");
        let a = CustomerIdentity::new("Fabrikam GmbH", de(), None, None);
        let b = CustomerIdentity::new("fabrikam", de(), None, None);
        assert!(a.same_customer(&b));
    }

    #[test]
    fn customer_identity_needs_the_same_country_for_a_name_match() {
        let a = CustomerIdentity::new("Fabrikam", de(), None, None);
        let b = CustomerIdentity::new("Fabrikam", "AT".parse().unwrap(), None, None);
        assert!(!a.same_customer(&b));
    }

    #[test]
    fn customer_identity_matches_on_equal_tax_id_or_domain() {
        let a = CustomerIdentity::new("Alpha", de(), Some("DE 123.456.789"), None);
        let b = CustomerIdentity::new("Beta", "FR".parse().unwrap(), Some("de123456789"), None);
        assert!(a.same_customer(&b));
        let c = CustomerIdentity::new("Gamma", de(), None, Some("https://www.fabrikam.example/x"));
        let d = CustomerIdentity::new("Delta", de(), None, Some("FABRIKAM.example"));
        assert!(c.same_customer(&d));
        let e = CustomerIdentity::new("Epsilon", de(), None, None);
        assert!(!c.same_customer(&e), "one missing domain is no match");
    }

    fn existing(org: OrgId, registration: Registration, name: &str) -> ExistingCustomer {
        ExistingCustomer {
            id: CustomerId::new(),
            org_id: org,
            org_name: "Holder Inc".into(),
            registration,
            identity: CustomerIdentity::new(name, de(), None, None),
        }
    }

    #[test]
    fn second_association_with_another_partner_is_a_conflict_naming_the_holder() {
        let holder = OrgId::new();
        let rows = [existing(holder, Registration::Associated, "Fabrikam GmbH")];
        let id = CustomerIdentity::new("Fabrikam", de(), None, None);
        let err =
            check_new_customer(OrgId::new(), Registration::Associated, &id, &rows).unwrap_err();
        match err {
            DomainError::Conflict { code, detail } => {
                assert_eq!(code, "customer_already_associated");
                assert!(detail.contains(&holder.to_string()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_partners_may_preregister_the_same_customer() {
        let rows = [existing(OrgId::new(), Registration::Associated, "Fabrikam")];
        let id = CustomerIdentity::new("Fabrikam", de(), None, None);
        assert!(check_new_customer(OrgId::new(), Registration::Preregistered, &id, &rows).is_ok());
    }

    #[test]
    fn an_org_holds_the_same_customer_once() {
        let org = OrgId::new();
        let rows = [existing(org, Registration::Preregistered, "Fabrikam")];
        let id = CustomerIdentity::new("FABRIKAM gmbh", de(), None, None);
        assert!(matches!(
            check_new_customer(org, Registration::Preregistered, &id, &rows),
            Err(DomainError::Conflict {
                code: "duplicate_customer",
                ..
            })
        ));
    }

    #[test]
    fn partners_preregister_customers_for_their_own_org_only() {
        let actor = reseller_admin();
        let own = (actor.org_id, OrgKind::Reseller);
        assert_eq!(
            decide_registration(&actor, own, None).unwrap(),
            Registration::Preregistered
        );
        assert!(decide_registration(&actor, own, Some(Registration::Associated)).is_err());
        assert!(decide_registration(&actor, (OrgId::new(), OrgKind::Reseller), None).is_err());
        let director = actor.with_role(Role::AccountManagerDirector);
        assert!(matches!(
            decide_registration(&director, own, None),
            Err(DomainError::Forbidden(_))
        ));
    }

    #[test]
    fn vendor_writers_hold_or_associate_customers() {
        let cm = vendor(Role::ChannelManager);
        assert_eq!(
            decide_registration(&cm, (cm.org_id, OrgKind::Vendor), None).unwrap(),
            Registration::VendorOwned
        );
        assert_eq!(
            decide_registration(
                &cm,
                (OrgId::new(), OrgKind::Reseller),
                Some(Registration::Associated)
            )
            .unwrap(),
            Registration::Associated
        );
        assert!(
            decide_registration(
                &vendor(Role::VendorViewer),
                (cm.org_id, OrgKind::Vendor),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn distributor_sees_its_resellers_customers() {
        let d = distributor_admin();
        assert!(can_view_customer(&d, d.reseller_ids[0]));
        assert!(!can_view_customer(&reseller_admin(), d.org_id));
    }
}

/// Rule: a partner sees the names of customers its own org holds; names of
/// customers held by others it acts for (a distributor's resellers') are
/// masked wherever it meets them (customers, opportunities, lists, search)
/// unless it asks to reveal them, and the reveal is recorded. A customer
/// the vendor holds is named in clear on the offers made to a partner.
pub fn name_is_masked(actor: &Actor, customer_org: OrgId) -> bool {
    !actor.is_vendor() && actor.reseller_ids.contains(&customer_org)
}

/// The orgs whose customers' names are masked for `actor`.
pub fn masked_orgs(actor: &Actor) -> Vec<OrgId> {
    if actor.is_vendor() {
        Vec::new()
    } else {
        actor.reseller_ids.clone()
    }
}

/// Keeps each word's first character: "Fabrikam GmbH" → "F••••••• G•••".
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"•".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod masking_tests {
    use super::*;
    use crate::actor::tests::{distributor_admin, vendor};
    use crate::role::Role;

    #[test]
    fn resellers_customer_names_are_masked_for_the_distributor() {
        let d = distributor_admin();
        assert!(name_is_masked(&d, d.reseller_ids[0]));
        assert!(!name_is_masked(&d, d.org_id));
        assert!(!name_is_masked(&vendor(Role::VendorViewer), d.org_id));
        assert_eq!(mask_name("Fabrikam GmbH"), "F••••••• G•••");
        assert_eq!(masked_orgs(&d), d.reseller_ids);
    }

    #[test]
    fn a_vendor_held_customer_is_named_in_clear_on_a_partners_offer() {
        let d = distributor_admin();
        let vendor_org = OrgId::new();
        assert!(!name_is_masked(&d, vendor_org));
        assert!(masked_orgs(&vendor(Role::ChannelManager)).is_empty());
    }
}
