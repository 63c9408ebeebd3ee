//! An identity provider's signing keys, published as a JWKS (RFC 7517):
//! which of them are usable and with which one algorithm each, and the set
//! kept current by a thread of its own that fetches it again periodically
//! and when a token names an unknown `kid` — never on an event loop.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::config::{JwksSettings, JwksSource};

/// The longest one fetch of the set may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A larger document is refused: a provider publishes a handful of keys.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;

/// RSA moduli from 2048 bits (shorter ones are forgeable in practice) to
/// 4096 (the most the RustCrypto backend verifies with).
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=512;

/// The algorithms a key from a JWKS can verify; each key gets exactly one
/// of them, from its type (and its `alg`, for RSA). HS* never: a public
/// document holds no shared secret.
pub const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// A usable key of the set and the one algorithm it verifies.
pub struct SigningKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
    /// What the key is, to tell whether a fetched set changed.
    identity: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The usable keys of one JWKS document.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// Keys of the document that verify nothing here (encryption keys,
    /// symmetric keys, other curves or algorithms).
    ignored: usize,
}

/// Which key of the set verifies a token, by its header.
#[derive(Debug)]
pub enum Selection<'a> {
    Key(&'a SigningKey),
    /// No key of the set has this `kid`: the provider may have rotated.
    UnknownKid,
    /// The `kid` is known but its key verifies another algorithm, or no
    /// key verifies this one.
    NoKeyForAlgorithm,
    /// No `kid`, and more than one key verifies the token's algorithm.
    Ambiguous,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// The members of a JWK that decide whether and how it verifies.
#[derive(Deserialize)]
struct RawKey {
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl KeySet {
    /// Reads a JWKS document. Keys this service cannot verify with are
    /// skipped (a provider also publishes encryption keys); a document with
    /// no usable key at all is an error.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let doc: Document = serde_json::from_slice(body)
            .map_err(|e| format!("not a JWKS document ({{\"keys\": [...]}}): {e}"))?;
        let mut set = KeySet::default();
        for value in doc.keys {
            match serde_json::from_value::<RawKey>(value)
                .ok()
                .and_then(usable)
            {
                Some(key) => set.keys.push(key),
                None => set.ignored += 1,
            }
        }
        if set.keys.is_empty() {
            return Err(format!(
                "no usable signing key among its {} (RSA for RS256/RS384/RS512, EC P-256 \
                 for ES256, OKP Ed25519 for EdDSA; `use` sig)",
                set.ignored
            ));
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys of the document that were skipped.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// The key for a token whose header names `kid` and `alg`. With a
    /// `kid`, the key with that id whose algorithm is `alg`; without one,
    /// the only key whose algorithm is `alg`.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        match kid {
            Some(kid) => {
                let mut known = false;
                for key in self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)) {
                    if key.alg == alg {
                        return Selection::Key(key);
                    }
                    known = true;
                }
                if known {
                    Selection::NoKeyForAlgorithm
                } else {
                    Selection::UnknownKid
                }
            }
            None => {
                let mut candidates = self.keys.iter().filter(|k| k.alg == alg);
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Selection::Key(key),
                    (None, _) => Selection::NoKeyForAlgorithm,
                    (Some(_), Some(_)) => Selection::Ambiguous,
                }
            }
        }
    }

    /// The keys, in an order of their own: equal for the same keys.
    fn identity(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.iter().map(|k| k.identity.as_str()).collect();
        ids.sort_unstable();
        ids
    }
}

fn b64(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()
}

