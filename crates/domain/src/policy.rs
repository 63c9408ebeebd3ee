//! The vendor's policy: acceptance window, extensions, exclusivity,
//! automatic re-assignment, ranking weights and reason codes.

use crate::error::{DomainError, Violations};
use crate::reason::{self, ReasonCode};

/// Weights of the automatic-distribution score parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub country: u32,
    pub industry: u32,
    pub product_lines: u32,
    pub tier: u32,
    pub capacity: u32,
    pub history: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Hours a partner has to accept or decline an offer.
    pub acceptance_window_hours: u32,
    /// Re-assign automatically on decline or expiry.
    pub auto_reassign: bool,
    pub max_auto_reassignments: u32,
    /// How many times an accepted opportunity may be extended.
    pub max_extensions: u32,
    /// How far ahead of today a new expiry date may lie.
    pub max_extension_days: u32,
    /// Default exclusivity of an approved deal registration.
    pub registration_exclusivity_days: u32,
    /// Days an opportunity stays valid after it is accepted.
    pub opportunity_validity_days: u32,
    pub weights: Weights,
    /// The codes decline, return, reject, cancel and a lost close take.
    pub reason_codes: Vec<ReasonCode>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            acceptance_window_hours: 72,
            auto_reassign: true,
            max_auto_reassignments: 3,
            max_extensions: 2,
            max_extension_days: 90,
            registration_exclusivity_days: 90,
            opportunity_validity_days: 90,
            weights: Weights {
                country: 30,
                industry: 20,
                product_lines: 25,
                tier: 10,
                capacity: 10,
                history: 5,
            },
            reason_codes: ReasonCode::defaults(),
        }
    }
}

/// Bounds of every policy number, shared with the API schema.
pub mod limits {
    pub const ACCEPTANCE_WINDOW_HOURS: (u32, u32) = (1, 24 * 90);
    pub const MAX_AUTO_REASSIGNMENTS: (u32, u32) = (0, 20);
    pub const MAX_EXTENSIONS: (u32, u32) = (0, 20);
    pub const MAX_EXTENSION_DAYS: (u32, u32) = (1, 730);
    pub const REGISTRATION_EXCLUSIVITY_DAYS: (u32, u32) = (1, 730);
    pub const OPPORTUNITY_VALIDITY_DAYS: (u32, u32) = (1, 730);
    pub const WEIGHT: (u32, u32) = (0, 100);
}

impl Policy {
    /// Rules: every number within its bounds, at least one weight above 0,
    /// and the reason codes' list rule ([`reason::check_codes`]).
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut v = Violations::new();
        let mut check = |field: &str, value: u32, (min, max): (u32, u32)| {
            if !(min..=max).contains(&value) {
                v.add(field, format!("must be from {min} to {max}"));
            }
        };
        check(
            "acceptance_window_hours",
            self.acceptance_window_hours,
            limits::ACCEPTANCE_WINDOW_HOURS,
        );
        check(
            "max_auto_reassignments",
            self.max_auto_reassignments,
            limits::MAX_AUTO_REASSIGNMENTS,
        );
        check(
            "max_extensions",
            self.max_extensions,
            limits::MAX_EXTENSIONS,
        );
        check(
            "max_extension_days",
            self.max_extension_days,
            limits::MAX_EXTENSION_DAYS,
        );
        check(
            "registration_exclusivity_days",
            self.registration_exclusivity_days,
            limits::REGISTRATION_EXCLUSIVITY_DAYS,
        );
        check(
            "opportunity_validity_days",
            self.opportunity_validity_days,
            limits::OPPORTUNITY_VALIDITY_DAYS,
        );
        let w = self.weights;
        for (name, value) in [
            ("weights.country", w.country),
            ("weights.industry", w.industry),
            ("weights.product_lines", w.product_lines),
            ("weights.tier", w.tier),
            ("weights.capacity", w.capacity),
            ("weights.history", w.history),
        ] {
            check(name, value, limits::WEIGHT);
        }
        if w.country + w.industry + w.product_lines + w.tier + w.capacity + w.history == 0 {
            v.add("weights", "at least one weight must be above 0");
        }
        reason::check_codes(&self.reason_codes, &mut v);
        v.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_and_matches_the_documented_defaults() {
        let p = Policy::default();
        assert!(p.validate().is_ok());
        assert_eq!(p.acceptance_window_hours, 72);
        assert_eq!(p.weights.country, 30);
        assert_eq!(p.reason_codes, ReasonCode::defaults());
    }

    #[test]
    fn a_policy_without_the_other_reason_code_is_invalid() {
        let p = Policy {
            reason_codes: vec![ReasonCode::parse("budget").unwrap()],
            ..Policy::default()
        };
        match p.validate() {
            Err(DomainError::Invalid(f)) => assert_eq!(f[0].field, "reason_codes"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn policy_numbers_stay_within_bounds() {
        let p = Policy {
            acceptance_window_hours: 0,
            max_extension_days: 10_000,
            weights: Weights {
                country: 0,
                industry: 0,
                product_lines: 0,
                tier: 0,
                capacity: 0,
                history: 0,
            },
            ..Policy::default()
        };
        match p.validate() {
            Err(DomainError::Invalid(f)) => {
                let fields: Vec<_> = f.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(
                    fields,
                    vec!["acceptance_window_hours", "max_extension_days", "weights"]
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
