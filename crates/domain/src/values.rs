//! Value types that can only hold valid values: parse, don't validate.

use std::fmt;
use std::str::FromStr;

use bigdecimal::{BigDecimal, ToPrimitive};
use serde::{Deserialize, Serialize};

/// ISO 3166-1 alpha-2 codes of countries and territories.
const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Active ISO 4217 currency codes (funds and precious metals excluded).
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB",
    "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU",
    "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER",
    "ZAR", "ZMW", "ZWG",
];

/// Currencies whose minor unit is not the usual two decimals.
const MINOR_UNITS: &[(&str, u8)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    ("CLF", 4),
    ("UYW", 4),
];

/// Largest number of integer digits an amount may have (fits NUMERIC(19,4)).
pub const MAX_AMOUNT_INTEGER_DIGITS: usize = 15;

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for CountryCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        if COUNTRIES.binary_search(&up.as_str()).is_ok() {
            let b = up.as_bytes();
            Ok(Self([b[0], b[1]]))
        } else {
            Err(format!("`{s}` is not an ISO 3166-1 alpha-2 country code"))
        }
    }
}

impl TryFrom<String> for CountryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An active ISO 4217 currency code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode([u8; 3]);

impl Serialize for CurrencyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl CurrencyCode {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3).
    /// Compares the three bytes directly: with a string comparison per entry
    /// this was 4 % of a list page's instructions (two amounts per item).
    pub fn minor_units(&self) -> u8 {
        MINOR_UNITS
            .iter()
            .find(|(c, _)| c.as_bytes() == self.0)
            .map_or(2, |(_, u)| *u)
    }
}

impl FromStr for CurrencyCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Case matters: ISO 4217 codes are upper case, and accepting "eur" would
        // hand clients back something other than what they sent.
        if CURRENCIES.binary_search(&s).is_ok() {
            let b = s.as_bytes();
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(format!("`{s}` is not an active ISO 4217 currency code"))
        }
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exact, non-negative amount in one currency, at the currency's minor unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    amount: BigDecimal,
    currency: CurrencyCode,
}

/// Why an amount string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be a decimal string such as \"1250.00\"")]
    NotDecimal,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more than {MAX_AMOUNT_INTEGER_DIGITS} integer digits")]
    TooLarge,
    #[error("{currency} amounts have at most {places} decimal places")]
    TooPrecise { currency: String, places: u8 },
}

impl Money {
    /// Parses a decimal string (`"12500.00"`) in a known currency.
    pub fn parse(amount: &str, currency: CurrencyCode) -> Result<Self, MoneyError> {
        let (value, places_used) = parse_amount(amount)?;
        let places = currency.minor_units();
        if places_used > usize::from(places) {
            return Err(MoneyError::TooPrecise {
                currency: currency.to_string(),
                places,
            });
        }
        Ok(Self::from_parts(value, currency))
    }

    /// Builds a value read back from storage, normalized to the minor unit.
    pub fn from_parts(amount: BigDecimal, currency: CurrencyCode) -> Self {
        let places = i64::from(currency.minor_units());
        let amount = small_units(&amount)
            .and_then(|(units, scale)| rescale(units, scale, places))
            .map_or_else(
                || amount.with_scale(places),
                |u| BigDecimal::new(u.into(), places),
            );
        Self { amount, currency }
    }

    pub fn amount(&self) -> &BigDecimal {
        &self.amount
    }

    pub fn currency(&self) -> CurrencyCode {
        self.currency
    }

    /// The amount as the API writes it: plain decimal, the currency's places.
    pub fn amount_string(&self) -> String {
        match small_units(&self.amount) {
            Some((units, scale @ 0..=18)) => plain(units, scale as u32),
            _ => self.amount.to_plain_string(),
        }
    }
}

// Stored amounts have at most 15 integer and 4 decimal digits, so their
// digits fit an i64. Rescaling and printing them with integer arithmetic
// rather than BigDecimal's big-integer division and radix conversion took
// a tenth of a list page's CPU off. Anything larger takes BigDecimal's path.

