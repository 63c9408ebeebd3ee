//! Building and running the service: database preparation, the actix app
//! with its error handling, and the OpenAPI document.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use prm_store::migrate::{ensure_database, run_migrations};
use prm_store::pool::build_pool;
use prm_store::{Connection, PgConnection, PgPool};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::JwtVerifier;
use crate::config::Config;
use crate::error::{ApiError, PROBLEM_CONTENT_TYPE, problem, problem_response};
use crate::openapi::{ApiDoc, finalize};
use crate::routes::{self, health};
use crate::state::AppState;

/// Why the service could not start; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot reach Postgres at {url} ({cause}); start Postgres or set DATABASE_URL")]
    DatabaseUnreachable { url: String, cause: String },
    #[error("{0}")]
    Migration(String),
    #[error("{0}")]
    Bootstrap(String),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Telemetry(String),
}

/// Hides the password in a database URL before printing it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates the database if missing, applies pending migrations under an
/// advisory lock, makes sure the vendor org and bootstrap admin exist, and
/// returns the pool.
pub fn prepare_database(config: &Config) -> Result<PgPool, StartupError> {
    // One line: libpq's messages span several.
    let unreachable = |cause: String| StartupError::DatabaseUnreachable {
        url: redact_url(&config.database_url),
        cause: cause
            .trim_start_matches("database unavailable: ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    ensure_database(&config.database_url).map_err(|e| unreachable(e.to_string()))?;
    let mut conn =
        PgConnection::establish(&config.database_url).map_err(|e| unreachable(e.to_string()))?;
    let applied = run_migrations(&mut conn).map_err(|e| StartupError::Migration(e.to_string()))?;
    for version in &applied {
        tracing::info!(version = %version, "migration applied");
    }
    crate::bootstrap::ensure_vendor(&mut conn, config)
        .map_err(|e| StartupError::Bootstrap(e.to_string()))?;
    Ok(build_pool(&config.database_url, &config.pool))
}

/// How the worker reads an import's rows: as the API's create bodies.
pub fn import_rows() -> std::sync::Arc<dyn crate::service::imports::RowReader> {
    std::sync::Arc::new(crate::routes::imports::WireRows)
}

/// The OpenAPI document, exactly as served at `/api-docs/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(health::healthz)
        .service(health::readyz)
        .service(crate::observe::metrics)
        .service(scope::scope("/api/v1").configure(routes::api_v1))
        .split_for_parts();
    finalize(api)
}

/// Route templates and their methods, to tell 405 from 404.
#[derive(Debug, Clone)]
pub struct RouteTable(Vec<(Vec<String>, Vec<Method>)>);

impl RouteTable {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods = Vec::new();
                for (op, m) in [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ] {
                    if op.is_some() {
                        methods.push(m);
                    }
                }
                (segments, methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods served at `path`, or `None` when no route matches it.
    /// The most literal templates win: `/opportunities/batch` is its own
    /// route, not an `/opportunities/{id}`.
    pub fn methods_for(&self, path: &str) -> Option<Vec<Method>> {
        let segs: Vec<&str> = path.split('/').collect();
        let mut found: Option<(usize, Vec<Method>)> = None;
        for (template, methods) in &self.0 {
            let matches = template.len() == segs.len()
                && template
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
            if !matches {
                continue;
            }
            let literal = template.iter().filter(|t| !t.starts_with('{')).count();
            match &mut found {
                Some((best, all)) if *best == literal => all.extend(methods.iter().cloned()),
                Some((best, _)) if *best > literal => {}
                _ => found = Some((literal, methods.clone())),
            }
        }
        found.map(|(_, methods)| methods)
    }
}

/// Unknown route → 404, known route with another method → 405 with `Allow`.
async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    not_served(&req, &table).unwrap_or_else(|| {
        problem_response(&problem(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route {}", req.path()),
        ))
    })
}

/// The 405 (with `Allow`) for a known route asked with a method it does
/// not serve.
fn not_served(req: &HttpRequest, table: &RouteTable) -> Option<HttpResponse> {
    match table.methods_for(req.path()) {
        Some(methods) if !methods.contains(req.method()) => {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut res = problem_response(&problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not served here; use {allow}", req.method()),
            ));
            if let Ok(v) = HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            Some(res)
        }
        _ => None,
    }
}

/// Last line of defence: any 4xx/5xx that is not already problem+json (from
/// actix itself or a library such as the CORS middleware) is rewritten as
/// one, keeping `Allow`, `Vary` and the CORS headers.
fn problemize<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let kept: Vec<_> = res
        .headers()
        .iter()
        .filter(|(name, _)| {
            *name == header::ALLOW
                || *name == header::VARY
                || name.as_str().starts_with("access-control-")
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // The CORS middleware refuses an origin, method or header it was not
    // configured for with a 400 of its own, carrying its error.
    let (code, detail) = match res
        .response()
        .error()
        .and_then(|e| e.as_error::<actix_cors::CorsError>())
    {
        Some(refusal) => (
            "cors_refused",
            format!("{refusal}: not allowed by the CORS configuration"),
        ),
        None => (
            match status.as_u16() {
                400 => "bad_request",
                404 => "route_not_found",
                405 => "method_not_allowed",
                413 => "payload_too_large",
                415 => "unsupported_media_type",
                s if s >= 500 => "internal_error",
                _ => "request_refused",
            },
            status.canonical_reason().unwrap_or("error").to_owned(),
        ),
    };
    let (req, _) = res.into_parts();
    let mut new = problem_response(&problem(status, code, detail));
    for (name, value) in kept {
        new.headers_mut().append(name, value);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// A path parameter that does not read; but a method the path's own route
/// does not serve (`PATCH /opportunities/batch`, which also fits
/// `/opportunities/{id}`) is a 405 first.
fn path_error(e: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(table) = req.app_data::<web::Data<RouteTable>>()
        && let Some(res) = not_served(req, table)
    {
        return actix_web::error::InternalError::from_response(e, res).into();
    }
    ApiError::BadRequest {
        code: "invalid_path_parameter",
        detail: "a path parameter is malformed; ids are UUIDs".to_owned(),
    }
    .into()
}

/// CORS for the configured origins only; none configured, no CORS headers.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
            crate::trace::TRACEPARENT_HEADER.clone(),
            crate::trace::TRACESTATE_HEADER.clone(),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotency-replayed"),
            crate::trace::TRACEPARENT_HEADER.clone(),
            crate::trace::TRACESTATE_HEADER.clone(),
        ])
        .max_age(600);
    for o in origins {
        c = c.allowed_origin(o);
    }
    c
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    grace: std::time::Duration,
    /// Span export, when configured; flushed once the server has stopped.
    exporter: Option<web::Data<crate::otlp::Exporter>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish()
    }
}

