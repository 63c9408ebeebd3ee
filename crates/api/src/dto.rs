//! Wire types shared by several resources: enums as the API spells them,
//! money, and the field checks request types use.

use std::borrow::Cow;

use chrono::NaiveDate;

use prm_domain::customer::Registration;
use prm_domain::deal::{RegAction, RegStatus};
use prm_domain::import::{ImportKind, ImportStatus};
use prm_domain::lifecycle::{Field, Relation};
use prm_domain::opportunity::{Action, Origin, Phase, Status};
use prm_domain::org::{OrgKind, Tier};
use prm_domain::reason::{self, ReasonCode, ReasonInput};
use prm_domain::role::Role;
use prm_domain::values::{CountryCode, CurrencyCode, Email, Money, labels, parse_amount};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError, ValidationErrors};

use crate::error::ApiError;

/// Declares a wire enum mirroring a domain enum, with conversions both ways.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $wire:ident as $schema:ident <=> $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[schema(as = $schema)]
        pub enum $wire { $($variant),+ }

        impl From<$domain> for $wire {
            fn from(v: $domain) -> Self {
                match v { $($domain::$variant => $wire::$variant),+ }
            }
        }

        impl From<$wire> for $domain {
            fn from(v: $wire) -> Self {
                match v { $($wire::$variant => $domain::$variant),+ }
            }
        }

        impl $crate::json::WriteJson for $wire {
            fn write_json(&self, out: &mut Vec<u8>) {
                $crate::json::WriteJson::write_json($domain::from(*self).as_str(), out)
            }
        }

        impl $wire {
            /// Every value.
            pub const ALL: &'static [Self] = &[$($wire::$variant),+];
        }
    };
}

wire_enum!(
    /// Kind of organization.
    OrgKindDto as OrgKind <=> OrgKind { Vendor, Distributor, Reseller }
);
wire_enum!(
    /// Partner tier: `platinum` > `gold` > `silver` > `registered`.
    TierDto as Tier <=> Tier { Registered, Silver, Gold, Platinum }
);
wire_enum!(
    /// A user's role.
    RoleDto as Role <=> Role {
        VendorAdmin, ChannelManager, VendorViewer, PartnerAdmin, AccountManager,
        AccountManagerDirector
    }
);
wire_enum!(
    /// How an org holds a customer.
    RegistrationDto as CustomerRegistration <=> Registration { Preregistered, Associated, VendorOwned }
);
wire_enum!(
    /// Opportunity lifecycle status.
    StatusDto as OpportunityStatus <=> Status {
        Draft, PendingApproval, Delivered, Accepted, Declined, Returned, Expired, Won, Lost,
        Canceled, Rejected
    }
);
wire_enum!(
    /// Who brought the opportunity in.
    OriginDto as Origin <=> Origin { Vendor, Partner }
);
wire_enum!(
    /// Sales pipeline phase.
    PhaseDto as PipelinePhase <=> Phase { Qualify, Develop, Propose, Negotiate, Commit }
);

wire_enum!(
    /// Something the caller may do to an opportunity now.
    ActionDto as OpportunityAction <=> Action {
        Edit, Approve, Reject, Withdraw, Distribute, AutoAssign, Accept, Decline, Return, Close, Extend,
        Cancel, AssignOwner, ManageCollaborators, AddNote, AddProgress, RegisterDeal
    }
);

wire_enum!(
    /// A field of an opportunity an edit (`PATCH`) may change, by its name
    /// in the edit body.
    FieldDto as EditableField <=> Field {
        Topic, Contact, EstimatedRevenue, ExpectedCloseDate, CustomerSituation, CustomerNeed,
        ProposedSolution, Country, Industry, ProductLines
    }
);

wire_enum!(
    /// How a caller relates to an opportunity, as the lifecycle table's rows
    /// name it (`GET /lifecycle` describes each).
    RelationDto as ActorRelation <=> Relation {
        VendorWriter, VendorWriterOnVendorOwned, CreatorAdminOrOwner, OfferedAdmin,
        PrimaryAdminOrOwner, HoldingPartnerAdmin, Collaborator, ResellersDistributor, AnyWriter
    }
);

