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
}

/// The process is alive. Touches no database.
#[utoipa::path(tag = "operations", security(()), responses((status = 200, body = HealthDto)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok".to_owned(),
    })
}

/// The database is reachable and every migration is applied. Answers 503
/// once shutdown has begun, before the listener closes, so a load balancer
/// stops sending new requests while in-flight ones finish.
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
        }))
    } else {
        Err(ApiError::Unavailable("migrations pending".to_owned()))
    }
}
