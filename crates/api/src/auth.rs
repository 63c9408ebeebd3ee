//! Bearer-token authentication of a request: the `Caller` extractor.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

pub use crate::jwt::{Claims, JwtVerifier, LEEWAY_SECS, mint_token};
pub use crate::state::Caller;

use crate::error::ApiError;
use crate::observe::Metrics;
use crate::state::AppState;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let started = std::time::Instant::now();
        let caller = caller_from(req);
        if let Some(m) = req.app_data::<web::Data<Metrics>>() {
            m.observe_auth(started.elapsed());
        }
        ready(caller)
    }
}

fn caller_from(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state missing".to_owned()))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized {
            code: "missing_token",
            detail: "send `Authorization: Bearer <token>`".to_owned(),
        })?;
    let token = value
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
        })?;
    let claims = state.verifier.verify(token)?;
    Ok(Caller {
        cached: state.actors.get(&claims.sub),
        subject: claims.sub,
        kind: match *req.method() {
            Method::GET | Method::HEAD => crate::queue::Kind::Read,
            _ => crate::queue::Kind::Write,
        },
        pinned: req.extensions().get::<crate::queue::Pinned>().cloned(),
    })
}
