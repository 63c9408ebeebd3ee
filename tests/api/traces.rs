//! W3C Trace Context (API.md, "Many replicas": `traceparent` accepted,
//! propagated to logs and answered) and the optional OTLP export of one span
//! per request.

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prm_api::otlp::OtlpSettings;
use prm_tests::{Receiver, Resp, TestApp};
use prost::Message;
use serde_json::{Value, json};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// An answered `traceparent`'s trace id, span id and flags, checked to be
/// version 00 in lower-case hex.
fn answered(res: &Resp) -> (String, String, String) {
    let v = res
        .header("traceparent")
        .expect("a traceparent is answered");
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "{v}");
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    assert!(
        hex(parts[1], 32) && hex(parts[2], 16) && hex(parts[3], 2),
        "{v}"
    );
    assert_ne!(parts[1], "0".repeat(32));
    assert_ne!(parts[2], "0".repeat(16));
    (
        parts[1].to_owned(),
        parts[2].to_owned(),
        parts[3].to_owned(),
    )
}

async fn get_traced(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(app.admin());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send(req).await
}

#[actix_web::test]
async fn a_valid_traceparent_is_answered_with_its_trace_and_a_span_of_the_request() {
    let app = TestApp::spawn().await;
    let tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    let headers = [("traceparent", PARENT), ("tracestate", tracestate)];
    let mut spans = Vec::new();
    for path in ["/healthz", "/api/v1/me", "/api/v1/nowhere"] {
        let res = get_traced(&app, path, &headers).await;
        let (trace, span, flags) = answered(&res);
        assert_eq!(trace, TRACE, "{path}: the caller's trace is continued");
        assert_ne!(
            span, PARENT_SPAN,
            "{path}: the request is a span of its own"
        );
        assert_eq!(flags, "01", "{path}: the sampled flag is kept");
        assert_eq!(res.header("tracestate"), Some(tracestate), "{path}");
        spans.push(span);
    }
    assert_eq!(spans.len(), 3);
    assert!(
        spans[0] != spans[1] && spans[1] != spans[2] && spans[0] != spans[2],
        "each request is its own span: {spans:?}"
    );
    // A caller that does not sample is answered so.
    let unsampled = PARENT.replace("-01", "-00");
    let res = get_traced(&app, "/api/v1/me", &[("traceparent", unsampled.as_str())]).await;
    let (trace, _, flags) = answered(&res.expect(200));
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "00"));
    // A later version is read by its first four fields.
    let later = format!("{}-future", PARENT.replacen("00", "01", 1));
    let res = get_traced(&app, "/healthz", &[("traceparent", later.as_str())]).await;
    assert_eq!(answered(&res).0, TRACE);
}

#[actix_web::test]
async fn an_invalid_or_absent_traceparent_starts_a_new_trace() {
    let app = TestApp::spawn().await;
    let upper = PARENT.to_ascii_uppercase();
    let version_ff = PARENT.replacen("00", "ff", 1);
    let zero_trace = format!("00-{}-{PARENT_SPAN}-01", "0".repeat(32));
    let zero_parent = format!("00-{TRACE}-{}-01", "0".repeat(16));
    let mut traces = Vec::new();
    for bad in [
        upper.as_str(),
        version_ff.as_str(),
        zero_trace.as_str(),
        zero_parent.as_str(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "nonsense",
    ] {
        let res = get_traced(
            &app,
            "/api/v1/me",
            &[("traceparent", bad), ("tracestate", "rojo=1")],
        )
        .await
        .expect(200);
        let (trace, _, flags) = answered(&res);
        assert_ne!(trace, TRACE, "{bad}: a new trace");
        assert_eq!(flags, "01", "{bad}: a new trace is sampled");
        assert_eq!(
            res.header("tracestate"),
            None,
            "{bad}: no tracestate without its traceparent"
        );
        traces.push(trace);
    }
    let res = get_traced(&app, "/api/v1/me", &[]).await.expect(200);
    traces.push(answered(&res).0);
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 7, "every new trace is its own: {traces:?}");
}

/// A browser on an allowed origin may send `traceparent` and read the one
/// answered.
#[actix_web::test]
async fn a_browser_may_send_and_read_traceparent() {
    let app = TestApp::spawn().await;
    let preflight = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, format!("{}/api/v1/me", app.base))
                .header("Origin", "https://portal.example")
                .header("Access-Control-Request-Method", "GET")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization,traceparent,tracestate",
                ),
        )
        .await;
    assert_eq!(preflight.status, 200, "{}", preflight.text);
    let get = app
        .send(
            app.client
                .get(format!("{}/api/v1/me", app.base))
                .bearer_auth(app.admin())
                .header("Origin", "https://portal.example")
                .header("traceparent", PARENT),
        )
        .await
        .expect(200);
    let exposed = get
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(exposed.contains("traceparent"), "{exposed}");
}

