//! Wire types shared by several resources: enums as the API spells them,
//! money, and the field checks request types use.

use std::borrow::Cow;

use prm_domain::customer::Registration;
use prm_domain::deal::{RegAction, RegStatus};
use prm_domain::opportunity::{Action, Origin, Phase, Status};
use prm_domain::org::{OrgKind, Tier};
use prm_domain::role::Role;
use prm_domain::values::{CountryCode, CurrencyCode, Email, Money, labels, parse_amount};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

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

            /// Reads a value stored as text.
            pub fn from_stored(s: &str) -> Result<Self, ApiError> {
                s.parse::<$domain>()
                    .map(Self::from)
                    .map_err(|e| ApiError::Internal(format!("stored value: {e}")))
            }
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
    /// Deal registration status.
    RegStatusDto as DealRegistrationStatus <=> RegStatus {
        Submitted, Approved, Rejected, Withdrawn, Expired, Closed
    }
);
wire_enum!(
    /// Something the caller may do to a deal registration now.
    RegActionDto as DealRegistrationAction <=> RegAction { Approve, Reject, Withdraw }
);

/// A reason, required by decline, return, reject and cancel.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "no capacity this quarter"}))]
pub struct ReasonBody {
    #[validate(length(min = 1, max = 1000), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

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

crate::write_json_struct!(MoneyDto { amount, currency });

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

/// Optional free text as stored: trimmed, and `None` when blank.
pub fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
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

/// Normalizes country codes to upper case, de-duplicated and sorted.
pub fn countries(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = list.iter().map(|c| c.trim().to_ascii_uppercase()).collect();
    out.sort();
    out.dedup();
    out
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

/// Timestamps and dates written as one string each.
///
/// chrono's own `Serialize` goes through `collect_str`, so serde_json escapes
/// every fragment chrono writes (a dozen per timestamp); on a list page of 50
/// that came to about 3 % of the request's CPU. These produce the same text
/// (RFC 3339, `Z`, fractional seconds only when present; `YYYY-MM-DD`).
/// Use with `#[serde(serialize_with = "…")]`.
pub mod wire_time {
    use std::borrow::Cow;

    use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
    use serde::Serializer;

    use crate::json::WriteJson;

    /// `v`'s last `out.len()` decimal digits, zero-padded.
    fn digits(v: u32, out: &mut [u8]) {
        let mut v = v;
        for b in out.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }

    /// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as chrono's
    /// `SecondsFormat::AutoSi` writes it, without its formatter and the
    /// String it returns (about 700 instructions a timestamp, two per item
    /// of a list page).
    pub fn timestamp<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&timestamp_text(t, &mut [0; 30]))
    }

    /// The text of `timestamp`, in `buf` unless chrono has to write it.
    fn timestamp_text<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Cow<'b, str> {
        let (date, time) = (t.date_naive(), t.time());
        let nanos = time.nanosecond();
        if !(0..=9999).contains(&date.year()) || nanos >= 1_000_000_000 {
            // Signed years and leap seconds: chrono's own rendering.
            return Cow::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        *buf = *b"0000-00-00T00:00:00.000000000Z";
        digits(date.year().unsigned_abs(), &mut buf[0..4]);
        digits(date.month(), &mut buf[5..7]);
        digits(date.day(), &mut buf[8..10]);
        digits(time.hour(), &mut buf[11..13]);
        digits(time.minute(), &mut buf[14..16]);
        digits(time.second(), &mut buf[17..19]);
        digits(nanos, &mut buf[20..29]);
        let end = match nanos {
            0 => 19,
            n if n % 1_000_000 == 0 => 23,
            n if n % 1_000 == 0 => 26,
            _ => 29,
        };
        buf[end] = b'Z';
        // Only ASCII digits and separators were written.
        Cow::Borrowed(std::str::from_utf8(&buf[..=end]).unwrap_or_default())
    }

    /// Times and dates in `WriteJson` bodies take these same forms.
    impl WriteJson for DateTime<Utc> {
        fn write_json(&self, out: &mut Vec<u8>) {
            timestamp_text(self, &mut [0; 30]).write_json(out);
        }
    }

