//! Compact JSON for large response bodies, byte for byte what serde_json
//! writes, with less work per field.
//!
//! serde_json escapes every string it writes one byte at a time, struct
//! field names included: on a list page of 50 opportunities that was about
//! 2,000 names and a quarter of the request's instructions. Here a struct's
//! field names (identifiers fixed at compile time) are copied as they are,
//! a string value with nothing to escape is checked in one pass and copied,
//! and everything else is handed to serde_json. Whatever this writer does
//! not handle itself (variants with fields) makes it give up, and the caller
//! serializes the whole value with serde_json instead.

use serde::ser::{self, Impossible, Serialize};
use std::fmt;

/// Appends `value` as compact JSON to `out`; on failure `out` is restored.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), serde_json::Error> {
    let start = out.len();
    if value.serialize(Writer { out: &mut *out }).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    serde_json::to_writer(out, value)
}

/// Why this writer gave up; never seen by callers.
#[derive(Debug)]
struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for GiveUp {}

impl ser::Error for GiveUp {
    fn custom<M: fmt::Display>(_: M) -> Self {
        GiveUp
    }
}

impl From<serde_json::Error> for GiveUp {
    fn from(_: serde_json::Error) -> Self {
        GiveUp
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// serde_json's own output for one value without fields.
    fn plain<T: Serialize + ?Sized>(self, v: &T) -> Result<(), GiveUp> {
        Ok(serde_json::to_writer(self.out, v)?)
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

fn write_key(out: &mut Vec<u8>, first: &mut bool, key: &str) {
    debug_assert!(
        needs_no_escape(key),
        "field name {key:?} would need escaping"
    );
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

macro_rules! plain {
    ($($method:ident: $t:ty),* $(,)?) => {
        $(fn $method(self, v: $t) -> Result<(), GiveUp> {
            self.plain(&v)
        })*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = GiveUp;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Impossible<(), GiveUp>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Struct<'a>;
    type SerializeStructVariant = Impossible<(), GiveUp>;

    plain! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char,
    }

    fn serialize_str(self, v: &str) -> Result<(), GiveUp> {
        if !needs_no_escape(v) {
            return self.plain(v);
        }
        self.out.reserve(v.len() + 2);
        self.out.push(b'"');
        self.out.extend_from_slice(v.as_bytes());
        self.out.push(b'"');
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), GiveUp> {
        self.plain(v)
    }

    fn serialize_none(self) -> Result<(), GiveUp> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), GiveUp> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), GiveUp> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), GiveUp> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), GiveUp> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), GiveUp> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), GiveUp> {
        Err(GiveUp)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a>, GiveUp> {
        self.out.push(b'[');
        if len == Some(0) {
            self.out.push(b']');
        }
        Ok(Seq {
            out: self.out,
            first: true,
            closed: len == Some(0),
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, GiveUp> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, GiveUp> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, GiveUp> {
        Err(GiveUp)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Map<'a>, GiveUp> {
        self.out.push(b'{');
        if len == Some(0) {
            self.out.push(b'}');
        }
        Ok(Map {
            out: self.out,
            first: true,
            closed: len == Some(0),
        })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Struct<'a>, GiveUp> {
        self.out.push(b'{');
        Ok(Struct {
            out: self.out,
            first: true,
        })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, GiveUp> {
        Err(GiveUp)
    }
}

struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// serde_json writes an empty sequence of known length as `[]` at once.
    closed: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), GiveUp> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        v.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn close(self) -> Result<(), GiveUp> {
        if !self.closed {
            self.out.push(b']');
        }
        Ok(())
    }
}

/// `Seq` serves every sequence-like compound; they differ only in names.
macro_rules! sequence {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for Seq<'_> {
            type Ok = ();
            type Error = GiveUp;

            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), GiveUp> {
                self.element(v)
            }

            fn end(self) -> Result<(), GiveUp> {
                self.close()
            }
        })*
    };
}

sequence! {
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
}