/// The OTLP stand-in's URL without its path: what `OTEL_EXPORTER_OTLP_ENDPOINT` names.
fn collector_base(c: &Receiver) -> String {
    c.url.trim_end_matches("/hook").to_owned()
}

/// Every span the stand-in received, with the `service.name` it came under,
/// checking each request is an OTLP/HTTP protobuf export.
fn exported(c: &Receiver) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for r in c.received() {
        assert_eq!(r.request_line, "POST /v1/traces HTTP/1.1");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        let req = ExportTraceServiceRequest::decode(r.raw.as_slice()).expect("OTLP protobuf");
        for rs in req.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|res| text_attribute(&res.attributes, "service.name"))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push((service.clone(), s));
                }
            }
        }
    }
    out
}

fn attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text_attribute(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until `done` holds of what the stand-in got, at most 10 s.
fn wait_for(c: &Receiver, done: impl Fn(&[(String, Span)]) -> bool) -> Vec<(String, Span)> {
    let start = Instant::now();
    loop {
        let spans = exported(c);
        if done(&spans) || start.elapsed() > Duration::from_secs(10) {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[actix_web::test]
async fn each_sampled_request_is_exported_as_a_span_of_the_callers_trace() {
    let collector = Receiver::start(vec![200], 50);
    let base = collector_base(&collector);
    let app = TestApp::spawn_with(|c| {
        c.otlp = Some(OtlpSettings {
            traces_url: format!("{base}/v1/traces"),
            service_name: "prm-under-test".to_owned(),
            schedule_delay: Duration::from_millis(50),
        });
    })
    .await;
    let me = get_traced(&app, "/api/v1/me", &[("traceparent", PARENT)])
        .await
        .expect(200);
    let (_, me_span, _) = answered(&me);
    let missing = format!("/api/v1/orgs/{}", uuid::Uuid::now_v7());
    let not_found = get_traced(&app, &missing, &[]).await.expect(404);
    let (new_trace, _, _) = answered(&not_found);
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    get_traced(
        &app,
        "/healthz",
        &[(
            "traceparent",
            &format!("00-{unsampled_trace}-b7ad6b7169203331-00"),
        )],
    )
    .await
    .expect(200);
    let spans = wait_for(&collector, |s| s.len() >= 2);
    let find = |trace: &str| {
        spans
            .iter()
            .find(|(_, s)| hex(&s.trace_id) == trace)
            .unwrap_or_else(|| panic!("a span of trace {trace} in {spans:?}"))
    };
    let (service, s) = find(TRACE);
    assert_eq!(service, "prm-under-test");
    assert_eq!(
        hex(&s.span_id),
        me_span,
        "the span answered is the one exported"
    );
    assert_eq!(
        hex(&s.parent_span_id),
        PARENT_SPAN,
        "its parent is the caller's"
    );
    assert_eq!(s.name, "GET /api/v1/me");
    assert_eq!(s.kind, SpanKind::Server as i32);
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
    assert_eq!(
        text_attribute(&s.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        text_attribute(&s.attributes, "http.route").as_deref(),
        Some("/api/v1/me")
    );
    assert_eq!(
        attribute(&s.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        text_attribute(&s.attributes, "prm.request_id").as_deref(),
        me.header("x-request-id")
    );
    // A new trace: a root span, named by its route template.
    let (_, root) = find(&new_trace);
    assert!(root.parent_span_id.is_empty(), "{root:?}");
    assert_eq!(root.name, "GET /api/v1/orgs/{id}");
    assert_eq!(
        attribute(&root.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(404))
    );
    // The unsampled request is not exported, though it was answered first.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        exported(&collector)
            .iter()
            .all(|(_, s)| hex(&s.trace_id) != unsampled_trace),
        "an unsampled trace is not exported"
    );
}

/// Names of the process's threads (Linux).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON lines a child writes to stderr, collected as they come.
fn collect_lines(stderr: std::process::ChildStderr) -> Arc<Mutex<Vec<Value>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                sink.lock().unwrap().push(v);
            }
        }
    });
    lines
}

/// Whether a log line was logged inside a request span of `trace`.
fn in_trace(line: &Value, trace: &str) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == trace))
}

