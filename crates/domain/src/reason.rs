//! Reasons (DOMAIN.md, "Reasons"): decline, return, reject, cancel and a
//! lost close take a reason code from the vendor's list in the policy, plus
//! an optional text; `other` needs the text.

use std::fmt;
use std::str::FromStr;

use crate::error::{DomainError, Violations};

/// The code that needs a text, and that every policy's list holds.
pub const OTHER: &str = "other";

/// The policy's list when the vendor has not set one.
pub const DEFAULT_CODES: [&str; 8] = [
    "no_capacity",
    "not_our_territory",
    "customer_not_interested",
    "budget",
    "competitor",
    "timing",
    "duplicate",
    OTHER,
];

/// What a code looks like; the same in the API schema.
pub const CODE_PATTERN: &str = "^[a-z][a-z0-9_]{0,39}$";
/// Longest code.
pub const CODE_MAX_LEN: usize = 40;
/// How many codes a policy lists, at least and at most.
pub const CODES_PER_POLICY: (usize, usize) = (1, 50);
/// Longest reason text, in characters.
pub const TEXT_MAX_CHARS: usize = 1000;

/// A reason code: a lower-case letter, then up to 39 lower-case letters,
/// digits or underscores (`no_capacity`). Which codes a caller may use is
/// the policy's list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReasonCode(String);

impl ReasonCode {
    /// Rule: a code is `^[a-z][a-z0-9_]{0,39}$`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut bytes = s.bytes();
        let shaped = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
            && s.len() <= CODE_MAX_LEN
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if shaped {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a reason code: a lower-case letter, then up to 39 lower-case letters, digits or underscores"
            ))
        }
    }

    /// `other`, the code of a reason given only as text.
    pub fn other() -> Self {
        Self(OTHER.to_owned())
    }

    pub fn is_other(&self) -> bool {
        self.0 == OTHER
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default list (see [`DEFAULT_CODES`]).
    pub fn defaults() -> Vec<ReasonCode> {
        DEFAULT_CODES
            .iter()
            .map(|c| Self((*c).to_owned()))
            .collect()
    }
}

impl AsRef<str> for ReasonCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReasonCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Rule (the policy's list): 1 to 50 codes, each listed once, `other` among
/// them. Field names are the API's (`reason_codes`, `reason_codes[i]`).
pub fn check_codes<S: AsRef<str>>(codes: &[S], v: &mut Violations) {
    let (min, max) = CODES_PER_POLICY;
    if !(min..=max).contains(&codes.len()) {
        v.add(
            "reason_codes",
            format!("must list from {min} to {max} codes"),
        );
    }
    for (i, code) in codes.iter().enumerate() {
        let code = code.as_ref();
        if codes[..i].iter().any(|c| c.as_ref() == code) {
            v.add(
                format!("reason_codes[{i}]"),
                format!("`{code}` is listed twice"),
            );
        }
    }
    if !codes.iter().any(|c| c.as_ref() == OTHER) {
        v.add(
            "reason_codes",
            "must include `other`, the code of a reason given only as text",
        );
    }
}

/// A policy's list as written: each code parsed, and the list's rule
/// ([`check_codes`]); every failure at once.
pub fn parse_codes<S: AsRef<str>>(list: &[S]) -> Result<Vec<ReasonCode>, DomainError> {
    let mut v = Violations::new();
    let codes: Vec<ReasonCode> = list
        .iter()
        .enumerate()
        .filter_map(|(i, s)| v.check(&format!("reason_codes[{i}]"), ReasonCode::parse(s.as_ref())))
        .collect();
    check_codes(list, &mut v);
    v.into_result().map(|()| codes)
}

/// A reason as a caller gives it, before it is checked against the policy:
/// a code (absent: only a text was given) and a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonInput {
    pub code: Option<String>,
    pub text: Option<String>,
}

