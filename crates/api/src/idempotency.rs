//! `Idempotency-Key` on POST: the first response for a (caller, key) is
//! stored and replayed to retries with the same body; a different body under
//! the same key is 422; a retry while the first is still running is 409.
//! The request's work and its stored answer commit in one transaction (see
//! `prm_store::idempotency`), so a crash at any point leaves either both or
//! neither: a retry replays the answer or performs the request, once.

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpResponse, web};
use futures_util::StreamExt;
use prm_store::idempotency::{Answer, Claim, abandon, claim, commit, record_refusal};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, problem, problem_response};
use crate::extract::body_limit;
use crate::queue::{Kind, Pinned};
use crate::state::{AppState, Caller};

pub const HEADER: &str = "idempotency-key";

/// Headers worth replaying with a stored response.
const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "etag"];

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => v.to_str().ok().map(str::to_owned),
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 255) else {
        return Ok(answer_error(
            req.into_parts().0,
            ApiError::BadRequest {
                code: "invalid_idempotency_key",
                detail: "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
            },
        ));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // Keys are scoped to the caller; without a valid token the handler
    // answers 401 anyway.
    let Ok(caller) = Caller::extract(req.request()).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let subject = caller.subject.clone();

    let (http_req, mut payload) = req.into_parts();
    let limit = body_limit(http_req.path());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            let res = problem_response(&problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body exceeds {limit} bytes"),
            ));
            return Ok(ServiceResponse::new(http_req, res));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut hasher = Sha256::new();
    hasher.update(http_req.path().as_bytes());
    hasher.update([0]);
    hasher.update(&body);
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // The key is claimed, or its answer found, only for a caller who is
    // authenticated as for any request (an active user of an active org):
    // a replay is an answer like any other. The request's work then runs
    // on the connection whose transaction holds the key, and its answer is
    // stored in that transaction: work and answer commit together, or
    // neither does (a crash rolls both back, and the key is free again).
    let pinned = match state.queue.pin().await {
        Ok(p) => p,
        Err(e) => return Ok(answer_error(http_req, e)),
    };
    let mut caller = caller;
    caller.pinned = Some(pinned.clone());
    let (s, k) = (subject.clone(), key.clone());
    let claimed = state
        .run(caller, move |conn, _| Ok(claim(conn, &s, &k)?))
        .await;
    let stored = match claimed {
        Err(e) => return Ok(answer_error(http_req, e)),
        Ok(Claim::InFlight) => {
            return Ok(answer_error(
                http_req,
                ApiError::Conflict {
                    code: "idempotency_key_in_flight",
                    detail: "a request with this Idempotency-Key is still being processed"
                        .to_owned(),
                },
            ));
        }
        Ok(Claim::Known(stored)) => stored,
        Ok(Claim::New) => {
            http_req.extensions_mut().insert(pinned.clone());
            let req = ServiceRequest::from_parts(http_req, Payload::from(body));
            return run_keyed(
                &state,
                pinned,
                next.call(req).await?.map_into_boxed_body(),
                subject,
                key,
                hash,
            )
            .await;
        }
    };
    if stored.request_hash != hash {
        return Ok(answer_error(
            http_req,
            ApiError::Validation(vec![prm_domain::FieldError::new(
                "Idempotency-Key",
                "was used with a different request",
            )]),
        ));
    }
    let status = StatusCode::from_u16(u16::try_from(stored.response_status).unwrap_or(200))
        .unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    if let serde_json::Value::Object(hs) = &stored.response_headers {
        for (name, value) in hs {
            if let (Ok(n), Some(v)) = (HeaderName::try_from(name.as_str()), value.as_str())
                && let Ok(v) = HeaderValue::from_str(v)
            {
                res.insert_header((n, v));
            }
        }
    }
    res.insert_header(("Idempotency-Replayed", "true"));
    Ok(ServiceResponse::new(
        http_req,
        res.body(stored.response_body),
    ))
}

/// `err` as the answer to `req`.
fn answer_error(req: actix_web::HttpRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    use actix_web::ResponseError;
    ServiceResponse::new(req, err.error_response())
}

/// Stores the answer of a keyed request that ran and commits it with the
/// request's work; a refusal (4xx) is stored with its work rolled back; a
/// server error rolls both back and stores nothing. If the commit fails the
/// work did not happen, and the client is told to retry.
async fn run_keyed(
    state: &AppState,
    pinned: Pinned,
    res: ServiceResponse<BoxBody>,
    subject: String,
    key: String,
    hash: String,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let status = res.status();
    let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
        .iter()
        .filter_map(|n| {
            res.headers()
                .get(*n)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*n).to_owned(), serde_json::Value::String(v.to_owned())))
        })
        .collect();
    let (http_req, response) = res.into_parts();
    http_req.extensions_mut().remove::<Pinned>();
    let (head, body) = response.into_parts();
    let bytes = to_bytes(body.boxed())
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(format!("response body: {e}")))?;
    let stored_bytes = bytes.clone();
    // A server error stores nothing (a retry may succeed); a refusal is
    // stored with its work rolled back; anything else commits with it.
    let code = i32::from(status.as_u16());
    let ended = state
        .queue
        .run_on(Kind::Write, Some(&pinned), move |conn| {
            if status.is_server_error() {
                return Ok(abandon(conn)?);
            }
            let answer = Answer {
                request_hash: &hash,
                status: code,
                headers: serde_json::Value::Object(kept),
                body: &stored_bytes,
            };
            if status.is_client_error() {
                Ok(record_refusal(conn, &subject, &key, answer)?)
            } else {
                Ok(commit(conn, &subject, &key, answer)?)
            }
        })
        .await;
    match ended {
        Err(e) if !status.is_server_error() => {
            tracing::error!(error = %e, "could not commit a keyed request");
            Ok(answer_error(
                http_req,
                ApiError::Unavailable(
                    "the request's work could not be committed and did not happen; \
                     retry it with the same Idempotency-Key"
                        .to_owned(),
                ),
            ))
        }
        ended => {
            // A server error's rollback failing changes nothing for the client.
            if let Err(e) = ended {
                tracing::warn!(error = %e, "could not roll back a keyed request");
            }
            Ok(ServiceResponse::new(
                http_req,
                head.set_body(BoxBody::new(bytes)),
            ))
        }
    }
}