struct Map<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    closed: bool,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = GiveUp;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), GiveUp> {
        // Keys of maps are data (a JSON object's names): serde_json's rules,
        // which also quote numbers and refuse anything else.
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        match serde_json::to_value(key)? {
            serde_json::Value::String(s) => serde_json::to_writer(&mut *self.out, &s)?,
            _ => return Err(GiveUp),
        }
        self.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), GiveUp> {
        v.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<(), GiveUp> {
        if !self.closed {
            self.out.push(b'}');
        }
        Ok(())
    }
}

struct Struct<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl ser::SerializeStruct for Struct<'_> {
    type Ok = ();
    type Error = GiveUp;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), GiveUp> {
        if !needs_no_escape(key) {
            return Err(GiveUp);
        }
        write_key(self.out, &mut self.first, key);
        v.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<(), GiveUp> {
        self.out.push(b'}');
        Ok(())
    }
}

/// A value that writes itself as compact JSON, byte for byte what
/// serde_json writes for its `Serialize` impl, without going through serde.
///
/// Even with the writer above, serde's per-field dispatch (a generic call
/// and a `Result` per field, names copied with a separator decided at run
/// time) was most of the cost of the opportunity, which every list page
/// writes 50 times. Types on that path implement this instead, field by
/// field with [`write_json_struct!`]; a test for each compares its output
/// with serde_json's.
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
/// be listed in declaration order, each field's type writing what its
/// `Serialize` does (times and dates in `dto::wire_time`'s forms).
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

#[cfg(test)]
pub(crate) mod tests {
    use serde::Serialize;
    use serde_json::json;

    fn same<T: Serialize>(v: &T) {
        let mut ours = Vec::new();
        super::write(&mut ours, v).unwrap();
        let theirs = serde_json::to_vec(v).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        First,
        SecondOne,
    }

    #[derive(Serialize)]
    struct Inner {
        name: String,
        amount: Option<f64>,
    }

    #[derive(Serialize)]
    struct Outer {
        id: uuid::Uuid,
        kind: Kind,
        #[serde(rename = "renamed")]
        text: &'static str,
        missing: Option<Inner>,
        present: Option<Inner>,
        list: Vec<Kind>,
        empty: Vec<u8>,
        nested: Vec<Vec<i64>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        tuple: (u8, &'static str),
        unit: (),
        when: chrono::DateTime<chrono::Utc>,
        value: serde_json::Value,
        flag: bool,
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for text in [
            "plain",
            "",
            "quote \" backslash \\ newline \n tab \t",
            "ünïcödé ✓ \u{1}",
        ] {
            same(&Outer {
                id: uuid::Uuid::from_u128(0x0193_a2c4_7c1e_7cc3_9d5e_5b3c_2a1f_0e9d),
                kind: Kind::SecondOne,
                text,
                missing: None,
                present: Some(Inner {
                    name: text.to_owned(),
                    amount: Some(12.5),
                }),
                list: vec![Kind::First, Kind::SecondOne],
                empty: vec![],
                nested: vec![vec![], vec![1, -2, i64::MAX]],
                skipped: None,
                tuple: (7, text),
                unit: (),
                when: chrono::DateTime::UNIX_EPOCH,
                value: json!({"a": [1, 2.5, null, true, {"b": text}], "": {}, "c\"d": []}),
                flag: true,
            });
        }
        same(&json!({"items": [], "next_cursor": null}));
        same(&vec![Some(1u8), None]);
        same(&std::collections::BTreeMap::from([(1, "one"), (2, "two")]));
    }

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
    fn leaves_variants_with_fields_to_serde_json() {
        #[derive(Serialize)]
        enum WithFields {
            Tuple(u8, u8),
            Struct { a: u8 },
            Newtype(String),
        }
        same(&vec![
            WithFields::Tuple(1, 2),
            WithFields::Struct { a: 3 },
            WithFields::Newtype("x".into()),
        ]);
    }
}