impl Application {
    /// Binds `config.listen` (port 0 picks a free port) and builds the server.
    pub fn build(config: &Config, pool: PgPool) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(config.listen)?;
        let port = listener.local_addr()?.port();
        let verifier = JwtVerifier::new(&config.jwt).map_err(StartupError::Auth)?;
        let draining = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let actors = crate::state::ActorCache::new(config.auth_cache_ttl);
        if !config.auth_cache_ttl.is_zero() {
            crate::invalidation::spawn(config.database_url.clone(), actors.watch())?;
        }
        let state = web::Data::new(AppState {
            verifier,
            webhooks: config.webhooks.clone(),
            draining: draining.clone(),
            actors,
            queue: crate::queue::DbQueue::start(
                pool.clone(),
                config.db_readers,
                config.pool.checkout_timeout,
            )?,
            pool,
        });
        let doc = openapi_document();
        let table = web::Data::new(RouteTable::from_openapi(&doc));
        let lifecycle = web::Data::new(routes::lifecycle_description::LifecycleJson::from_openapi(
            &doc,
        ));
        let metrics = web::Data::new(crate::observe::Metrics::default());
        let exporter = match &config.otlp {
            None => None,
            Some(settings) => Some(web::Data::new(
                crate::otlp::Exporter::start(settings).map_err(StartupError::Telemetry)?,
            )),
        };
        let exporting = exporter.clone();
        let cors_origins = config.cors_origins.clone();
        let server = HttpServer::new(move || {
            let mut app = App::new();
            // Absent unless configured: the request path then does no
            // export work at all (see `observe::middleware`).
            if let Some(e) = &exporting {
                app = app.app_data(e.clone());
            }
            let (app, _) = app
                .app_data(state.clone())
                .app_data(table.clone())
                .app_data(lifecycle.clone())
                .app_data(metrics.clone())
                .app_data(web::PathConfig::default().error_handler(path_error))
                .into_utoipa_app()
                .service(health::healthz)
                .service(health::readyz)
                .service(crate::observe::metrics)
                .service(scope::scope("/api/v1").configure(routes::api_v1))
                .split_for_parts();
            app.service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", doc.clone()),
            )
            .default_service(web::to(fallback))
            .wrap(actix_web::middleware::from_fn(
                crate::idempotency::middleware,
            ))
            // Inside the error handlers, so that a refusal of CORS is
            // problem+json too; with no origins configured, not there at all.
            .wrap(actix_web::middleware::Condition::new(
                !cors_origins.is_empty(),
                cors(&cors_origins),
            ))
            .wrap(ErrorHandlers::new().default_handler(problemize))
            .wrap(actix_web::middleware::from_fn(crate::observe::middleware))
        })
        .listen(listener)?
        // Signals are ours: readiness goes first, then the listener.
        .disable_signals()
        .shutdown_timeout(30)
        .workers(config.workers);
        Ok(Self {
            server: server.run(),
            port,
            draining,
            grace: config.shutdown_grace,
            exporter,
        })
    }

    /// Begins a graceful shutdown: `/readyz` turns 503 at once, new
    /// connections are still served for the grace period (so a load balancer
    /// sees readiness drop first), then the listener closes and in-flight
    /// requests finish.
    pub fn shutdown_on(&self) -> impl std::future::Future<Output = ()> + 'static {
        let handle = self.server.handle();
        let draining = self.draining.clone();
        let grace = self.grace;
        async move {
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutting down: readiness off"
            );
            actix_web::rt::time::sleep(grace).await;
            handle.stop(true).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then sends the spans still queued for export.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(exporter) = self.exporter {
            // Blocks up to a few seconds: off the event loop.
            let _ = actix_web::rt::task::spawn_blocking(move || exporter.shutdown()).await;
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_tells_unknown_routes_from_wrong_methods() {
        let t = RouteTable::from_openapi(&openapi_document());
        assert!(t.methods_for("/api/v1/nothing").is_none());
        let m = t.methods_for("/api/v1/orgs/123").unwrap();
        assert!(m.contains(&Method::GET) && m.contains(&Method::PATCH));
        assert!(!m.contains(&Method::DELETE));
        // A literal segment is its own route, not an id.
        assert_eq!(
            t.methods_for("/api/v1/opportunities/batch").unwrap(),
            [Method::POST]
        );
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
