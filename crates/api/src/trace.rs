//! W3C Trace Context: the `traceparent` a request arrives with (or a new
//! trace when it has none that reads), the span each request is, and the
//! `traceparent` it answers with. Pure parsing and formatting, so that a
//! request pays for reading one header and writing one, nothing more.

use std::fmt;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
/// The same as header names, made once: made per request (and a header
/// looked up by its text) they were a tenth of what tracing costs a `get`.
pub static TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);
pub static TRACESTATE_HEADER: HeaderName = HeaderName::from_static(TRACESTATE);

/// The `sampled` bit of `trace-flags`, the only flag of version 00.
const SAMPLED: u8 = 0x01;
/// At most this many list members in a `tracestate` (W3C Trace Context).
const TRACESTATE_MEMBERS: usize = 32;
/// Longest `tracestate` passed on; a longer one is dropped whole, which the
/// specification allows (vendors need only propagate 512 characters).
const TRACESTATE_LEN: usize = 512;

/// A 16-byte trace id, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id, never all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanId(pub [u8; 8]);

/// A `traceparent` that read: the caller's trace, its span and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub flags: u8,
}

/// One request's place in a trace: the trace it continues or starts, its
/// own span, the caller's span when there was one, and the caller's
/// `tracestate` when it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTrace {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_id: Option<SpanId>,
    pub sampled: bool,
    pub tracestate: Option<String>,
}

fn hex_digit(b: u8) -> Option<u8> {
    // Lower-case only: the specification allows no other.
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Reads `2 * N` lower-case hex digits.
fn hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

/// Writes `bytes` as lower-case hex into `out`, twice as long.
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 32];
    let buf = &mut buf[..2 * bytes.len()];
    hex_into(buf, bytes);
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(buf).map_err(|_| fmt::Error)?)
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl TraceId {
    /// A random trace id, never all zero.
    pub fn random() -> Self {
        loop {
            let id = rand::random::<u128>();
            if id != 0 {
                return Self(id.to_be_bytes());
            }
        }
    }
}

impl SpanId {
    /// A random span id, never all zero.
    pub fn random() -> Self {
        loop {
            let id = rand::random::<u64>();
            if id != 0 {
                return Self(id.to_be_bytes());
            }
        }
    }
}

impl TraceParent {
    /// Reads a `traceparent` header value per W3C Trace Context: version 00
    /// exactly, a later version by its first four fields (and a dash after
    /// them if it goes on); version `ff`, upper-case hex and all-zero ids
    /// never read.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.as_bytes();
        // version "-" trace-id "-" parent-id "-" trace-flags
        if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        let [version] = hex::<1>(&v[..2])?;
        match version {
            0xff => return None,
            0x00 if v.len() != 55 => return None,
            // A later version may append fields, each after a dash.
            _ if v.len() > 55 && v[55] != b'-' => return None,
            _ => {}
        }
        let trace_id = hex::<16>(&v[3..35])?;
        let parent_id = hex::<8>(&v[36..52])?;
        let [flags] = hex::<1>(&v[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id: TraceId(trace_id),
            parent_id: SpanId(parent_id),
            flags,
        })
    }
}

/// A `tracestate` value passed on as it came, if it is one: at most 32
/// comma-separated `key=value` members (empty ones allowed), keys unique
/// and of the specification's form, values of its characters.
pub fn valid_tracestate(value: &str) -> bool {
    if value.len() > TRACESTATE_LEN {
        return false;
    }
    let mut keys: Vec<&str> = Vec::new();
    for member in value.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let Some((key, val)) = member.split_once('=') else {
            return false;
        };
        if !valid_tracestate_key(key) || !valid_tracestate_value(val) || keys.contains(&key) {
            return false;
        }
        keys.push(key);
        if keys.len() > TRACESTATE_MEMBERS {
            return false;
        }
    }
    true
}