/// The key a JWK describes, with the one algorithm it verifies; `None` for
/// a key that verifies nothing here.
fn usable(raw: RawKey) -> Option<SigningKey> {
    if raw.key_use.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|op| op == "verify")
    {
        return None;
    }
    let alg = raw.alg.as_deref();
    let (alg, key, material) = match raw.kty.as_str() {
        "RSA" => {
            let alg = match alg {
                None | Some("RS256") => Algorithm::RS256,
                Some("RS384") => Algorithm::RS384,
                Some("RS512") => Algorithm::RS512,
                Some(_) => return None,
            };
            let (n, e) = (raw.n?, raw.e?);
            let modulus = b64(&n)?;
            let modulus = strip_zeros(&modulus);
            let exponent = b64(&e)?;
            let exponent = strip_zeros(&exponent);
            let odd_exponent = exponent.len() <= 4
                && exponent.last().is_some_and(|b| b & 1 == 1)
                && exponent != [1];
            if !RSA_MODULUS_BYTES.contains(&modulus.len()) || !odd_exponent {
                return None;
            }
            (
                alg,
                DecodingKey::from_rsa_raw_components(modulus, exponent),
                format!("RSA {n} {e}"),
            )
        }
        "EC" => {
            if raw.crv.as_deref() != Some("P-256") || !matches!(alg, None | Some("ES256")) {
                return None;
            }
            let (x, y) = (raw.x?, raw.y?);
            if b64(&x)?.len() != 32 || b64(&y)?.len() != 32 {
                return None;
            }
            let key = DecodingKey::from_ec_components(&x, &y).ok()?;
            (Algorithm::ES256, key, format!("EC {x} {y}"))
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") || !matches!(alg, None | Some("EdDSA")) {
                return None;
            }
            let x = raw.x?;
            // The backend reads the first 32 bytes of the key unchecked.
            if b64(&x)?.len() != 32 {
                return None;
            }
            let key = DecodingKey::from_ed_components(&x).ok()?;
            (Algorithm::EdDSA, key, format!("OKP {x}"))
        }
        _ => return None,
    };
    // A point that is not on its curve fails here, when the set is read,
    // rather than on every token later (an empty signature is merely wrong).
    jsonwebtoken::crypto::verify("", b"", &key, alg).ok()?;
    Some(SigningKey {
        identity: format!("{:?} {alg:?} {material}", raw.kid),
        kid: raw.kid,
        alg,
        key,
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The set in use, and its generation: bumped whenever a fetch finds other
/// keys, so tokens remembered as verified under an older set are checked
/// again (a removed key must stop working at once).
#[derive(Debug)]
pub struct Current {
    pub set: KeySet,
    pub generation: u64,
}

/// How the key set is doing, for `/readyz`.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// The last fetch failed: the set in use is the last good one.
    pub stale: bool,
    /// Since the last successful fetch.
    pub age: Duration,
    pub keys: usize,
}

/// A JWKS kept current: the set in use, and the thread that fetches it.
/// Dropping it stops the thread.
pub struct Jwks {
    shared: Arc<Shared>,
    /// Asks the thread for a fetch now.
    wake: mpsc::Sender<()>,
    min_refetch: Duration,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.shared.source)
            .finish_non_exhaustive()
    }
}

struct Shared {
    source: JwksSource,
    current: RwLock<Arc<Current>>,
    status: Mutex<Status>,
    /// Counts finished fetches; whoever waits for one watches it.
    done: tokio::sync::watch::Sender<u64>,
    fetched: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
}

struct Status {
    /// A fetch is running: a token with an unknown `kid` waits for it
    /// rather than starting another.
    in_flight: bool,
    /// When the last fetch for an unknown `kid` began.
    last_kid_fetch: Option<Instant>,
    last_success: Instant,
    /// Fetches failed in a row since the last success.
    failures: u32,
}