wire_enum!(
    /// Deal registration status.
    RegStatusDto as DealRegistrationStatus <=> RegStatus {
        Submitted, Approved, Rejected, Withdrawn, Expired, Closed
    }
);
wire_enum!(
    /// Something the caller may do to a deal registration now.
    RegActionDto as DealRegistrationAction <=> RegAction { Approve, Reject, Withdraw }
);
wire_enum!(
    /// What an import creates.
    ImportKindDto as ImportKind <=> ImportKind { Customers, Opportunities }
);
wire_enum!(
    /// Where an import stands: `queued` (no row has run), `running`,
    /// `done` (every row created or rejected) or `failed` (stopped; see
    /// `failure`).
    ImportStatusDto as ImportStatus <=> ImportStatus { Queued, Running, Done, Failed }
);

/// A reason code: one of the vendor's list in the policy
/// (`GET /policies`, `reason_codes`). The default list is `no_capacity`,
/// `not_our_territory`, `customer_not_interested`, `budget`, `competitor`,
/// `timing`, `duplicate` and `other`; `other` needs a reason text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(as = ReasonCode, example = "no_capacity", pattern = "^[a-z][a-z0-9_]{0,39}$")]
pub struct ReasonCodeDto(pub String);

impl From<ReasonCode> for ReasonCodeDto {
    fn from(c: ReasonCode) -> Self {
        Self(c.as_str().to_owned())
    }
}

impl crate::json::WriteJson for ReasonCodeDto {
    fn write_json(&self, out: &mut Vec<u8>) {
        crate::json::WriteJson::write_json(self.0.as_str(), out)
    }
}

/// Why: a reason code from the policy's list, and a text. Decline, return,
/// reject and cancel take it. A body with only `reason` (the form before
/// codes existed) means `reason_code: "other"`; one with neither is a 422
/// naming `reason_code`. `other` needs `reason`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason_code": "no_capacity", "reason": "no capacity this quarter"}))]
pub struct ReasonBody {
    /// One of the policy's `reason_codes` (422 listing them otherwise).
    /// Absent: `other`, when a `reason` is given.
    pub reason_code: Option<ReasonCodeDto>,
    /// Free text, optional beside a code other than `other`.
    #[schema(
        min_length = 1,
        max_length = 1000,
        example = "no capacity this quarter"
    )]
    pub reason: Option<String>,
}

/// Checks of a reason's fields that need no policy, so that a body lacking
/// one is refused before anything is looked up, as when `reason` was
/// required: a text is 1 to 1000 characters and not blank; and, where a
/// reason is required (`required`), a code or a text is given. The policy's
/// rules are the domain's ([`prm_domain::reason::Reason::parse`]).
pub fn reason_fields(
    code: Option<&ReasonCodeDto>,
    text: Option<&str>,
    required: bool,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if let Some(t) = text {
        let (min, max) = (1, reason::TEXT_MAX_CHARS);
        if !(min..=max).contains(&t.chars().count()) {
            let mut e = ValidationError::new("length");
            e.add_param(Cow::from("min"), &min);
            e.add_param(Cow::from("max"), &max);
            errors.add("reason", e);
        } else if let Err(e) = not_blank(t) {
            errors.add("reason", e);
        }
    }
    if required && code.is_none() && text.is_none() {
        errors.add(
            "reason_code",
            invalid(
                "required",
                "give a reason_code from the policy's list, or a reason text (recorded as `other`)",
            ),
        );
    }
    errors
}

/// The errors, or none.
pub fn validation_result(errors: ValidationErrors) -> Result<(), ValidationErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

impl Validate for ReasonBody {
    fn validate(&self) -> Result<(), ValidationErrors> {
        validation_result(reason_fields(
            self.reason_code.as_ref(),
            self.reason.as_deref(),
            true,
        ))
    }
}

impl ReasonBody {
    /// The reason as the domain checks it against the policy.
    pub fn into_input(self) -> ReasonInput {
        ReasonInput {
            code: self.reason_code.map(|c| c.0),
            text: self.reason,
        }
    }
}

crate::json_struct! {
    /// An exact amount in a currency. `amount` is a decimal string, never a float.
    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
    #[serde(deny_unknown_fields)]
    #[schema(as = Money)]
    pub struct MoneyDto {
        /// Non-negative decimal with at most the currency's minor-unit places.
        #[schema(
            example = "120000.00",
            pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$",
            max_length = 20
        )]
        #[validate(custom(function = "valid_amount"))]
        pub amount: String,
        /// ISO 4217 code, upper case.
        #[schema(
            example = "EUR",
            pattern = "^[A-Z]{3}$",
            min_length = 3,
            max_length = 3
        )]
        #[validate(custom(function = "valid_currency"))]
        pub currency: String,
    }
}