/// The access line and a line logged inside a database job, on a queue
/// thread, both name the request's trace; with no OTLP endpoint configured
/// the process runs no export thread and sends nothing.
#[actix_web::test]
async fn the_request_log_lines_carry_its_trace_even_from_a_database_thread() {
    let app = TestApp::spawn().await;
    let customer = app.customer(&app.vendor_id().await, "Traced Ltd").await;
    let opp = app
        .post(
            "/api/v1/opportunities",
            &app.admin(),
            &json!({"topic": "Traced", "customer_id": customer}),
        )
        .await
        .expect(201)
        .id();
    // The default OTLP endpoint, watched when free: nothing may arrive.
    let default_collector = std::net::TcpListener::bind("127.0.0.1:4318").ok();
    let bin = prm_tests::prm_binary();
    let mut served = prm_tests::serve_binary_with(
        &bin,
        &app.db.url,
        &[
            ("RUST_LOG", "info"),
            ("PRM_DB_STATEMENT_TIMEOUT_MS", "100"),
            ("OTEL_SERVICE_NAME", "prm-not-exporting"),
        ],
        std::process::Stdio::piped(),
    )
    .await;
    let lines = collect_lines(served.child.stderr.take().unwrap());
    // The batch item waits for this row lock past the statement timeout:
    // its 503 is logged inside the batch's database job.
    let mut lock = app.db.conn();
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM opportunities WHERE id = '{opp}' FOR UPDATE;"
    ))
    .unwrap();
    let traceparent = format!("00-{TRACE}-{PARENT_SPAN}-01");
    let res = app
        .send(
            app.client
                .post(format!("{}/api/v1/opportunities/batch", served.base))
                .bearer_auth(app.admin())
                .header("traceparent", traceparent.as_str())
                .json(&json!({"items": [{"id": opp, "action": "withdraw"}]})),
        )
        .await
        .expect(200);
    lock.batch_execute("ROLLBACK").unwrap();
    assert_eq!(res.body["items"][0]["status"], 503, "{}", res.text);
    let (_, span, _) = answered(&res);
    let start = Instant::now();
    let (access, in_job) = loop {
        let got = lines.lock().unwrap().clone();
        let access = got
            .iter()
            .find(|l| l["target"] == "prm::http" && l["fields"]["trace_id"] == TRACE)
            .cloned();
        let in_job = got
            .iter()
            .find(|l| l["fields"]["message"] == "database unavailable" && in_trace(l, TRACE))
            .cloned();
        match (access, in_job) {
            (Some(a), Some(j)) => break (a, j),
            _ if start.elapsed() > Duration::from_secs(10) => {
                panic!("no access and in-job line of trace {TRACE} in {got:#?}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(access["fields"]["span_id"], span.as_str());
    assert_eq!(access["fields"]["route"], "/api/v1/opportunities/batch");
    assert_eq!(
        access["fields"]["request_id"].as_str(),
        res.header("x-request-id")
    );
    let request = in_job["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "request")
        .unwrap();
    assert_eq!(request["span_id"], span.as_str());
    assert_eq!(request["request_id"].as_str(), res.header("x-request-id"));
    let threads = thread_names(served.child.id());
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|t| !t.starts_with("OpenTelemetry")),
        "no export thread without an endpoint: {threads:?}"
    );
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    if let Some(listener) = default_collector {
        listener.set_nonblocking(true).unwrap();
        assert!(
            listener.accept().is_err(),
            "nothing is sent to the default OTLP endpoint"
        );
    }
}

/// Spans still queued when `prm serve` is told to stop are sent before it
/// exits.
#[actix_web::test]
async fn spans_still_queued_are_sent_when_the_service_shuts_down() {
    let db = prm_tests::TestDb::migrated();
    let collector = Receiver::start(vec![200], 10);
    let endpoint = collector_base(&collector);
    let bin = prm_tests::prm_binary();
    let mut served = prm_tests::serve_binary_with(
        &bin,
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "prm-stopping"),
            // Only the shutdown sends.
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            ("PRM_SHUTDOWN_GRACE_MS", "0"),
        ],
        std::process::Stdio::null(),
    )
    .await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/healthz", served.base))
        .header("traceparent", PARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let threads = thread_names(served.child.id());
    assert!(
        threads.iter().any(|t| t.starts_with("OpenTelemetry")),
        "the export thread runs: {threads:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        collector.received().is_empty(),
        "nothing sent before the delay"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "prm exits after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    // The readiness polls of the start are spans too; ours is among them.
    let spans = exported(&collector);
    let (service, span) = spans
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == TRACE)
        .unwrap_or_else(|| panic!("the request's span was sent: {spans:?}"));
    assert_eq!(service, "prm-stopping");
    assert_eq!(span.name, "GET /healthz");
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN);
}
