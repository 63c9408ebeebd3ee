//! JWT verification pinned to the configured algorithm (or, with a JWKS, to
//! each key's), and local token minting for development. Knows nothing of
//! requests or state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{JwtConfig, JwtKey};
use crate::error::ApiError;
use crate::jwks::{Current, Jwks, Selection};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim: one audience, or several (RFC 7519, section 4.1.3).
/// Which one must be among them is checked by `jsonwebtoken` itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verifies bearer tokens: against one key and one algorithm, or against
/// an identity provider's key set (JWKS), by the token's `kid`, each key
/// pinned to the one algorithm its type verifies.
pub struct JwtVerifier {
    keys: Keys,
    /// Tokens already verified, by their exact text, with the generation
    /// of the key set that verified them. Checking a signature was a fifth
    /// of the instructions of a `GET` by id; the same bytes verify the same
    /// way until their time window closes, which a hit checks again (more
    /// strictly than the leeway would), or until the key set changes.
    verified: std::sync::Mutex<HashMap<String, (Claims, u64)>>,
}

enum Keys {
    Fixed {
        key: DecodingKey,
        validation: Box<Validation>,
    },
    Jwks {
        keys: Jwks,
        /// One per algorithm a JWKS key may verify.
        validations: Vec<(Algorithm, Validation)>,
    },
}

/// The keys one verification uses: a JWKS's set in use, taken once.
enum KeysNow<'a> {
    Fixed(&'a DecodingKey, &'a Validation),
    Set(Arc<Current>, &'a [(Algorithm, Validation)]),
}

impl KeysNow<'_> {
    /// Bumped when the key set changes; a fixed key never does.
    fn generation(&self) -> u64 {
        match self {
            KeysNow::Fixed(..) => 0,
            KeysNow::Set(current, _) => current.generation,
        }
    }
}

/// Why a token was not verified.
#[derive(Debug)]
pub enum Refusal {
    /// The token is bad whatever keys there are.
    Invalid(ApiError),
    /// The token names a key (`kid`) the key set does not hold: after a
    /// rotation, fetching the set again may find it.
    UnknownKey(ApiError),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(e) | Refusal::UnknownKey(e) => e,
        }
    }
}

/// At most this many verified tokens are remembered; then they are
/// forgotten at once and verified again as they come back.
const VERIFIED_TOKENS: usize = 4096;

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("JwtVerifier");
        match &self.keys {
            Keys::Fixed { validation, .. } => d.field("algorithms", &validation.algorithms),
            Keys::Jwks { keys, .. } => d.field("jwks", keys),
        };
        d.finish_non_exhaustive()
    }
}

/// What every token must carry and satisfy besides its signature, for a
/// key of `alg`: one algorithm only, so a token signed any other way
/// (`none`, or HS256 made with a public key as the secret) is refused.
fn validation(cfg: &JwtConfig, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required: HashSet<String> = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
    match &cfg.issuer {
        Some(iss) => {
            validation.set_issuer(&[iss]);
            required.insert("iss".to_owned());
        }
        None => validation.iss = None,
    }
    match &cfg.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.insert("aud".to_owned());
        }
        None => validation.validate_aud = false,
    }
    validation.required_spec_claims = required;
    validation
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_token",
        detail: detail.to_owned(),
    }
}

impl JwtVerifier {
    /// With a JWKS, fetches it first (see `Jwks::start`).
    pub fn new(cfg: &JwtConfig) -> Result<Self, String> {
        let keys = match &cfg.key {
            JwtKey::Hs256 { secret, .. } => Keys::Fixed {
                key: DecodingKey::from_secret(secret),
                validation: Box::new(validation(cfg, Algorithm::HS256)),
            },
            JwtKey::Rs256 { public_key_pem } => Keys::Fixed {
                key: DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| e.to_string())?,
                validation: Box::new(validation(cfg, Algorithm::RS256)),
            },
            JwtKey::Jwks(settings) => Keys::Jwks {
                keys: Jwks::start(settings)?,
                validations: crate::jwks::ALGORITHMS
                    .iter()
                    .map(|alg| (*alg, validation(cfg, *alg)))
                    .collect(),
            },
        };
        Ok(Self {
            keys,
            verified: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Verifies `token` with the keys at hand; an unknown `kid` is refused
    /// like any other failure.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.try_verify(token).map_err(ApiError::from)
    }

    /// Verifies `token` with the keys at hand, telling an unknown `kid`
    /// (worth `refetch_keys` and a second try) from a bad token.
    pub fn try_verify(&self, token: &str) -> Result<Claims, Refusal> {
        let now = Utc::now().timestamp();
        let keys = self.keys_now();
        let generation = keys.generation();
        if let Some(claims) = self.remembered(token, now, generation) {
            return Ok(claims);
        }
        let claims = match keys {
            KeysNow::Fixed(key, validation) => {
                check(token, key, validation).map_err(Refusal::Invalid)?
            }
            KeysNow::Set(current, validations) => check_with_set(token, &current.set, validations)?,
        };
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(token.to_owned(), (claims.clone(), generation));
        }
        Ok(claims)
    }

    /// After a `Refusal::UnknownKey`: fetches the key set again (at most
    /// once per `PRM_JWT_JWKS_MIN_REFETCH_MS`, concurrent callers sharing
    /// one fetch) without blocking the caller's thread. True when a fetch
    /// finished, so the token is worth another `verify`.
    pub async fn refetch_keys(&self) -> bool {
        match &self.keys {
            Keys::Jwks { keys, .. } => keys.refetch().await,
            Keys::Fixed { .. } => false,
        }
    }

