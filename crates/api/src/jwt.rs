//! JWT verification pinned to the configured algorithm, and local token
//! minting for development. Knows nothing of requests or state.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{JwtConfig, JwtKey};
use crate::error::ApiError;

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

/// Verifies bearer tokens against one key and one algorithm.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    /// Tokens already verified, by their exact text. Checking a signature
    /// was a fifth of the instructions of a `GET` by id; the same bytes
    /// verify the same way until their time window closes, which a hit
    /// checks again (more strictly than the leeway would).
    verified: std::sync::Mutex<HashMap<String, Claims>>,
}

/// At most this many verified tokens are remembered; then they are
/// forgotten at once and verified again as they come back.
const VERIFIED_TOKENS: usize = 4096;

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    pub fn new(cfg: &JwtConfig) -> Result<Self, String> {
        let (key, alg) = match &cfg.key {
            JwtKey::Hs256 { secret, .. } => (DecodingKey::from_secret(secret), Algorithm::HS256),
            JwtKey::Rs256 { public_key_pem } => (
                DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| e.to_string())?,
                Algorithm::RS256,
            ),
        };
        // One algorithm only: a token signed any other way (`none`, or HS256
        // made with an RSA public key as secret) is refused.
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required: HashSet<String> =
            ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
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
        Ok(Self {
            key,
            validation,
            verified: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = Utc::now().timestamp();
        if let Some(claims) = self.already_verified(token, now) {
            return Ok(claims);
        }
        let claims = self.check(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_TOKENS {
                verified.clear();
            }
            verified.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    /// The claims of `token` if it was verified before and is, at `now`,
    /// strictly inside its `nbf`..`exp` window: there the full check, whose
    /// leeway only widens the window, would pass too.
    fn already_verified(&self, token: &str, now: i64) -> Option<Claims> {
        let verified = self.verified.lock().ok()?;
        verified
            .get(token)
            .filter(|c| now < c.exp && c.nbf.is_none_or(|nbf| nbf <= now))
            .cloned()
    }

    fn check(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
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
                ApiError::Unauthorized {
                    code: "invalid_token",
                    detail: detail.to_owned(),
                }
            })
    }
}

/// Mints an HS256 token for local development (`prm token`).
pub fn mint_token(cfg: &JwtConfig, subject: &str, ttl: chrono::Duration) -> Result<String, String> {
    let JwtKey::Hs256 { secret, .. } = &cfg.key else {
        return Err(
            "minting needs PRM_JWT_SECRET (HS256); RS256 tokens come from your identity provider"
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
