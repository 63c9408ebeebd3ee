//! Graceful shutdown of the real `prm serve`: on SIGTERM `/readyz` turns
//! 503 while the listener still answers, and a request in flight finishes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use prm_tests::{ADMIN, TEST_SECRET, TestDb};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": ADMIN, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

#[test]
fn sigterm_turns_readiness_off_first_and_lets_in_flight_requests_finish() {
    let db = TestDb::migrated();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_prm"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("PRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("PRM_JWT_SECRET", TEST_SECRET)
        .env("PRM_BOOTSTRAP_ADMIN_SUBJECT", ADMIN)
        .env("PRM_WORKER", "false")
        .env("PRM_WORKERS", "2")
        .env("PRM_SHUTDOWN_GRACE_MS", "1500")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ready = |http: &reqwest::blocking::Client| {
        http.get(format!("{base}/readyz"))
            .send()
            .map(|r| r.status().as_u16())
    };
    let start = Instant::now();
    while ready(&http).ok() != Some(200) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let auth = format!("Bearer {}", token());
    let customer: Value = http
        .post(format!("{base}/api/v1/customers"))
        .header("Authorization", &auth)
        .json(&json!({"name": "Slow Co", "country": "DE"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let opp: Value = http
        .post(format!("{base}/api/v1/opportunities"))
        .header("Authorization", &auth)
        .json(&json!({"topic": "slow", "customer_id": customer["id"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = opp["id"].as_str().unwrap().to_owned();

    // Hold the row so a PATCH stays in flight until we let go.
    let mut lock = db.conn();
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM opportunities WHERE id = '{id}' FOR UPDATE;"
    ))
    .unwrap();
    let (patch_http, patch_url, patch_auth) = (
        http.clone(),
        format!("{base}/api/v1/opportunities/{id}"),
        auth.clone(),
    );
    let in_flight = std::thread::spawn(move || {
        patch_http
            .patch(patch_url)
            .header("Authorization", patch_auth)
            .json(&json!({"topic": "finished"}))
            .send()
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(300));

    let sent = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut readiness_off = None;
    while sent.elapsed() < Duration::from_millis(1200) {
        if ready(&http).ok() == Some(503) {
            readiness_off = Some(sent.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let readiness_off =
        readiness_off.expect("/readyz turned 503 while the listener was still open");
    // Past the grace period the listener is closed…
    std::thread::sleep(Duration::from_millis(1800));
    assert!(
        http.get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_err(),
        "listener closed after the grace period"
    );
    // …and the request in flight still completes once it can.
    lock.batch_execute("COMMIT").unwrap();
    assert_eq!(
        in_flight.join().unwrap().unwrap(),
        200,
        "the in-flight request finished"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit: {status}");
    eprintln!(
        "SIGTERM: /readyz 503 after {} ms; listener closed after the 1500 ms grace; in-flight PATCH finished with 200; exit 0",
        readiness_off.as_millis()
    );
}