    /// The key set's state, when tokens are verified against a JWKS.
    pub fn jwks_health(&self) -> Option<crate::jwks::Health> {
        match &self.keys {
            Keys::Jwks { keys, .. } => Some(keys.health()),
            Keys::Fixed { .. } => None,
        }
    }

    /// Appends the key set's metrics, if any, to a Prometheus exposition.
    pub fn write_metrics(&self, out: &mut String) {
        if let Keys::Jwks { keys, .. } = &self.keys {
            keys.write_metrics(out);
        }
    }

    /// The keys to verify with now: a JWKS's set in use is taken once.
    fn keys_now(&self) -> KeysNow<'_> {
        match &self.keys {
            Keys::Fixed { key, validation } => KeysNow::Fixed(key, validation),
            Keys::Jwks { keys, validations } => KeysNow::Set(keys.current(), validations),
        }
    }

    /// The claims of `token` if it was verified before and is, at `now`,
    /// strictly inside its `nbf`..`exp` window: there the full check, whose
    /// leeway only widens the window, would pass too.
    #[cfg(test)]
    fn already_verified(&self, token: &str, now: i64) -> Option<Claims> {
        self.remembered(token, now, self.keys_now().generation())
    }

    /// The same, for a token verified under the key set `generation`.
    fn remembered(&self, token: &str, now: i64, generation: u64) -> Option<Claims> {
        let verified = self.verified.lock().ok()?;
        verified
            .get(token)
            .filter(|(c, g)| *g == generation && now < c.exp && c.nbf.is_none_or(|nbf| nbf <= now))
            .map(|(c, _)| c.clone())
    }
}

/// Verifies `token` with the key its header selects from `set`.
fn check_with_set(
    token: &str,
    set: &crate::jwks::KeySet,
    validations: &[(Algorithm, Validation)],
) -> Result<Claims, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| Refusal::Invalid(refused(&e)))?;
    match set.select(header.kid.as_deref(), header.alg) {
        Selection::Key(key) => {
            let validation = validations
                .iter()
                .find(|(alg, _)| *alg == key.alg)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    Refusal::Invalid(unauthorized("the token's algorithm is not accepted"))
                })?;
            check(token, &key.key, validation).map_err(Refusal::Invalid)
        }
        // Only an algorithm some key could verify is worth a fetch.
        Selection::UnknownKid if crate::jwks::ALGORITHMS.contains(&header.alg) => {
            Err(Refusal::UnknownKey(unauthorized(
                "the token's key (kid) is not among the identity provider's keys",
            )))
        }
        Selection::UnknownKid | Selection::NoKeyForAlgorithm => Err(Refusal::Invalid(
            unauthorized("the token's algorithm is not accepted"),
        )),
        Selection::Ambiguous => Err(Refusal::Invalid(unauthorized(
            "the token has no kid and several keys could have signed it",
        ))),
    }
}

fn check(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, ApiError> {
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| refused(&e))
}

fn refused(e: &jsonwebtoken::errors::Error) -> ApiError {
    let detail = match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is malformed",
    };
    unauthorized(detail)
}

/// Mints an HS256 token for local development (`prm token`).
pub fn mint_token(cfg: &JwtConfig, subject: &str, ttl: chrono::Duration) -> Result<String, String> {
    let JwtKey::Hs256 { secret, .. } = &cfg.key else {
        return Err(
            "minting needs PRM_JWT_SECRET (HS256); with a public key or a JWKS, tokens come from your identity provider"
                .to_owned(),
        );
    };
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: subject.to_owned(),
        exp: now + ttl.num_seconds(),
        nbf: Some(now - 5),
        iat: Some(now),
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone().map(Audience::One),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &[u8]) -> JwtConfig {
        JwtConfig {
            key: JwtKey::Hs256 {
                secret: secret.to_vec(),
                is_demo: false,
            },
            issuer: None,
            audience: None,
        }
    }

    #[test]
    fn a_verified_token_is_remembered_only_inside_its_time_window() {
        let cfg = config(b"a test secret of reasonable length");
        let verifier = JwtVerifier::new(&cfg).unwrap();
        let token = mint_token(&cfg, "jo", chrono::Duration::minutes(10)).unwrap();
        let now = Utc::now().timestamp();
        assert!(verifier.already_verified(&token, now).is_none());
        assert_eq!(verifier.verify(&token).unwrap().sub, "jo");
        let claims = verifier.already_verified(&token, now).expect("remembered");
        assert_eq!(claims.sub, "jo");
        // At its expiry, and before its `nbf`, it is checked in full again.
        assert!(verifier.already_verified(&token, claims.exp).is_none());
        let nbf = claims.nbf.expect("minted tokens carry nbf");
        assert!(verifier.already_verified(&token, nbf - 1).is_none());
        assert!(verifier.already_verified(&token, nbf).is_some());
    }

    #[test]
    fn a_token_that_fails_is_not_remembered_nor_matched_by_a_near_copy() {
        let cfg = config(b"a test secret of reasonable length");
        let verifier = JwtVerifier::new(&cfg).unwrap();
        let good = mint_token(&cfg, "jo", chrono::Duration::minutes(10)).unwrap();
        verifier.verify(&good).unwrap();
        // Signed with another secret: refused, and not remembered.
        let forged = mint_token(
            &config(b"another secret of reasonable length"),
            "jo",
            chrono::Duration::minutes(10),
        )
        .unwrap();
        assert!(verifier.verify(&forged).is_err());
        assert!(verifier.verify(&forged).is_err());
        let now = Utc::now().timestamp();
        assert!(verifier.already_verified(&forged, now).is_none());
        // The remembered token's text with its signature cut short is not it.
        let truncated = &good[..good.len() - 1];
        assert!(verifier.already_verified(truncated, now).is_none());
        assert!(verifier.verify(truncated).is_err());
    }
}
