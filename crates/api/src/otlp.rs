//! Optional export of one span per request over OTLP/HTTP (protobuf), when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Spans are queued to the SDK's batch
//! processor, which sends them from a thread of its own with our blocking
//! HTTP client; shutting down sends what is still queued. Unset, none of
//! this exists: the request path only reads and writes `traceparent`.

use std::borrow::Cow;
use std::io::Read as _;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanExporter as _, SpanLinks,
    SpanProcessor as _,
};

use crate::trace::RequestTrace;

/// Where and as what spans are exported (`OTEL_*` variables, see `config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The collector's traces URL: the endpoint with `/v1/traces` appended.
    pub traces_url: String,
    /// `service.name` of the exported spans (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// Longest a span waits to be sent (`OTEL_BSP_SCHEDULE_DELAY`).
    pub schedule_delay: Duration,
}

/// One collector request at most this long, as the OTLP exporter's default.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// A collector's answer is read up to this size (it is a small status).
const MAX_ANSWER: u64 = 64 * 1024;

/// What one finished request tells its span.
#[derive(Debug)]
pub struct FinishedRequest<'a> {
    pub trace: &'a RequestTrace,
    pub method: &'a str,
    /// The route template, when a route matched.
    pub route: Option<&'a str>,
    pub status: u16,
    pub request_id: &'a str,
    pub started: SystemTime,
    pub took: Duration,
}

/// The running export: a batch processor with its own thread.
#[derive(Debug)]
pub struct Exporter {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

/// reqwest's blocking client, which the batch thread may use (it runs no
/// async runtime), as the OTLP exporter's HTTP client.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for Blocking {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let mut answer = self.0.execute(request.try_into()?)?;
        let status = answer.status();
        let headers = std::mem::take(answer.headers_mut());
        let mut body = Vec::new();
        answer.take(MAX_ANSWER).read_to_end(&mut body)?;
        let mut response = Response::builder().status(status).body(Bytes::from(body))?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

impl Exporter {
    /// Starts the batch thread. Nothing is sent until a span is recorded.
    pub fn start(settings: &OtlpSettings) -> Result<Self, String> {
        // Built on a thread of its own: a blocking client may be neither
        // built nor dropped on an async runtime's thread.
        let client = std::thread::spawn(|| {
            reqwest::blocking::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
        })
        .join()
        .map_err(|_| "building the OTLP HTTP client panicked".to_owned())?
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(Blocking(client))
            .with_endpoint(settings.traces_url.clone())
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot start OTLP export: {e}"))?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name(settings.service_name.clone())
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(settings.schedule_delay)
                    .build(),
            )
            .build();
        Ok(Self {
            processor,
            scope: InstrumentationScope::builder("prm")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        })
    }

    /// Queues the request's span, unless its trace is not sampled. Never
    /// waits: a full queue drops the span.
    pub fn record(&self, r: FinishedRequest<'_>) {
        if !r.trace.sampled {
            return;
        }
        let trace_state = r
            .trace
            .tracestate
            .as_deref()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let name = match r.route {
            Some(route) => format!("{} {route}", r.method),
            // Semantic conventions: the method alone when no route matched.
            None => r.method.to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", r.method.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(r.status)),
            KeyValue::new("prm.request_id", r.request_id.to_owned()),
        ];
        if let Some(route) = r.route {
            attributes.push(KeyValue::new("http.route", route.to_owned()));
        }
        // A server span is an error only when the server failed.
        let status = if r.status >= 500 {
            Status::error("")
        } else {
            Status::Unset
        };
        self.processor.on_end(SpanData {
            span_context: SpanContext::new(
                opentelemetry::TraceId::from_bytes(r.trace.trace_id.0),
                opentelemetry::SpanId::from_bytes(r.trace.span_id.0),
                TraceFlags::SAMPLED,
                false,
                trace_state,
            ),
            parent_span_id: r
                .trace
                .parent_id
                .map_or(opentelemetry::SpanId::INVALID, |p| {
                    opentelemetry::SpanId::from_bytes(p.0)
                }),
            parent_span_is_remote: r.trace.parent_id.is_some(),
            span_kind: SpanKind::Server,
            name: Cow::Owned(name),
            start_time: r.started,
            end_time: r.started + r.took,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        });
    }

    /// Sends what is queued and stops the batch thread; blocks up to 5 s.
    pub fn shutdown(&self) {
        if let Err(e) = self.processor.shutdown() {
            tracing::warn!(error = %e, "OTLP export did not shut down cleanly");
        }
    }
}
