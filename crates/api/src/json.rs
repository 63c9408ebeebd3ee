//! Compact JSON for the hottest responses, byte for byte what serde_json
//! writes, without going through serde.
//!
//! serde_json escapes every string it writes one byte at a time, struct
//! field names included, and serde dispatches every field through a generic
//! call that returns a `Result`: on a list page of 50 opportunities that was
//! most of the request's JSON cost. Types on that path implement
//! [`WriteJson`] instead; everything else is serialized by serde_json.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};

/// A value that writes itself as compact JSON, byte for byte what
/// serde_json writes for its `Serialize` impl. Structs implement it field
/// by field with [`json_struct!`]; a test for each compares its
/// output with serde_json's.
pub trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>);
}

/// `value` as compact JSON, in a buffer of about `size_hint` bytes.
pub fn to_vec<T: WriteJson + ?Sized>(value: &T, size_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint);
    value.write_json(&mut out);
    out
}

/// Implements [`WriteJson`] for a struct from its field names, which must
/// be listed in declaration order.
#[macro_export]
macro_rules! write_json_struct {
    ($ty:ty { $first:ident $(, $field:ident)* $(,)? }) => {
        impl $crate::json::WriteJson for $ty {
            fn write_json(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(concat!("{\"", stringify!($first), "\":").as_bytes());
                $crate::json::WriteJson::write_json(&self.$first, out);
                $(
                    out.extend_from_slice(concat!(",\"", stringify!($field), "\":").as_bytes());
                    $crate::json::WriteJson::write_json(&self.$field, out);
                )*
                out.push(b'}');
            }
        }
    };
}

/// Declares a response struct and its [`WriteJson`] from one field list, so
/// that the struct and its writer cannot drift apart.
#[macro_export]
macro_rules! json_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )+
        }

        $crate::write_json_struct!($name { $($field),+ });
    };
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(self.len() + 2);
        out.push(b'"');
        if needs_no_escape(self) {
            out.extend_from_slice(self.as_bytes());
        } else {
            escape_into(out, self);
        }
        out.push(b'"');
    }
}

/// serde_json's escaping: the short forms where JSON has them, `\u00xx`
/// (lower-case hex) for other control characters, everything else as is.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut plain = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[plain..i]);
        plain = i + 1;
        if short == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(short);
        }
    }
    out.extend_from_slice(&s.as_bytes()[plain..]);
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_str().write_json(out);
    }
}

impl WriteJson for uuid::Uuid {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = self.hyphenated().encode_lower(&mut buf);
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

macro_rules! write_integers {
    ($($t:ty),*) => {
        $(impl WriteJson for $t {
            fn write_json(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        })*
    };
}

write_integers!(i16, i32, i64, u32, u64);

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        let mut items = self.iter();
        if let Some(first) = items.next() {
            first.write_json(out);
            for item in items {
                out.push(b',');
                item.write_json(out);
            }
        }
        out.push(b']');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

/// True when `s` can be written between quotes as it is: no control
/// character, quote or backslash. Eight bytes at a time: a byte-wise loop
/// cost as much as serde_json's own escaping.
fn needs_no_escape(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Exact tests: a high bit set in the result marks a byte below 0x20, or
    // a byte equal to the one searched for (a zero after the xor).
    let below_space = |x: u64| x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if below_space(x)
            | zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// `v`'s last `out.len()` decimal digits, zero-padded.
fn digits(v: u32, out: &mut [u8]) {
    let mut v = v;
    for b in out.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `d` as `YYYY-MM-DD` in `buf`, for years 0 to 9999.
fn date_digits(d: NaiveDate, buf: &mut [u8]) {
    buf[..10].copy_from_slice(b"0000-00-00");
    digits(d.year().unsigned_abs(), &mut buf[0..4]);
    digits(d.month(), &mut buf[5..7]);
    digits(d.day(), &mut buf[8..10]);
}

/// Text known to need no escaping (digits and separators), between quotes.
fn quoted(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as chrono's
/// `Serialize` writes it, without its formatter and the String it returns
/// (about 700 instructions a timestamp, two per item of a list page).
impl WriteJson for DateTime<Utc> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let (date, time) = (self.date_naive(), self.time());
        let nanos = time.nanosecond();
        if !(0..=9999).contains(&date.year()) || nanos >= 1_000_000_000 {
            // Signed years and leap seconds: chrono's own rendering.
            return self
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                .write_json(out);
        }
        let mut buf = *b"0000-00-00T00:00:00.000000000Z";
        date_digits(date, &mut buf);
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
        quoted(&buf[..=end], out);
    }
}

/// ISO 8601 as chrono writes it.
impl WriteJson for NaiveDate {
    fn write_json(&self, out: &mut Vec<u8>) {
        if !(0..=9999).contains(&self.year()) {
            // chrono writes these with a sign and more digits.
            return self.to_string().write_json(out);
        }
        let mut buf = [0; 10];
        date_digits(*self, &mut buf);
        quoted(&buf, out);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    use serde::Serialize;

    #[test]
    fn finds_every_byte_that_needs_escaping_at_every_position() {
        for bad in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..20 {
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    s[at] = bad;
                    let s = String::from_utf8(s).unwrap();
                    assert!(!super::needs_no_escape(&s), "{s:?}");
                }
            }
        }
        for ok in (0x20u8..0x7f).filter(|b| *b != b'"' && *b != b'\\') {
            let s = String::from_utf8(vec![ok; 17]).unwrap();
            assert!(super::needs_no_escape(&s), "{s:?}");
        }
        assert!(super::needs_no_escape(
            "ünïcödé ✓ with many bytes above 0x7f"
        ));
    }

    /// What serde_json writes for `v`, and what `WriteJson` writes.
    pub(crate) fn written_as_serde_json<T: Serialize + super::WriteJson>(v: &T) {
        let ours = String::from_utf8(super::to_vec(v, 0)).unwrap();
        let theirs = serde_json::to_string(v).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn direct_writers_write_what_serde_json_writes() {
        let mut every_byte: String = (0u8..0x80).map(char::from).collect();
        every_byte.push_str("ünïcödé ✓ \u{2028}");
        for text in [
            "",
            "plain",
            "quote \" and \\ at the end\\",
            every_byte.as_str(),
        ] {
            written_as_serde_json(&text.to_owned());
            written_as_serde_json(&Some(text.to_owned()));
            written_as_serde_json(&vec![text.to_owned(), text.to_owned()]);
        }
        written_as_serde_json(&None::<String>);
        written_as_serde_json(&Vec::<String>::new());
        written_as_serde_json(&vec![
            uuid::Uuid::nil(),
            uuid::Uuid::max(),
            uuid::Uuid::now_v7(),
        ]);
        written_as_serde_json(&vec![i64::MIN, -1, 0, 7, i64::MAX]);
        written_as_serde_json(&vec![Some(i16::MIN), None, Some(i16::MAX)]);
        written_as_serde_json(&vec![i32::MIN, i32::MAX]);
        written_as_serde_json(&vec![u64::MAX, 0]);
        written_as_serde_json(&vec![true, false]);
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
            written_as_serde_json(&t);
        }
        for d in [
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            NaiveDate::from_ymd_opt(9, 1, 31).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(-44, 3, 15).unwrap(),
            NaiveDate::from_ymd_opt(12_345, 6, 7).unwrap(),
        ] {
            written_as_serde_json(&d);
        }
    }
}