/// The amount's digits and scale, when the digits fit an i64.
fn small_units(amount: &BigDecimal) -> Option<(i64, i64)> {
    let (digits, scale) = amount.as_bigint_and_scale();
    Some((digits.to_i64()?, scale))
}

/// `units` × 10^-`scale` at `places` decimals, truncating toward zero as
/// `BigDecimal::with_scale` does; `None` when it would not fit.
fn rescale(units: i64, scale: i64, places: i64) -> Option<i64> {
    let shift = u32::try_from(places.checked_sub(scale)?.checked_abs()?).ok()?;
    let factor = 10_i64.checked_pow(shift)?;
    if places >= scale {
        units.checked_mul(factor)
    } else {
        Some(units / factor)
    }
}

/// `units` × 10^-`scale` as plain decimal text with exactly `scale` places.
fn plain(units: i64, scale: u32) -> String {
    let magnitude = units.unsigned_abs();
    let factor = 10_u64.pow(scale);
    let mut out = String::with_capacity(24);
    if units < 0 {
        out.push('-');
    }
    out.push_str(&(magnitude / factor).to_string());
    if scale > 0 {
        let fraction = (magnitude % factor).to_string();
        out.push('.');
        for _ in fraction.len()..scale as usize {
            out.push('0');
        }
        out.push_str(&fraction);
    }
    out
}

/// Most decimal places an amount may be written with, whatever its currency.
pub const MAX_AMOUNT_WRITTEN_PLACES: usize = 4;

/// Checks an amount's shape whatever its currency: exactly the documented
/// pattern `^[0-9]{1,15}(\.[0-9]{1,4})?$`, nothing around it (no sign, no
/// space). Returns it with the number of significant decimal places it uses.
pub fn parse_amount(amount: &str) -> Result<(BigDecimal, usize), MoneyError> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let shape = |s: &str| match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    };
    if amount.strip_prefix('-').is_some_and(shape) {
        return Err(MoneyError::Negative);
    }
    if !shape(amount) {
        return Err(MoneyError::NotDecimal);
    }
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    if int.len() > MAX_AMOUNT_INTEGER_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    if frac.len() > MAX_AMOUNT_WRITTEN_PLACES {
        return Err(MoneyError::NotDecimal);
    }
    let value = BigDecimal::from_str(amount).map_err(|_| MoneyError::NotDecimal)?;
    Ok((value, frac.trim_end_matches('0').len()))
}

/// A syntactically plausible e-mail address, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || Err(format!("`{s}` is not an e-mail address"));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad();
        }
        match s.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.') =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => bad(),
        }
    }
}

/// Trims a required text and checks its length in characters.
pub fn required_text(value: &str, max: usize) -> Result<String, String> {
    let t = value.trim();
    if t.is_empty() {
        Err("must not be blank".to_owned())
    } else if t.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(t.to_owned())
    }
}

/// Trims an optional text; blank becomes `None`.
pub fn optional_text(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => required_text(t, max).map(Some),
    }
}

