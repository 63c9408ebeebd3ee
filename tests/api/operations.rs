//! Operability: request ids, metrics, CORS, and the database going away.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use prm_tests::{DbProxy, TestApp, TestUser};

#[actix_web::test]
async fn request_ids_are_honoured_or_made_and_always_returned() {
    let app = TestApp::spawn().await;
    let res = app
        .send(
            app.client
                .get(format!("{}/healthz", app.base))
                .header("X-Request-Id", "trace-abc-123"),
        )
        .await;
    assert_eq!(res.header("x-request-id"), Some("trace-abc-123"));
    let res = app
        .send(app.client.get(format!("{}/healthz", app.base)))
        .await;
    let made = res.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    let bad = "x".repeat(300);
    let res = app
        .send(
            app.client
                .get(format!("{}/healthz", app.base))
                .header("X-Request-Id", bad.as_str()),
        )
        .await;
    assert_ne!(
        res.header("x-request-id"),
        Some(bad.as_str()),
        "an unusable id is replaced"
    );
    let err = app
        .send(
            app.client
                .get(format!("{}/api/v1/nothing", app.base))
                .header("X-Request-Id", "on-errors-too"),
        )
        .await;
    assert_eq!(err.header("x-request-id"), Some("on-errors-too"));
}

#[actix_web::test]
async fn metrics_count_requests_by_route_template_and_status_with_latency_and_pool_use() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    for _ in 0..3 {
        app.get(&format!("/api/v1/orgs/{}", uuid::Uuid::now_v7()), &admin)
            .await
            .expect(404);
    }
    app.get("/api/v1/me", &admin).await.expect(200);
    let m = app
        .send(app.client.get(format!("{}/metrics", app.base)))
        .await
        .expect(200);
    assert!(m.content_type().starts_with("text/plain"));
    assert!(
        m.text.contains(
            r#"prm_http_requests_total{method="GET",route="/api/v1/orgs/{id}",status="404"} 3"#
        ),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains(r#"prm_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1"#)
    );
    assert!(m.text.contains(r#"prm_http_request_duration_seconds_bucket{method="GET",route="/api/v1/orgs/{id}",le="+Inf"} 3"#));
    assert!(
        m.text
            .contains(r#"prm_db_pool_connections{state="in_use"}"#)
    );
    assert!(m.text.contains(r#"prm_db_pool_connections{state="idle"}"#));
    assert!(m.text.contains(r#"prm_db_queue_waiting{kind="read"} 0"#));
    assert!(m.text.contains(r#"prm_db_queue_waiting{kind="write"} 0"#));
    // Authentication is timed on every request that carries a token: the
    // three 404s and the /me above.
    assert!(
        m.text.contains("prm_auth_duration_seconds_count 4\n"),
        "{}",
        m.text
    );
    let spent: f64 = m
        .text
        .lines()
        .find_map(|l| l.strip_prefix("prm_auth_duration_seconds_sum "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(spent > 0.0 && spent < 1.0, "{spent}");
}

/// `GET /me` as a browser on the portal's origin sends it.
async fn me_from_portal(app: &TestApp) -> prm_tests::Resp {
    app.send(
        app.client
            .get(format!("{}/api/v1/me", app.base))
            .bearer_auth(app.admin())
            .header("Origin", "https://portal.example"),
    )
    .await
    .expect(200)
}

#[actix_web::test]
async fn cors_answers_only_the_configured_origins() {
    let app = TestApp::spawn().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/v1/me", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
    };
    let ok = app.send(preflight("https://portal.example")).await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://portal.example")
    );
    let other = app.send(preflight("https://evil.example")).await;
    assert!(other.header("access-control-allow-origin").is_none());
    // A refusal follows the error convention like every other one.
    assert_eq!(other.status, 400, "{}", other.text);
    assert_eq!(other.content_type(), "application/problem+json");
    assert_eq!(other.body["code"], "cors_refused", "{}", other.text);
    let get = me_from_portal(&app).await;
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some("https://portal.example")
    );
    assert!(
        get.header("access-control-expose-headers")
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("etag")
    );
}

/// README: with no origins configured there is no CORS at all: no
/// `Vary`, no `Access-Control-*` header on any response.
#[actix_web::test]
async fn no_cors_headers_when_no_origins_are_configured() {
    let app = TestApp::spawn_with(|c| c.cors_origins.clear()).await;
    let get = me_from_portal(&app).await;
    let refused = app
        .send(
            app.client
                .get(format!("{}/api/v1/nowhere", app.base))
                .header("Origin", "https://portal.example"),
        )
        .await;
    assert_eq!(refused.status, 404);
    for res in [&get, &refused] {
        assert!(res.header("vary").is_none(), "{:?}", res.header("vary"));
        assert!(
            res.header("access-control-expose-headers").is_none()
                && res.header("access-control-allow-origin").is_none(),
            "{}",
            res.text
        );
    }
}

/// Load against the API while a TCP proxy the test controls cuts the
/// database off: every failure is a 503 problem with `Retry-After`, and the
/// service answers again within 5 s of the database's return.
#[actix_web::test]
async fn a_database_outage_under_load_gives_only_503s_and_recovers() {
    let proxy = DbProxy::start();
    let db = prm_tests::TestDb::migrated();
    let url = proxy.url(&db);
    let app = TestApp::spawn_on(db, move |c| {
        c.database_url = url;
        c.pool.checkout_timeout = Duration::from_millis(500);
        c.pool.max_size = 4;
    })
    .await;
    let token = app.admin();
    let path = format!("{}/api/v1/opportunities?limit=5", app.base);
    let (mut ok, mut unavailable, mut other) = (0u32, 0u32, Vec::new());
    let mut phase_start = Instant::now();
    let mut cut_at = None;
    let mut restored_at: Option<Instant> = None;
    let mut recovered_after = None;
    while phase_start.elapsed() < Duration::from_secs(30) {
        // Eight requests at a time, to 127.0.0.1 only, bounded by the loop.
        let batch = futures_util::future::join_all(
            (0..8).map(|_| app.send(app.client.get(&path).bearer_auth(&token))),
        )
        .await;
        for r in &batch {
            match r.status {
                200 => ok += 1,
                503 => {
                    unavailable += 1;
                    assert_eq!(r.content_type(), "application/problem+json");
                    assert_eq!(r.body["code"], "service_unavailable");
                    assert!(r.header("retry-after").is_some());
                }
                s => other.push(format!("{s} {}", r.text)),
            }
        }
        let all_ok = batch.iter().all(|r| r.status == 200);
        match (cut_at, restored_at) {
            (None, _) if ok >= 40 => {
                proxy.cut();
                cut_at = Some(Instant::now());
            }
            (Some(c), None) if c.elapsed() > Duration::from_secs(2) => {
                proxy.restore();
                restored_at = Some(Instant::now());
            }
            (Some(_), Some(r)) if all_ok => {
                recovered_after = Some(r.elapsed());
                break;
            }
            _ => {}
        }
        if cut_at.is_none() && phase_start.elapsed() > Duration::from_secs(10) {
            phase_start = Instant::now();
        }
    }
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    assert!(unavailable > 0, "the outage was seen");
    let recovered = recovered_after.expect("the service recovered");
    assert!(
        recovered < Duration::from_secs(5),
        "recovered in {recovered:?}"
    );
    eprintln!(
        "database outage under load: {ok} ok, {unavailable} answered 503 problem+json with Retry-After, 0 other; recovered {} ms after the database returned",
        recovered.as_millis()
    );
}

/// Constant hand-written SQL is prepared once per connection: the dashboard's
/// aggregate is planned on its first call and reused after (planning it cost
/// five times what running it did), while an ordinary `sql_query` is not kept.
#[actix_web::test]
async fn hand_written_statements_are_prepared_once_per_connection() {
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let db = prm_tests::TestDb::migrated();
    let mut conn = db.conn();
    for i in 0..3_i64 {
        // $1 twice, $2 once: each use is bound in order.
        let n: N = prm_store::prepared!("SELECT $1 + $1 + $2 AS n -- prm-prepared-probe kept")
            .bind(i)
            .bind(10_i64)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(n.n, 2 * i + 10);
        diesel::sql_query("SELECT 2 AS two -- prm-prepared-probe not kept")
            .execute(&mut conn)
            .unwrap();
    }
    let kept = |conn: &mut prm_store::PgConnection| {
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE $1",
        )
        .bind::<diesel::sql_types::Text, _>("%prm-prepared-probe%")
        .get_result::<N>(conn)
        .unwrap()
        .n
    };
    assert_eq!(kept(&mut conn), 1);
    // A placeholder without a value is an error, not a statement sent as is.
    assert!(
        prm_store::prepared!("SELECT $2 AS n")
            .bind(1_i64)
            .get_result::<N>(&mut conn)
            .is_err()
    );
}

/// An app with `connections` pooled connections, `readers` of them for
/// reads, a 300 ms queue timeout, and a channel manager's opportunity.
async fn small_pool(connections: u32, readers: usize) -> (TestApp, TestUser, String) {
    let app = TestApp::spawn_with(|c| {
        c.pool.max_size = connections;
        c.db_readers = readers;
        c.pool.checkout_timeout = Duration::from_millis(300);
    })
    .await;
    let vendor = app.vendor_id().await;
    let cm = app.user(&vendor, "channel_manager").await;
    let customer = app.customer(&vendor, "Queue Ltd").await;
    let id = app
        .post(
            "/api/v1/opportunities",
            &cm.token,
            &serde_json::json!({"topic": "Queued", "customer_id": customer}),
        )
        .await
        .expect(201)
        .id();
    (app, cm, id)
}

/// A transaction on a connection of its own that takes the lock `sql`
/// takes and keeps it until `release`.
fn hold(app: &TestApp, sql: &str) -> diesel::PgConnection {
    let mut conn = app.db.conn();
    conn.batch_execute(&format!("BEGIN; {sql};")).unwrap();
    conn
}

fn release(mut conn: diesel::PgConnection) {
    conn.batch_execute("COMMIT").unwrap();
}

/// Requests wait for a database connection in a first-come, first-served
/// queue; one that waits longer than the checkout timeout gets the same 503
/// as when the pool cannot connect, and the queue moves on afterwards.
#[actix_web::test]
async fn requests_queue_for_the_database_and_time_out_with_503() {
    let (app, cm, id) = small_pool(1, 1).await;
    // A PATCH waits on this row lock while holding the only connection.
    let lock = hold(
        &app,
        &format!("SELECT 1 FROM opportunities WHERE id = '{id}' FOR UPDATE"),
    );
    let path = format!("/api/v1/opportunities/{id}");
    let body = serde_json::json!({"topic": "Done"});
    let held = app.patch(&path, &cm.token, &body);
    let queued = async {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let res = app.get("/api/v1/me", &cm.token).await;
        let waited = started.elapsed();
        release(lock);
        (res, waited)
    };
    let (held, (queued, waited)) = futures_util::future::join(held, queued).await;
    held.expect(200);
    queued.expect_problem(503, "service_unavailable");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "waited {waited:?} in the queue"
    );
    app.get("/api/v1/me", &cm.token).await.expect(200);
}

#[actix_web::test]
async fn reads_queue_for_their_share_of_the_pool_and_leave_the_rest_to_writes() {
    let (app, cm, id) = small_pool(2, 1).await;
    // This GET holds the only read permit (and one connection) while it
    // waits for the table lock.
    let lock = hold(&app, "LOCK TABLE opportunities IN ACCESS EXCLUSIVE MODE");
    let path = format!("/api/v1/opportunities/{id}");
    let held = app.get(&path, &cm.token);
    let others = async {
        actix_web::rt::time::sleep(Duration::from_millis(150)).await;
        // A write takes the connection reads may not: it does not wait.
        let started = Instant::now();
        let write = app
            .post(
                "/api/v1/customers",
                &app.admin(),
                &serde_json::json!({"name": "Writer GmbH", "country": "DE", "org_id": cm.org_id}),
            )
            .await;
        let write_took = started.elapsed();
        // A second read waits for the read permit, then gives up.
        let started = Instant::now();
        let read = app.get("/api/v1/me", &cm.token).await;
        let read_waited = started.elapsed();
        release(lock);
        (write, write_took, read, read_waited)
    };
    let (held, (write, write_took, read, read_waited)) =
        futures_util::future::join(held, others).await;
    held.expect(200);
    write.expect(201);
    assert!(
        write_took < Duration::from_millis(250),
        "the write waited {write_took:?}"
    );
    read.expect_problem(503, "service_unavailable");
    assert!(
        read_waited >= Duration::from_millis(250) && read_waited < Duration::from_secs(3),
        "the read waited {read_waited:?}"
    );
    app.get("/api/v1/me", &cm.token).await.expect(200);
}
