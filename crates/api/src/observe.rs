//! Operations: a request id and a W3C trace span on every request and
//! response, one structured log line per request, and Prometheus metrics
//! (requests by route template and status, a latency histogram, pool use).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, get, web};
use prm_store::PgPool;
use tracing::Instrument;

use crate::otlp::{Exporter, FinishedRequest};
use crate::trace::{RequestTrace, TRACEPARENT_HEADER, TRACESTATE_HEADER};

pub const REQUEST_ID: &str = "x-request-id";

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The request's id, as honoured from `X-Request-Id` or made up.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

#[derive(Debug, Default)]
struct Series {
    count: u64,
    /// Per bucket, then +Inf last.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// Counters and histograms, keyed by (method, route template, status).
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    /// Time spent authenticating (token verification and the actor cache),
    /// in nanoseconds, and how many requests it was spent on.
    auth_nanos: AtomicU64,
    auth_count: AtomicU64,
}

impl Metrics {
    /// Records one request's authentication time.
    pub fn observe_auth(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.auth_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.auth_count.fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        let s = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += seconds;
        let i = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        s.buckets[i] += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, pool: &PgPool, queue: &crate::queue::DbQueue) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "prm_http_requests_total",
            "counter",
            "Requests by method, route template and status.",
        );
        let map = match self.series.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for ((m, r, s), v) in map.iter() {
            let _ = writeln!(
                out,
                "prm_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {}",
                v.count
            );
        }
        family(
            &mut out,
            "prm_http_request_duration_seconds",
            "histogram",
            "Request latency by method and route template.",
        );
        let mut by_route: BTreeMap<(&str, &str), (u64, [u64; BUCKETS.len() + 1], f64)> =
            BTreeMap::new();
        for ((m, r, _), v) in map.iter() {
            let e = by_route
                .entry((m, r))
                .or_insert((0, [0; BUCKETS.len() + 1], 0.0));
            e.0 += v.count;
            e.2 += v.sum;
            for (i, b) in v.buckets.iter().enumerate() {
                e.1[i] += b;
            }
        }
        for ((m, r), (count, buckets, sum)) in by_route {
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += buckets[i];
                let _ = writeln!(
                    out,
                    "prm_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "prm_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "prm_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "prm_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {count}"
            );
        }
        family(
            &mut out,
            "prm_auth_duration_seconds",
            "summary",
            "Time spent authenticating requests (token verification, actor cache).",
        );
        let _ = writeln!(
            out,
            "prm_auth_duration_seconds_sum {}",
            self.auth_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "prm_auth_duration_seconds_count {}",
            self.auth_count.load(Ordering::Relaxed)
        );
        let state = pool.state();
        let idle = state.idle_connections;
        family(
            &mut out,
            "prm_db_pool_connections",
            "gauge",
            "Database pool connections by state.",
        );
        let _ = writeln!(
            out,
            "prm_db_pool_connections{{state=\"in_use\"}} {}",
            state.connections.saturating_sub(idle)
        );
        let _ = writeln!(out, "prm_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "prm_db_pool_connections{{state=\"max\"}} {}",
            pool.max_size()
        );
        let (reads, writes) = queue.waiting();
        family(
            &mut out,
            "prm_db_queue_waiting",
            "gauge",
            "Requests waiting for a database thread, by kind of work.",
        );
        let _ = writeln!(out, "prm_db_queue_waiting{{kind=\"read\"}} {reads}");
        let _ = writeln!(out, "prm_db_queue_waiting{{kind=\"write\"}} {writes}");
        out
    }
}

/// The `# HELP` and `# TYPE` lines that open a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// Gives every request an id (honouring a valid `X-Request-Id`) and a span
/// of a W3C trace (continuing a valid `traceparent`), returns both on the
/// response, logs one JSON line, records metrics and, when OTLP export is
/// on, queues the request's span.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let trace = RequestTrace::from_headers(req.headers());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let recorder = req.app_data::<web::Data<Metrics>>().cloned();
    // Present only when export is configured; otherwise no clock reading.
    let exporter = req.app_data::<web::Data<Exporter>>().cloned();
    let wall_start = exporter.as_ref().map(|_| SystemTime::now());
    // Every line logged inside the request, on a database queue thread too
    // (see `queue`), carries this span's fields.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        trace_id = %trace.trace_id,
        span_id = %trace.span_id,
        method = %method,
        path = %path
    );
    let mut res = next.call(req).instrument(span).await?;
    let matched = res.request().match_pattern();
    let route = matched.as_deref().unwrap_or("unmatched");
    let status = res.status().as_u16();
    let took = started.elapsed();
    let seconds = took.as_secs_f64();
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    res.headers_mut()
        .insert(TRACEPARENT_HEADER.clone(), trace.traceparent());
    if let Some(v) = trace
        .tracestate
        .as_deref()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        res.headers_mut().insert(TRACESTATE_HEADER.clone(), v);
    }
    if let Some(m) = recorder {
        m.observe(&method, route, status, seconds);
    }
    if let (Some(exporter), Some(started)) = (exporter, wall_start) {
        exporter.record(FinishedRequest {
            trace: &trace,
            method: &method,
            route: matched.as_deref(),
            status,
            request_id: &id,
            started,
            took,
        });
    }
    tracing::info!(
        target: "prm::http",
        request_id = %id,
        trace_id = %trace.trace_id,
        span_id = %trace.span_id,
        method = %method,
        route = %route,
        path = %path,
        status,
        duration_ms = seconds * 1000.0,
        "request"
    );
    Ok(res)
}

/// Prometheus metrics: request counts and latency by route template and
/// status, database pool use, and JWKS fetches when tokens are verified
/// against an identity provider's key set.
#[utoipa::path(tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(
    metrics: web::Data<Metrics>,
    state: web::Data<crate::state::AppState>,
) -> HttpResponse {
    let mut body = metrics.render(&state.pool, &state.queue);
    state.verifier.write_metrics(&mut body);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