/// Normalizes a list of labels (industries, product lines): trimmed, lower
/// case, de-duplicated, sorted, each 1..=64 characters.
pub fn labels(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let t = v.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 64 {
            return Err("each entry must be 1 to 64 characters".to_owned());
        }
        out.push(t);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Normalizes a list of country codes (already checked at the edge): upper
/// case, de-duplicated, sorted.
pub fn country_codes(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = values
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> CurrencyCode {
        "EUR".parse().unwrap()
    }

    #[test]
    fn stored_amounts_normalize_and_print_as_bigdecimal_would() {
        // The integer fast paths against BigDecimal's own arithmetic, over
        // scales above, at and below each currency's places, signs, zero,
        // and digits too large for the fast path.
        let digits = [
            "0",
            "1",
            "5",
            "9",
            "10",
            "99",
            "100",
            "181031",
            "1810310000",
            "123456789",
            "999999999999999",
            "9223372036854775807",
            "92233720368547758070",
        ];
        for code in ["JPY", "EUR", "KWD"] {
            let currency: CurrencyCode = code.parse().unwrap();
            let places = i64::from(currency.minor_units());
            for d in digits {
                for scale in [-2_i64, 0, 1, 2, 3, 4, 6, 19] {
                    for sign in ["", "-"] {
                        let units: bigdecimal::num_bigint::BigInt =
                            format!("{sign}{d}").parse().unwrap();
                        let amount = BigDecimal::new(units, scale);
                        let expected = amount.with_scale(places);
                        let money = Money::from_parts(amount.clone(), currency);
                        assert_eq!(
                            money.amount().as_bigint_and_scale(),
                            expected.as_bigint_and_scale(),
                            "{amount} {code}"
                        );
                        assert_eq!(
                            money.amount_string(),
                            expected.to_plain_string(),
                            "{amount} {code}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn code_tables_are_sorted_for_binary_search() {
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn country_codes_are_iso_3166_alpha_2() {
        assert_eq!("de".parse::<CountryCode>().unwrap().as_str(), "DE");
        assert!("XX".parse::<CountryCode>().is_err());
        assert!("DEU".parse::<CountryCode>().is_err());
    }

    #[test]
    fn currency_codes_are_iso_4217_upper_case() {
        assert!("EUR".parse::<CurrencyCode>().is_ok());
        assert!("eur".parse::<CurrencyCode>().is_err());
        assert!("ABC".parse::<CurrencyCode>().is_err());
        assert_eq!("JPY".parse::<CurrencyCode>().unwrap().minor_units(), 0);
        assert_eq!("KWD".parse::<CurrencyCode>().unwrap().minor_units(), 3);
    }

    #[test]
    fn money_is_exact_and_written_at_the_minor_unit() {
        let m = Money::parse("120000", eur()).unwrap();
        assert_eq!(m.amount_string(), "120000.00");
        let m = Money::parse("0.1", eur()).unwrap();
        assert_eq!(m.amount_string(), "0.10");
        let big = Money::parse("999999999999999.99", eur()).unwrap();
        assert_eq!(big.amount_string(), "999999999999999.99");
    }

    #[test]
    fn money_refuses_floats_negatives_and_excess_precision() {
        assert_eq!(Money::parse("1e5", eur()), Err(MoneyError::NotDecimal));
        assert_eq!(Money::parse("12.", eur()), Err(MoneyError::NotDecimal));
        assert_eq!(Money::parse("", eur()), Err(MoneyError::NotDecimal));
        assert_eq!(Money::parse("-5", eur()), Err(MoneyError::Negative));
        assert!(matches!(
            Money::parse("1.005", eur()),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert_eq!(
            Money::parse("1234567890123456", eur()),
            Err(MoneyError::TooLarge)
        );
        let jpy = "JPY".parse().unwrap();
        assert!(Money::parse("10.5", jpy).is_err());
    }

    /// The documented pattern exactly: nothing around the digits, at most
    /// 15 integer digits (leading zeros count) and 4 written places.
    #[test]
    fn amounts_match_the_documented_pattern_exactly() {
        for bad in [
            " 1.00",
            "1.00 ",
            "+1",
            "1,00",
            ".5",
            "1.00000",
            "0000000000000001",
            "-0",
        ] {
            assert!(Money::parse(bad, eur()).is_err(), "{bad:?} was accepted");
        }
        for good in [
            "0",
            "1",
            "1.5",
            "1.50",
            "999999999999999",
            "000000000000001",
        ] {
            assert!(Money::parse(good, eur()).is_ok(), "{good:?} was refused");
        }
        let jpy = "JPY".parse().unwrap();
        assert_eq!(Money::parse("10", jpy).unwrap().amount_string(), "10");
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!("jo@fabrikam.example".parse::<Email>().is_ok());
        for bad in [
            "jo",
            "@x.com",
            "jo@x",
            "jo@@x.com",
            "j o@x.com",
            "jo@x.com.",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_normalized() {
        let l = labels(&[" Cloud ".into(), "cloud".into(), "AI".into()]).unwrap();
        assert_eq!(l, vec!["ai", "cloud"]);
        assert!(labels(&[" ".into()]).is_err());
    }
}
