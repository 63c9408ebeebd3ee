//! Liveness and readiness probes for orchestrators and gateways.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthDto {
    #[schema(example = "ok")]
    pub status: String,
    /// `/readyz` only, when tokens are verified against an identity
    /// provider's key set (`PRM_JWT_JWKS_URL` or `PRM_JWT_JWKS_FILE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub jwks: Option<JwksHealthDto>,
}

/// The identity provider's key set. A failed fetch keeps the last good set,
/// so the service still authenticates: readiness stays 200 and says `stale`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JwksHealth)]
pub struct JwksHealthDto {
    pub state: JwksStateDto,
    /// Seconds since the key set was last fetched successfully.
    #[schema(minimum = 0, example = 42)]
    pub age_seconds: u32,
    /// Usable signing keys in the set in use.
    #[schema(minimum = 1, example = 2)]
    pub keys: u32,
}

/// `ok`: the last fetch succeeded. `stale`: it failed (the provider is
/// down or answers no usable set), and the last good set is in use.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = JwksState)]
pub enum JwksStateDto {
    Ok,
    Stale,
}

impl From<crate::jwks::Health> for JwksHealthDto {
    fn from(h: crate::jwks::Health) -> Self {
        Self {
            state: if h.stale {
                JwksStateDto::Stale
            } else {
                JwksStateDto::Ok
            },
            age_seconds: u32::try_from(h.age.as_secs()).unwrap_or(u32::MAX),
            keys: u32::try_from(h.keys).unwrap_or(u32::MAX),
        }
    }
}

/// The process is alive. Touches no database.
#[utoipa::path(tag = "operations", security(()), responses((status = 200, body = HealthDto)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok".to_owned(),
        jwks: None,
    })
}

/// The database is reachable and every migration is applied. Answers 503
/// once shutdown has begun, before the listener closes, so a load balancer
/// stops sending new requests while in-flight ones finish. With a JWKS,
/// `jwks` tells whether its last fetch succeeded; a stale set still
/// authenticates, so it does not make the service unready.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses(
        (status = 200, body = HealthDto),
        (status = 503, description = "Database unreachable or not migrated", body = Problem,
         content_type = "application/problem+json",
         headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::Unavailable("shutting down".to_owned()));
    }
    let migrated = state
        .with_conn(|conn| Ok(prm_store::migrate::is_migrated(conn)?))
        .await?;
    if migrated {
        Ok(HttpResponse::Ok().json(HealthDto {
            status: "ready".to_owned(),
            jwks: state.verifier.jwks_health().map(JwksHealthDto::from),
        }))
    } else {
        Err(ApiError::Unavailable("migrations pending".to_owned()))
    }
}