fn valid_tracestate_key(key: &str) -> bool {
    let char_ok = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/');
    match key.split_once('@') {
        // simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
        None => {
            let b = key.as_bytes();
            (1..=256).contains(&b.len()) && b[0].is_ascii_lowercase() && b.iter().all(char_ok)
        }
        // tenant-id "@" system-id: 1–241 and 1–14 characters.
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(char_ok)
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && s.iter().all(char_ok)
        }
    }
}

fn valid_tracestate_value(value: &str) -> bool {
    // 0*255(chr) nblk-chr: printable ASCII but "," and "=", not ending in a space.
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|c| matches!(c, 0x20..=0x7e) && *c != b',' && *c != b'=')
        && b[b.len() - 1] != b' '
}

impl RequestTrace {
    /// The request's trace from its headers: the caller's trace when its
    /// one `traceparent` reads (with its `tracestate`, when valid), else a
    /// new sampled trace. Either way the request is a new span.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut parents = headers.get_all(&TRACEPARENT_HEADER);
        let parent = match (parents.next(), parents.next()) {
            (Some(one), None) => one.to_str().ok().and_then(TraceParent::parse),
            // None, or more than one: no parent to follow.
            _ => None,
        };
        match parent {
            None => Self {
                trace_id: TraceId::random(),
                span_id: SpanId::random(),
                parent_id: None,
                sampled: true,
                tracestate: None,
            },
            Some(p) => Self {
                trace_id: p.trace_id,
                span_id: SpanId::random(),
                parent_id: Some(p.parent_id),
                sampled: p.flags & SAMPLED != 0,
                tracestate: tracestate(headers),
            },
        }
    }

    /// The `traceparent` naming this request's own span. Written byte by
    /// byte: through `format!` it cost a `get` 2 % more instructions.
    pub fn traceparent(&self) -> HeaderValue {
        let mut v = *b"00-________________________________-________________-0_";
        hex_into(&mut v[3..35], &self.trace_id.0);
        hex_into(&mut v[36..52], &self.span_id.0);
        v[54] = if self.sampled { b'1' } else { b'0' };
        HeaderValue::from_bytes(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Every `tracestate` header of the request, joined as one list, if valid.
fn tracestate(headers: &HeaderMap) -> Option<String> {
    let mut joined = String::new();
    for value in headers.get_all(&TRACESTATE_HEADER) {
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(value.to_str().ok()?);
    }
    (!joined.trim().is_empty() && valid_tracestate(&joined)).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_version_00_traceparent_reads_its_ids_and_flags() {
        let p = TraceParent::parse(VALID).unwrap();
        assert_eq!(p.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.parent_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(p.flags, 1);
        let unsampled = TraceParent::parse(&VALID.replace("-01", "-00")).unwrap();
        assert_eq!(unsampled.flags, 0);
    }

    #[test]
    fn malformed_traceparents_do_not_read() {
        for bad in [
            "",
            "00",
            // One character short, one too many for version 00.
            &VALID[..54],
            &format!("{VALID}0"),
            &format!("{VALID}-extra"),
            // Wrong separators, non-hex digits, a short field.
            &VALID.replace('-', "_"),
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-0100",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            " 0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn upper_case_hex_does_not_read() {
        assert_eq!(TraceParent::parse(&VALID.to_ascii_uppercase()), None);
        assert_eq!(
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
    }

    #[test]
    fn all_zero_trace_or_parent_ids_do_not_read() {
        assert_eq!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            None
        );
    }

    #[test]
    fn version_ff_is_invalid() {
        assert_eq!(TraceParent::parse(&VALID.replacen("00", "ff", 1)), None);
    }

    #[test]
    fn a_later_version_reads_by_its_first_four_fields() {
        let v1 = VALID.replacen("00", "cc", 1);
        assert_eq!(
            TraceParent::parse(&v1).map(|p| p.trace_id),
            TraceParent::parse(VALID).map(|p| p.trace_id)
        );
        let more = TraceParent::parse(&format!("{v1}-what-the-future-holds")).unwrap();
        assert_eq!(more.parent_id.to_string(), "00f067aa0ba902b7");
        // What follows the flags must start with a dash.
        assert_eq!(TraceParent::parse(&format!("{v1}x")), None);
    }

    #[test]
    fn a_request_continues_a_valid_trace_in_a_span_of_its_own() {
        let t = RequestTrace::from_headers(&headers(&[(TRACEPARENT, VALID)]));
        assert_eq!(t.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id.unwrap().to_string(), "00f067aa0ba902b7");
        assert_ne!(t.span_id, t.parent_id.unwrap());
        assert!(t.sampled);
        let answer = t.traceparent();
        let answer = answer.to_str().unwrap();
        assert_eq!(
            answer,
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", t.span_id)
        );
        // The answer is itself a traceparent that reads.
        assert_eq!(TraceParent::parse(answer).unwrap().parent_id, t.span_id);
    }

    #[test]
    fn the_callers_sampled_flag_is_kept_and_unknown_flags_are_not_answered() {
        let off =
            RequestTrace::from_headers(&headers(&[(TRACEPARENT, &VALID.replace("-01", "-00"))]));
        assert!(!off.sampled);
        assert!(off.traceparent().to_str().unwrap().ends_with("-00"));
        let other_bits =
            RequestTrace::from_headers(&headers(&[(TRACEPARENT, &VALID.replace("-01", "-03"))]));
        assert!(other_bits.traceparent().to_str().unwrap().ends_with("-01"));
    }

    #[test]
    fn an_absent_invalid_or_repeated_traceparent_starts_a_new_sampled_trace() {
        for h in [
            headers(&[]),
            headers(&[(TRACEPARENT, "nonsense"), (TRACESTATE, "a=b")]),
            headers(&[(TRACEPARENT, VALID), (TRACEPARENT, VALID)]),
        ] {
            let t = RequestTrace::from_headers(&h);
            assert_ne!(t.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_ne!(t.trace_id.0, [0; 16]);
            assert_eq!(t.parent_id, None);
            assert!(t.sampled);
            // No tracestate without the traceparent it belongs to.
            assert_eq!(t.tracestate, None);
        }
        let a = RequestTrace::from_headers(&headers(&[]));
        let b = RequestTrace::from_headers(&headers(&[]));
        assert_ne!(a.trace_id, b.trace_id);
    }

    #[test]
    fn a_valid_tracestate_is_passed_on_as_it_came() {
        let t = RequestTrace::from_headers(&headers(&[
            (TRACEPARENT, VALID),
            (TRACESTATE, "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
            (TRACESTATE, "tenant1@vendor=x y"),
        ]));
        assert_eq!(
            t.tracestate.as_deref(),
            Some("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7,tenant1@vendor=x y")
        );
    }

    #[test]
    fn an_invalid_tracestate_is_dropped() {
        for bad in [
            "novalue",
            "Upper=1",
            "a=1,a=2",
            "a=tab\tinside",
            "a=b=c",
            "@vendor=1",
            "tenant@=1",
            &(0..33)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
            &format!("a={}", "v".repeat(600)),
        ] {
            assert!(!valid_tracestate(bad), "{bad:?}");
            let t =
                RequestTrace::from_headers(&headers(&[(TRACEPARENT, VALID), (TRACESTATE, bad)]));
            assert_eq!(t.tracestate, None, "{bad:?}");
        }
        assert!(valid_tracestate("a=1,,b=2"), "empty members are allowed");
        assert!(
            valid_tracestate(" a=1 ,\tb=2"),
            "spaces around members are allowed"
        );
        let most = (0..32).map(|i| format!("k{i}=v")).collect::<Vec<_>>();
        assert!(valid_tracestate(&most.join(",")), "32 members are allowed");
    }
}