impl MoneyDto {
    pub fn from_money(m: &Money) -> Self {
        Self {
            amount: m.amount_string(),
            currency: m.currency().as_str().to_owned(),
        }
    }

    /// Parses into domain money; `field` names it in a 422.
    pub fn parse(&self, field: &str) -> Result<Money, ApiError> {
        let currency: CurrencyCode = self
            .currency
            .parse()
            .map_err(|e: String| ApiError::validation(format!("{field}.currency"), e))?;
        Money::parse(&self.amount, currency)
            .map_err(|e| ApiError::validation(format!("{field}.amount"), e.to_string()))
    }
}

fn invalid(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// A calendar date as RFC 3339's `full-date`: `YYYY-MM-DD` with a
/// four-digit year from 0001 to 9999, and nothing else (chrono alone also
/// takes `2027-1-1` and `+10000-01-01`, which no client could read back).
/// Every date a request carries, in a body or a query, is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FullDate(pub NaiveDate);

impl FullDate {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !shaped || s.starts_with("0000") {
            return Err(format!(
                "`{s}` is not a full-date: YYYY-MM-DD, the year 0001 to 9999"
            ));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(FullDate)
            .map_err(|_| format!("`{s}` is not a day of the calendar"))
    }
}

impl From<FullDate> for NaiveDate {
    fn from(d: FullDate) -> Self {
        d.0
    }
}

impl<'de> Deserialize<'de> for FullDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        FullDate::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for FullDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

pub fn valid_amount(s: &str) -> Result<(), ValidationError> {
    // The currency decides the places; here only the shape is checked.
    parse_amount(s)
        .map(|_| ())
        .map_err(|e| invalid("amount", e.to_string()))
}

pub fn valid_currency(s: &str) -> Result<(), ValidationError> {
    s.parse::<CurrencyCode>()
        .map(|_| ())
        .map_err(|e| invalid("currency", e))
}

pub fn valid_country(s: &str) -> Result<(), ValidationError> {
    if s.len() != 2 {
        return Err(invalid(
            "country",
            "must be an ISO 3166-1 alpha-2 code such as DE",
        ));
    }
    s.parse::<CountryCode>()
        .map(|_| ())
        .map_err(|e| invalid("country", e))
}

pub fn valid_countries(list: &[String]) -> Result<(), ValidationError> {
    list.iter().try_for_each(|c| valid_country(c))
}

pub fn valid_email(s: &str) -> Result<(), ValidationError> {
    s.parse::<Email>()
        .map(|_| ())
        .map_err(|e| invalid("email", e))
}

pub fn valid_external_ref(s: &str) -> Result<(), ValidationError> {
    s.parse::<prm_domain::external_ref::ExternalRef>()
        .map(|_| ())
        .map_err(|e| invalid("external_ref", e))
}

pub fn not_blank(s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        Err(invalid("blank", "must not be blank"))
    } else {
        Ok(())
    }
}

pub fn valid_labels(list: &[String]) -> Result<(), ValidationError> {
    labels(list).map(|_| ()).map_err(|e| invalid("labels", e))
}

/// Deserializes a field that may be absent (outer `None`), `null` (clear it:
/// `Some(None)`) or a value.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::written_as_serde_json;

    #[test]
    fn a_full_date_has_four_year_digits_from_0001_to_9999() {
        for good in ["0001-01-01", "2027-01-01", "2028-02-29", "9999-12-31"] {
            let d = FullDate::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(d.0.format("%Y-%m-%d").to_string(), good);
        }
        for bad in [
            "0000-01-01",
            "2027-1-1",
            "+10000-01-01",
            "-0001-01-01",
            "2027-02-29",
            "2027-13-01",
            "2027-01-01T00:00:00Z",
            "２０２７-01-01",
            "",
        ] {
            assert!(FullDate::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn wire_enums_and_money_write_what_serde_json_writes() {
        macro_rules! every_value {
            ($($t:ty),*) => {
                $(for v in <$t>::ALL {
                    written_as_serde_json(v);
                })*
            };
        }
        every_value!(
            OrgKindDto,
            TierDto,
            RoleDto,
            RegistrationDto,
            StatusDto,
            OriginDto,
            PhaseDto,
            ActionDto,
            FieldDto,
            RelationDto,
            RegStatusDto,
            RegActionDto
        );
        written_as_serde_json(&MoneyDto {
            amount: "120000.50".into(),
            currency: "EUR".into(),
        });
    }
}