impl ReasonInput {
    /// A reason given only as text: it is recorded as `other`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            code: None,
            text: Some(text.into()),
        }
    }

    /// A code, with or without a text.
    pub fn coded(code: impl Into<String>, text: Option<String>) -> Self {
        Self {
            code: Some(code.into()),
            text,
        }
    }

    /// Rule: a text, when given, is 1 to 1000 characters and not blank; it
    /// is recorded trimmed.
    fn checked_text(&self, v: &mut Violations) -> Option<String> {
        let text = self.text.as_deref()?.trim();
        if text.is_empty() {
            v.add("reason", "must not be blank");
            None
        } else if text.chars().count() > TEXT_MAX_CHARS {
            v.add(
                "reason",
                format!("must be at most {TEXT_MAX_CHARS} characters"),
            );
            None
        } else {
            Some(text.to_owned())
        }
    }
}

/// A user's reason as recorded: a code from the policy's list and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub text: Option<String>,
}

fn listing(codes: &[ReasonCode]) -> String {
    codes
        .iter()
        .map(ReasonCode::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Reason {
    /// Rules: the code is one of `codes` (the policy's); a reason given only
    /// as text is `other`; `other` needs the text; a reason gives a code or
    /// a text.
    pub fn parse(codes: &[ReasonCode], input: &ReasonInput) -> Result<Reason, DomainError> {
        let mut v = Violations::new();
        let text = input.checked_text(&mut v);
        let code = match input.code.as_deref() {
            None if input.text.is_none() => Err(format!(
                "give a reason_code (one of the policy's: {}) or a reason text",
                listing(codes)
            )),
            None => Ok(ReasonCode::other()),
            Some(c) => codes
                .iter()
                .find(|k| k.as_str() == c)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "`{c}` is not one of the policy's reason codes: {}",
                        listing(codes)
                    )
                }),
        };
        let code = v.check("reason_code", code);
        if code.as_ref().is_some_and(ReasonCode::is_other) && input.text.is_none() {
            v.add("reason", "the reason code `other` needs a reason text");
        }
        v.into_result()?;
        code.map(|code| Reason { code, text })
            .ok_or_else(|| DomainError::invalid("reason_code", "is required"))
    }

    /// Rules: a won close takes no reason code (only a loss has one); its
    /// text is optional.
    pub fn parse_won(input: &ReasonInput) -> Result<Option<String>, DomainError> {
        let mut v = Violations::new();
        if input.code.is_some() {
            v.add(
                "reason_code",
                "only a lost close takes a reason code; a won one gives at most a reason text",
            );
        }
        let text = input.checked_text(&mut v);
        v.into_result().map(|()| text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<impl fmt::Debug, DomainError>) -> Vec<String> {
        match r {
            Err(DomainError::Invalid(f)) => f.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn defaults() -> Vec<ReasonCode> {
        ReasonCode::defaults()
    }

    #[test]
    fn a_reason_code_is_a_lower_case_word_of_at_most_40_characters() {
        for good in ["other", "no_capacity", "a", "x1_2", &"a".repeat(40)] {
            assert!(ReasonCode::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Other",
            "1st",
            "_x",
            "no-capacity",
            "no capacity",
            "ünï",
            &"a".repeat(41),
        ] {
            assert!(ReasonCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_default_codes_are_the_documented_eight_and_include_other() {
        let d = defaults();
        assert_eq!(d.len(), 8);
        assert_eq!(d[0].as_str(), "no_capacity");
        assert!(d.iter().any(ReasonCode::is_other));
        assert!(parse_codes(&DEFAULT_CODES).is_ok());
    }

    #[test]
    fn a_reason_takes_a_code_from_the_policys_list() {
        let r = Reason::parse(&defaults(), &ReasonInput::coded("budget", None)).unwrap();
        assert_eq!(r.code.as_str(), "budget");
        assert_eq!(r.text, None);
        let r = Reason::parse(
            &defaults(),
            &ReasonInput::coded("competitor", Some(" chose Fabrikam ".into())),
        )
        .unwrap();
        assert_eq!(r.text.as_deref(), Some("chose Fabrikam"), "trimmed");
    }

    #[test]
    fn an_unknown_reason_code_is_refused_naming_the_policys_codes() {
        let codes = vec![ReasonCode::parse("late").unwrap(), ReasonCode::other()];
        match Reason::parse(&codes, &ReasonInput::coded("budget", Some("x".into()))) {
            Err(DomainError::Invalid(f)) => {
                assert_eq!(f.len(), 1);
                assert_eq!(f[0].field, "reason_code");
                assert!(f[0].message.contains("late, other"), "{}", f[0].message);
            }
            other => panic!("{other:?}"),
        }
        // A code of the defaults is unknown once the vendor's list omits it.
        assert!(Reason::parse(&codes, &ReasonInput::coded("late", None)).is_ok());
    }

    #[test]
    fn other_reason_code_needs_text() {
        assert_eq!(
            fields(Reason::parse(
                &defaults(),
                &ReasonInput::coded("other", None)
            )),
            ["reason"]
        );
        let r = Reason::parse(
            &defaults(),
            &ReasonInput::coded("other", Some("moved abroad".into())),
        )
        .unwrap();
        assert!(r.code.is_other());
    }

    #[test]
    fn a_plain_reason_text_is_recorded_as_other() {
        let r = Reason::parse(&defaults(), &ReasonInput::text("no capacity this quarter")).unwrap();
        assert_eq!(r.code, ReasonCode::other());
        assert_eq!(r.text.as_deref(), Some("no capacity this quarter"));
    }

    #[test]
    fn a_reason_gives_a_code_or_a_text() {
        assert_eq!(
            fields(Reason::parse(&defaults(), &ReasonInput::default())),
            ["reason_code"]
        );
    }

    #[test]
    fn a_reason_text_is_not_blank_and_at_most_1000_characters() {
        assert_eq!(
            fields(Reason::parse(&defaults(), &ReasonInput::text("  "))),
            ["reason"]
        );
        let long = "é".repeat(1001);
        assert_eq!(
            fields(Reason::parse(
                &defaults(),
                &ReasonInput::coded("budget", Some(long))
            )),
            ["reason"]
        );
        assert!(Reason::parse(&defaults(), &ReasonInput::text("é".repeat(1000))).is_ok());
    }

    #[test]
    fn a_won_close_takes_no_reason_code() {
        assert_eq!(
            fields(Reason::parse_won(&ReasonInput::coded("budget", None))),
            ["reason_code"]
        );
        assert_eq!(Reason::parse_won(&ReasonInput::default()), Ok(None));
        assert_eq!(
            Reason::parse_won(&ReasonInput::text(" signed ")),
            Ok(Some("signed".to_owned()))
        );
    }

    #[test]
    fn policy_reason_codes_must_include_other() {
        assert_eq!(fields(parse_codes(&["budget", "timing"])), ["reason_codes"]);
        assert!(parse_codes(&["other"]).is_ok());
    }

    #[test]
    fn policy_reason_codes_are_1_to_50_distinct_well_formed_codes() {
        let empty: [&str; 0] = [];
        assert_eq!(
            fields(parse_codes(&empty)),
            ["reason_codes", "reason_codes"],
            "too few, and no `other`"
        );
        let many: Vec<String> = (0..50)
            .map(|i| format!("code_{i}"))
            .chain([OTHER.to_owned()])
            .collect();
        assert_eq!(fields(parse_codes(&many)), ["reason_codes"]);
        assert!(parse_codes(&many[1..]).is_ok(), "50 codes");
        assert_eq!(
            fields(parse_codes(&["other", "budget", "budget"])),
            ["reason_codes[2]"]
        );
        assert_eq!(
            fields(parse_codes(&["other", "Budget", "no-way"])),
            ["reason_codes[1]", "reason_codes[2]"]
        );
    }
}