    impl WriteJson for NaiveDate {
        fn write_json(&self, out: &mut Vec<u8>) {
            date_text(self, &mut [0; 10]).write_json(out);
        }
    }

    pub fn opt_timestamp<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => timestamp(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn date<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&date_text(d, &mut [0; 10]))
    }

    /// ISO 8601 as chrono writes it, in `buf` for years 0 to 9999.
    fn date_text<'b>(d: &NaiveDate, buf: &'b mut [u8; 10]) -> Cow<'b, str> {
        let (y, m, day) = (d.year(), d.month(), d.day());
        if !(0..=9999).contains(&y) {
            // chrono writes these with a sign and more digits.
            return Cow::Owned(d.to_string());
        }
        *buf = *b"0000-00-00";
        digits(y.unsigned_abs(), &mut buf[0..4]);
        digits(m, &mut buf[5..7]);
        digits(day, &mut buf[8..10]);
        // Only ASCII digits and dashes were written.
        Cow::Borrowed(std::str::from_utf8(&buf[..]).unwrap_or_default())
    }

    pub fn opt_date<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => date(d, s),
            None => s.serialize_none(),
        }
    }

    #[cfg(test)]
    mod tests {
        use chrono::{DateTime, NaiveDate, TimeZone, Utc};
        use serde::Serialize;

        use crate::json::WriteJson;

        #[derive(Serialize)]
        struct Both {
            #[serde(serialize_with = "super::timestamp")]
            ours: DateTime<Utc>,
            chrono: DateTime<Utc>,
            #[serde(serialize_with = "super::date")]
            our_date: NaiveDate,
            chrono_date: NaiveDate,
        }

        fn same_text(t: DateTime<Utc>, d: NaiveDate) {
            let v = serde_json::to_value(Both {
                ours: t,
                chrono: t,
                our_date: d,
                chrono_date: d,
            })
            .unwrap();
            assert_eq!(v["ours"], v["chrono"], "{t:?}");
            assert_eq!(v["our_date"], v["chrono_date"], "{d:?}");
            let written = |w: &dyn Fn(&mut Vec<u8>)| {
                let mut out = Vec::new();
                w(&mut out);
                serde_json::from_slice::<serde_json::Value>(&out).unwrap()
            };
            assert_eq!(written(&|out| t.write_json(out)), v["chrono"], "{t:?}");
            assert_eq!(written(&|out| d.write_json(out)), v["chrono_date"], "{d:?}");
        }

        #[test]
        fn timestamps_and_dates_read_exactly_as_chrono_writes_them() {
            let whole = Utc.with_ymd_and_hms(2026, 11, 20, 23, 1, 50).unwrap();
            for t in [
                whole,
                whole + chrono::Duration::microseconds(84_781),
                whole + chrono::Duration::milliseconds(5),
                whole + chrono::Duration::nanoseconds(7),
                whole + chrono::Duration::nanoseconds(120_000_000),
                whole + chrono::Duration::nanoseconds(999_999_999),
                whole + chrono::Duration::microseconds(1),
                DateTime::<Utc>::UNIX_EPOCH,
                Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
                Utc.with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap(),
                Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap(),
                // A leap second: chrono keeps it as 1e9 nanoseconds and more.
                NaiveDate::from_ymd_opt(2016, 12, 31)
                    .unwrap()
                    .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                    .unwrap()
                    .and_utc(),
            ] {
                for d in [
                    NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
                    NaiveDate::from_ymd_opt(9, 1, 31).unwrap(),
                    NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
                    NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
                    NaiveDate::from_ymd_opt(12_345, 6, 7).unwrap(),
                ] {
                    same_text(t, d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::written_as_serde_json;

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
            RegStatusDto,
            RegActionDto
        );
        written_as_serde_json(&MoneyDto {
            amount: "120000.50".into(),
            currency: "EUR".into(),
        });
    }
}