impl Jwks {
    /// Fetches the set once — failing, a misconfiguration stops start-up
    /// rather than serving a service that refuses every token — and starts
    /// the thread that keeps it current.
    pub fn start(settings: &JwksSettings) -> Result<Self, String> {
        let (wake, woken) = mpsc::channel::<()>();
        let (first_tx, first_rx) = mpsc::sync_channel::<Result<Arc<Shared>, String>>(1);
        let thread_settings = settings.clone();
        // The blocking HTTP client is made, used and dropped on this thread
        // only: it may not live on an async runtime's thread.
        std::thread::Builder::new()
            .name("prm-jwks".to_owned())
            .spawn(move || {
                let settings = thread_settings;
                let first = Fetcher::new(&settings.source)
                    .and_then(|fetcher| fetcher.fetch().map(|set| (fetcher, set)));
                match first {
                    Err(e) => {
                        let _ = first_tx.send(Err(e));
                    }
                    Ok((fetcher, set)) => {
                        tracing::info!(
                            source = %settings.source,
                            keys = set.len(),
                            ignored = set.ignored(),
                            "JWKS loaded"
                        );
                        let shared = Arc::new(Shared {
                            source: settings.source.clone(),
                            current: RwLock::new(Arc::new(Current { set, generation: 1 })),
                            status: Mutex::new(Status {
                                in_flight: false,
                                last_kid_fetch: None,
                                last_success: Instant::now(),
                                failures: 0,
                            }),
                            done: tokio::sync::watch::channel(0).0,
                            fetched: AtomicU64::new(1),
                            failed: AtomicU64::new(0),
                            refused: AtomicU64::new(0),
                        });
                        if first_tx.send(Ok(shared.clone())).is_ok() {
                            keep_current(&shared, &woken, &fetcher, &settings);
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the JWKS thread: {e}"))?;
        let loaded = first_rx
            .recv()
            .map_err(|_| "the JWKS thread stopped".to_owned())
            .and_then(|first| first);
        let shared = loaded.map_err(|e| {
            format!(
                "{}: cannot load the key set from {}: {e}",
                settings.source.var(),
                settings.source
            )
        })?;
        Ok(Self {
            shared,
            wake,
            min_refetch: settings.min_refetch,
        })
    }

    /// The set in use.
    pub fn current(&self) -> Arc<Current> {
        self.shared
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// For a token whose `kid` the set lacks: fetches the set again and
    /// waits for it — or joins the fetch already running — unless one was
    /// made for the same reason less than `min_refetch` ago, so a flood of
    /// made-up `kid`s cannot hammer the provider. True when a fetch
    /// finished meanwhile, so the token is worth a second look.
    pub async fn refetch(&self) -> bool {
        let mut finished = {
            let mut status = self.shared.lock_status();
            let finished = self.shared.done.subscribe();
            if !status.in_flight {
                if status
                    .last_kid_fetch
                    .is_some_and(|at| at.elapsed() < self.min_refetch)
                {
                    self.shared.refused.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                if self.wake.send(()).is_err() {
                    return false;
                }
                status.in_flight = true;
                status.last_kid_fetch = Some(Instant::now());
            }
            finished
        };
        let waited = actix_web::rt::time::timeout(
            FETCH_TIMEOUT + Duration::from_secs(1),
            finished.changed(),
        )
        .await;
        matches!(waited, Ok(Ok(())))
    }

    pub fn health(&self) -> Health {
        let keys = self.current().set.len();
        let status = self.shared.lock_status();
        Health {
            stale: status.failures > 0,
            age: status.last_success.elapsed(),
            keys,
        }
    }

    /// Appends the JWKS metric families to a Prometheus text exposition.
    pub fn write_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let health = self.health();
        let s = &self.shared;
        let _ = write!(
            out,
            "# HELP prm_jwks_fetches_total JWKS fetches by outcome; a failed one keeps the last good key set.\n\
             # TYPE prm_jwks_fetches_total counter\n\
             prm_jwks_fetches_total{{outcome=\"ok\"}} {}\n\
             prm_jwks_fetches_total{{outcome=\"error\"}} {}\n\
             # HELP prm_jwks_refetches_refused_total Tokens with an unknown kid refused without a fetch (one was made less than PRM_JWT_JWKS_MIN_REFETCH_MS before).\n\
             # TYPE prm_jwks_refetches_refused_total counter\n\
             prm_jwks_refetches_refused_total {}\n\
             # HELP prm_jwks_age_seconds Seconds since the key set was last fetched successfully.\n\
             # TYPE prm_jwks_age_seconds gauge\n\
             prm_jwks_age_seconds {}\n\
             # HELP prm_jwks_keys Usable signing keys in the key set in use.\n\
             # TYPE prm_jwks_keys gauge\n\
             prm_jwks_keys {}\n",
            s.fetched.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.refused.load(Ordering::Relaxed),
            health.age.as_secs_f64(),
            health.keys,
        );
    }
}

impl Shared {
    fn lock_status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a fetch's outcome: a new set replaces the one in use only
    /// when its keys differ; a failure keeps the last good one.
    fn finish(&self, fetched: Result<KeySet, String>) {
        let mut status = self.lock_status();
        match fetched {
            Ok(set) => {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                status.last_success = Instant::now();
                status.failures = 0;
                let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                if set.identity() != current.set.identity() {
                    tracing::info!(
                        source = %self.source,
                        keys = set.len(),
                        ignored = set.ignored(),
                        "JWKS changed"
                    );
                    *current = Arc::new(Current {
                        set,
                        generation: current.generation + 1,
                    });
                }
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                status.failures = status.failures.saturating_add(1);
                tracing::warn!(
                    source = %self.source,
                    error = %e,
                    age_s = status.last_success.elapsed().as_secs(),
                    "JWKS fetch failed; the last good key set stays in use"
                );
            }
        }
        status.in_flight = false;
        self.done.send_modify(|n| *n += 1);
    }
}

/// The time until the next periodic fetch: the refresh interval, or after
/// failures a shorter wait that doubles each time (from the least time
/// between fetches for unknown `kid`s, at least a second), so a set gone
/// stale is fetched again soon after the provider is back.
fn next_wait(settings: &JwksSettings, failures: u32) -> Duration {
    if failures == 0 {
        return settings.refresh;
    }
    let base = settings.min_refetch.max(Duration::from_secs(1));
    base.saturating_mul(1 << (failures - 1).min(16))
        .min(settings.refresh)
}

/// The thread's loop: a fetch when asked (`Jwks::refetch`) or when the
/// wait runs out; ends when the `Jwks` is dropped.
fn keep_current(
    shared: &Shared,
    woken: &mpsc::Receiver<()>,
    fetcher: &Fetcher,
    settings: &JwksSettings,
) {
    loop {
        let wait = next_wait(settings, shared.lock_status().failures);
        match woken.recv_timeout(wait) {
            // Asked: whoever asked marked the fetch as running.
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut status = shared.lock_status();
                if status.in_flight {
                    // Asked at this very moment: the request is queued.
                    continue;
                }
                status.in_flight = true;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        shared.finish(fetcher.fetch());
    }
}

/// Reads the document from its source.
struct Fetcher {
    source: JwksSource,
    client: Option<reqwest::blocking::Client>,
}

impl Fetcher {
    fn new(source: &JwksSource) -> Result<Self, String> {
        let client = match source {
            JwksSource::File(_) => None,
            // No redirects: the configured URL is the one whose scheme was
            // checked (https, or http to loopback).
            JwksSource::Url(_) => Some(
                reqwest::blocking::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("prm/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| one_line(&e))?,
            ),
        };
        Ok(Self {
            source: source.clone(),
            client,
        })
    }

    fn fetch(&self) -> Result<KeySet, String> {
        let body = match (&self.source, &self.client) {
            (JwksSource::Url(url), Some(client)) => {
                let res = client
                    .get(url)
                    .header(
                        reqwest::header::ACCEPT,
                        "application/jwk-set+json, application/json",
                    )
                    .send()
                    .map_err(|e| one_line(&e))?;
                if !res.status().is_success() {
                    return Err(format!("the provider answered {}", res.status()));
                }
                let mut body = Vec::new();
                res.take(MAX_DOCUMENT_BYTES + 1)
                    .read_to_end(&mut body)
                    .map_err(|e| format!("reading the document: {e}"))?;
                body
            }
            (JwksSource::File(path), _) => {
                let mut body = Vec::new();
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut body))
                    .map_err(|e| format!("cannot read it: {e}"))?;
                body
            }
            (JwksSource::Url(_), None) => return Err("no HTTP client".to_owned()),
        };
        if body.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        KeySet::parse(&body)
    }
}

/// An error and its causes on one line (reqwest keeps the reason, such as
/// "connection refused", in its sources).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The P-256 base point: a valid public key whose private key is 1.
    const P256_X: &str = "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY";
    const P256_Y: &str = "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
    /// The Ed25519 base point's encoding: a valid public key.
    const ED25519_X: &str = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY";

    fn rsa_n() -> String {
        let mut modulus = vec![0xc5_u8; 256];
        modulus[255] = 0x01;
        URL_SAFE_NO_PAD.encode(modulus)
    }

    fn rsa(kid: &str) -> serde_json::Value {
        json!({"kty": "RSA", "kid": kid, "use": "sig", "n": rsa_n(), "e": "AQAB"})
    }

    fn ec(kid: &str) -> serde_json::Value {
        json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": P256_X, "y": P256_Y})
    }

    fn ed(kid: &str) -> serde_json::Value {
        json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": ED25519_X})
    }

    fn parse(keys: Vec<serde_json::Value>) -> Result<KeySet, String> {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
    }

    fn selected(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Option<Algorithm> {
        match set.select(kid, alg) {
            Selection::Key(k) => Some(k.alg),
            _ => None,
        }
    }

    #[test]
    fn each_key_type_pins_one_algorithm() {
        let set = parse(vec![rsa("r"), ec("e"), ed("o")]).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(
            selected(&set, Some("r"), Algorithm::RS256),
            Some(Algorithm::RS256)
        );
        assert_eq!(
            selected(&set, Some("e"), Algorithm::ES256),
            Some(Algorithm::ES256)
        );
        assert_eq!(
            selected(&set, Some("o"), Algorithm::EdDSA),
            Some(Algorithm::EdDSA)
        );
        // The token's algorithm must be the key's: no other passes.
        for (kid, other) in [
            ("r", Algorithm::RS512),
            ("r", Algorithm::PS256),
            ("r", Algorithm::HS256),
            ("e", Algorithm::ES384),
            ("e", Algorithm::RS256),
            ("o", Algorithm::ES256),
            ("o", Algorithm::HS256),
        ] {
            assert!(
                matches!(set.select(Some(kid), other), Selection::NoKeyForAlgorithm),
                "{kid} with {other:?}"
            );
        }
    }

    #[test]
    fn an_rsa_key_verifies_rs384_or_rs512_only_when_its_alg_says_so() {
        let mut key = rsa("r");
        key["alg"] = json!("RS512");
        let set = parse(vec![key]).unwrap();
        assert_eq!(
            selected(&set, Some("r"), Algorithm::RS512),
            Some(Algorithm::RS512)
        );
        assert!(selected(&set, Some("r"), Algorithm::RS256).is_none());
        let mut pss = rsa("p");
        pss["alg"] = json!("PS256");
        assert!(
            parse(vec![pss]).is_err(),
            "an algorithm not offered is no key"
        );
    }

    #[test]
    fn keys_not_for_signature_are_ignored() {
        let mut enc = rsa("enc");
        enc["use"] = json!("enc");
        let mut oaep = rsa("oaep");
        oaep["alg"] = json!("RSA-OAEP");
        oaep.as_object_mut().unwrap().remove("use");
        let mut wrap = ec("wrap");
        wrap["key_ops"] = json!(["wrapKey"]);
        let mut verify = ec("verify");
        verify["key_ops"] = json!(["verify"]);
        let set = parse(vec![enc, oaep, wrap, verify, rsa("sig")]).unwrap();
        assert_eq!((set.len(), set.ignored()), (2, 3));
        assert!(matches!(
            set.select(Some("enc"), Algorithm::RS256),
            Selection::UnknownKid
        ));
        assert!(selected(&set, Some("verify"), Algorithm::ES256).is_some());
    }

    #[test]
    fn symmetric_and_unsupported_keys_are_never_used() {
        let oct = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
        let p384 = json!({"kty": "EC", "kid": "p", "crv": "P-384", "x": P256_X, "y": P256_Y});
        let x25519 = json!({"kty": "OKP", "kid": "x", "crv": "X25519", "x": ED25519_X});
        let odd = json!({"kty": "RSA", "kid": "n", "n": 7, "e": "AQAB"});
        let err = parse(vec![oct, p384, x25519, odd]).unwrap_err();
        assert!(err.contains("no usable signing key among its 4"), "{err}");
    }

    #[test]
    fn weak_or_malformed_key_material_is_refused() {
        let mut short = rsa("short");
        short["n"] = json!(URL_SAFE_NO_PAD.encode([0xc5_u8; 128]));
        let mut even = rsa("even");
        even["e"] = json!("AQAA");
        let mut off_curve = ec("off");
        off_curve["y"] = json!(P256_X);
        let mut short_ed = ed("short-ed");
        short_ed["x"] = json!("AAAA");
        let mut bad_b64 = ec("b64");
        bad_b64["x"] = json!("not base64!");
        let err = parse(vec![short, even, off_curve, short_ed, bad_b64]).unwrap_err();
        assert!(err.contains("among its 5"), "{err}");
        // Leading zero bytes do not count toward the modulus length, and a
        // padded encoding reads too.
        let mut padded = rsa("padded");
        let mut modulus = vec![0_u8];
        modulus.extend(URL_SAFE_NO_PAD.decode(rsa_n()).unwrap());
        padded["n"] = json!(base64::engine::general_purpose::URL_SAFE.encode(modulus));
        assert_eq!(parse(vec![padded]).unwrap().len(), 1);
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_key_of_its_algorithm() {
        let set = parse(vec![rsa("r1"), ec("e1")]).unwrap();
        assert_eq!(
            selected(&set, None, Algorithm::RS256),
            Some(Algorithm::RS256)
        );
        assert_eq!(
            selected(&set, None, Algorithm::ES256),
            Some(Algorithm::ES256)
        );
        assert!(matches!(
            set.select(None, Algorithm::EdDSA),
            Selection::NoKeyForAlgorithm
        ));
        let two = parse(vec![rsa("r1"), rsa("r2")]).unwrap();
        assert!(matches!(
            two.select(None, Algorithm::RS256),
            Selection::Ambiguous
        ));
        assert!(matches!(
            two.select(Some("r3"), Algorithm::RS256),
            Selection::UnknownKid
        ));
    }

    #[test]
    fn a_document_that_is_not_a_jwks_is_an_error() {
        assert!(KeySet::parse(b"<html>").is_err());
        assert!(KeySet::parse(b"{\"keys\": {}}").is_err());
        assert!(KeySet::parse(b"{\"keys\": []}").is_err());
    }

    #[test]
    fn the_same_keys_in_another_order_are_the_same_set() {
        let a = parse(vec![rsa("r"), ec("e")]).unwrap();
        let b = parse(vec![ec("e"), rsa("r")]).unwrap();
        assert_eq!(a.identity(), b.identity());
        let renamed = parse(vec![ec("e2"), rsa("r")]).unwrap();
        assert_ne!(a.identity(), renamed.identity());
    }

    #[test]
    fn after_failures_the_set_is_fetched_again_sooner_backing_off_to_the_refresh() {
        let settings = JwksSettings {
            source: JwksSource::File("/nonexistent".into()),
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(5),
        };
        let waits: Vec<u64> = (0..8).map(|f| next_wait(&settings, f).as_secs()).collect();
        assert_eq!(waits, [300, 5, 10, 20, 40, 80, 160, 300]);
        assert_eq!(next_wait(&settings, u32::MAX).as_secs(), 300);
    }
}
