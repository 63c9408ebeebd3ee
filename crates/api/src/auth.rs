//! Bearer-token authentication of a request: the `Caller` extractor.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::Either;

pub use crate::jwt::{Claims, JwtVerifier, LEEWAY_SECS, Refusal, mint_token};
pub use crate::state::Caller;

use crate::error::ApiError;
use crate::observe::Metrics;
use crate::state::AppState;

/// The extractor's future: ready at once, unless the token names a key the
/// set lacks and the set is fetched again first (on the JWKS thread; this
/// future only waits, so the event loop serves other requests meanwhile).
type Pending = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Either<Ready<Result<Self, ApiError>>, Pending>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let started = std::time::Instant::now();
        match authenticate(req) {
            Authenticated::Now(caller) => {
                observe(req, started);
                Either::Left(ready(caller))
            }
            Authenticated::AfterRefetch { state, token } => {
                let req = req.clone();
                Either::Right(Box::pin(async move {
                    state.verifier.refetch_keys().await;
                    let caller = state
                        .verifier
                        .verify(&token)
                        .map(|claims| caller_of(&req, &state, claims));
                    observe(&req, started);
                    caller
                }))
            }
        }
    }
}

enum Authenticated {
    Now(Result<Caller, ApiError>),
    /// The token names a key the set lacks: worth a second look once the
    /// set has been fetched again.
    AfterRefetch {
        state: web::Data<AppState>,
        token: String,
    },
}

fn observe(req: &HttpRequest, started: std::time::Instant) {
    if let Some(m) = req.app_data::<web::Data<Metrics>>() {
        m.observe_auth(started.elapsed());
    }
}

fn authenticate(req: &HttpRequest) -> Authenticated {
    let found = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".to_owned()))
        .and_then(|state| Ok((state, bearer_token(req)?)));
    let (state, token) = match found {
        Ok(found) => found,
        Err(e) => return Authenticated::Now(Err(e)),
    };
    match state.verifier.try_verify(token) {
        Ok(claims) => Authenticated::Now(Ok(caller_of(req, state, claims))),
        Err(Refusal::Invalid(e)) => Authenticated::Now(Err(e)),
        Err(Refusal::UnknownKey(_)) => Authenticated::AfterRefetch {
            state: state.clone(),
            token: token.to_owned(),
        },
    }
}

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized {
            code: "missing_token",
            detail: "send `Authorization: Bearer <token>`".to_owned(),
        })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized {
            code: "invalid_token",
            detail: "the Authorization header must be `Bearer <token>`".to_owned(),
        })
}

fn caller_of(req: &HttpRequest, state: &AppState, claims: Claims) -> Caller {
    Caller {
        cached: state.actors.get(&claims.sub),
        subject: claims.sub,
        kind: match *req.method() {
            Method::GET | Method::HEAD => crate::queue::Kind::Read,
            _ => crate::queue::Kind::Write,
        },
        pinned: req.extensions().get::<crate::queue::Pinned>().cloned(),
    }
}
