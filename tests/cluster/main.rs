//! Many replicas behind a load balancer answer as one (API.md, "Many
//! replicas"): three real `prm serve` processes, each with its worker, on
//! one Postgres database, behind HAProxy (Debian's package, health-checking
//! `/readyz` with `tools/cluster/haproxy.cfg`), driven through the
//! balancer's address. `make cluster-test` runs these; so does `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prm_tests::{ADMIN, Receiver, Served, TestDb, free_port, prm_binary, serve_binary_on};
use serde_json::{Value, json};

/// What every replica runs with: its worker on and quick, a short grace on
/// shutdown (the balancer's checks take it out within 200 ms), and webhook
/// targets on loopback allowed (the tests' receivers).
const REPLICA_ENV: &[(&str, &str)] = &[
    ("PRM_WORKER", "true"),
    ("PRM_WORKER_INTERVAL_MS", "100"),
    ("PRM_SHUTDOWN_GRACE_MS", "1000"),
    ("PRM_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("PRM_WEBHOOK_RETRY_BASE_MS", "200"),
    ("PRM_DB_POOL_SIZE", "6"),
];

struct Cluster {
    db: TestDb,
    bin: std::path::PathBuf,
    replicas: Vec<Served>,
    balancer: Child,
    base: String,
    client: reqwest::Client,
    jwt: prm_api::config::JwtConfig,
}

impl Cluster {
    async fn start() -> Self {
        let db = TestDb::migrated();
        let bin = prm_binary();
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(
                serve_binary_on(&bin, &db.url, free_port(), REPLICA_ENV, Stdio::null()).await,
            );
        }
        let port = free_port();
        let balancer = balance(port, &replicas.iter().map(|r| r.port).collect::<Vec<_>>());
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        // Up once every replica's first checks have passed.
        let started = Instant::now();
        while client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            != 200
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the balancer came up"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        let jwt = prm_tests::test_config(&db.url).jwt;
        Self {
            db,
            bin,
            replicas,
            balancer,
            base,
            client,
            jwt,
        }
    }

    fn token(&self, subject: &str) -> String {
        prm_api::auth::mint_token(&self.jwt, subject, chrono::Duration::hours(1)).unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A POST through the balancer that must answer `expected`.
    async fn post(&self, path: &str, token: &str, body: &Value, expected: u16) -> Value {
        let (status, body) = self
            .call(reqwest::Method::POST, &self.base, path, token, Some(body))
            .await;
        assert_eq!(status, expected, "POST {path}: {body}");
        body
    }

    async fn org(&self, name: &str) -> String {
        let body = json!({"name": name, "kind": "reseller",
                          "profile": {"countries": ["DE"], "product_lines": ["cloud"]}});
        self.post("/api/v1/orgs", &self.token(ADMIN), &body, 201)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A user of `org` with `role`: its id and token.
    async fn user(&self, org: &str, role: &str) -> (String, String) {
        let subject = format!("{role}-{}", uuid::Uuid::new_v4().simple());
        let body = json!({"subject": subject, "org_id": org, "role": role,
                          "name": "Cluster user", "email": format!("{subject}@test.example")});
        let id = self
            .post("/api/v1/users", &self.token(ADMIN), &body, 201)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, self.token(&subject))
    }

    async fn vendor_customer(&self) -> String {
        let me = self
            .call(
                reqwest::Method::GET,
                &self.base,
                "/api/v1/me",
                &self.token(ADMIN),
                None,
            )
            .await
            .1;
        let vendor = me["org"]["id"].as_str().unwrap().to_owned();
        let body = json!({"name": format!("Cluster Customer {}", uuid::Uuid::new_v4().simple()),
                          "country": "DE", "org_id": vendor});
        self.post("/api/v1/customers", &self.token(ADMIN), &body, 201)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn draft(&self, customer: &str) -> String {
        let body =
            json!({"topic": "Cluster lead", "customer_id": customer, "product_lines": ["cloud"]});
        self.post("/api/v1/opportunities", &self.token(ADMIN), &body, 201)
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn count(&self, sql: &str) -> i64 {
        self.db.count(sql)
    }

    /// Stops replica `i` as an orchestrator would (SIGTERM, then waits for it
    /// to exit) and starts it again on the same port.
    async fn restart(&mut self, i: usize) {
        let port = self.replicas[i].port;
        let pid = self.replicas[i].child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let child = &mut self.replicas[i].child;
        let stopping = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                stopping.elapsed() < Duration::from_secs(40),
                "replica {i} stopped"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        self.replicas[i] =
            serve_binary_on(&self.bin, &self.db.url, port, REPLICA_ENV, Stdio::null()).await;
        // Back in the rotation after two passing checks.
        actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.balancer.kill();
        let _ = self.balancer.wait();
        for r in &mut self.replicas {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// HAProxy on `port` in front of the replicas on `backends`, with the
/// committed configuration.
fn balance(port: u16, backends: &[u16]) -> Child {
    let mut command = Command::new("haproxy");
    command
        .arg("-db")
        .arg("-f")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tools/cluster/haproxy.cfg"
        ))
        .env("PRM_BALANCER_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (i, p) in backends.iter().enumerate() {
        command.env(format!("PRM_REPLICA_{}", i + 1), format!("127.0.0.1:{p}"));
    }
    command
        .spawn()
        .expect("haproxy runs (make deps installs it)")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A user deactivated through one replica is refused by every replica
/// within one second, though all had it cached: Postgres announces the
/// change to every replica (LISTEN/NOTIFY).
#[actix_web::test]
async fn a_user_deactivated_through_one_replica_is_refused_by_every_replica_within_a_second() {
    let c = Cluster::start().await;
    let org = c.org("Cluster Partner").await;
    let mut latencies = Vec::new();
    for n in 0..50 {
        let (id, token) = c.user(&org, "account_manager").await;
        for r in &c.replicas {
            assert_eq!(
                c.call(reqwest::Method::GET, &r.base, "/api/v1/me", &token, None)
                    .await
                    .0,
                200
            );
        }
        let through = &c.replicas[n % 3].base;
        let (status, _) = c
            .call(
                reqwest::Method::PATCH,
                through,
                &format!("/api/v1/users/{id}"),
                &c.token(ADMIN),
                Some(&json!({"active": false})),
            )
            .await;
        assert_eq!(status, 200);
        let changed = Instant::now();
        let mut pending: Vec<&Served> = c.replicas.iter().collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for r in pending {
                match c
                    .call(reqwest::Method::GET, &r.base, "/api/v1/me", &token, None)
                    .await
                    .0
                {
                    403 => {}
                    200 => still.push(r),
                    other => panic!("unexpected {other}"),
                }
            }
            pending = still;
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "a replica still let the user in after 1 s"
            );
            if !pending.is_empty() {
                actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            }
        }
        latencies.push(changed.elapsed());
    }
    let max = latencies.iter().max().copied().unwrap();
    eprintln!(
        "deactivation refused by all 3 replicas: 50 deactivations, median {:?}, max {max:?}",
        median(latencies)
    );
}

/// With the worker on every replica, each overdue offer expires once.
#[actix_web::test]
async fn each_overdue_offer_expires_once_with_a_worker_on_every_replica() {
    let c = Cluster::start().await;
    prm_tests_sql(&c, "UPDATE policies SET auto_reassign = false");
    let partner = c.org("Offer Partner").await;
    let customer = c.vendor_customer().await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        let id = c.draft(&customer).await;
        c.post(
            &format!("/api/v1/opportunities/{id}/distribute"),
            &c.token(ADMIN),
            &json!({"partner_id": partner}),
            200,
        )
        .await;
        ids.push(id);
    }
    prm_tests_sql(
        &c,
        "UPDATE opportunities SET accept_by = now() - interval '1 second' WHERE status = 'delivered'",
    );
    let started = Instant::now();
    while c.count("SELECT count(*) AS n FROM opportunities WHERE status = 'expired'") < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "every offer expired"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // A few more passes of every worker: still once each.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        c.count("SELECT count(*) AS n FROM opportunity_events WHERE action = 'expire'"),
        30
    );
    assert_eq!(
        c.count("SELECT count(*) AS n FROM events WHERE type = 'opportunity.expired'"),
        30
    );
}

fn prm_tests_sql(c: &Cluster, sql: &str) {
    use diesel::connection::SimpleConnection;
    c.db.conn().batch_execute(sql).unwrap();
}

/// With the worker on every replica, each event reaches each subscription
/// once (the receivers answer 200, so there is no retry to repeat one).
#[actix_web::test]
async fn each_webhook_event_is_delivered_once_per_subscription() {
    let c = Cluster::start().await;
    let receivers = [
        Receiver::start(vec![200], 500),
        Receiver::start(vec![200], 500),
    ];
    for rx in &receivers {
        c.post(
            "/api/v1/webhooks",
            &c.token(ADMIN),
            &json!({"url": rx.url, "events": ["opportunity.created"]}),
            201,
        )
        .await;
    }
    let customer = c.vendor_customer().await;
    for _ in 0..40 {
        c.draft(&customer).await;
    }
    let started = Instant::now();
    while receivers.iter().any(|rx| rx.received().len() < 40) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "every delivery arrived"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    for rx in &receivers {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for r in rx.received() {
            *seen
                .entry(r.header("prm-event-id").unwrap().to_owned())
                .or_default() += 1;
        }
        assert_eq!(seen.len(), 40);
        assert!(
            seen.values().all(|n| *n == 1),
            "an event delivered twice: {seen:?}"
        );
    }
}

/// Writers on every replica at once, a reader following the feed through
/// the balancer: every event once, none missed.
#[actix_web::test]
async fn the_feed_has_no_gap_with_writers_on_every_replica() {
    let c = Arc::new(Cluster::start().await);
    let customer = c.vendor_customer().await;
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for i in 0..3 {
        let (c, customer) = (c.clone(), customer.clone());
        writers.push(actix_web::rt::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..20 {
                let body = json!({"topic": "Feed", "customer_id": customer});
                let (status, o) = c
                    .call(
                        reqwest::Method::POST,
                        &c.replicas[i].base,
                        "/api/v1/opportunities",
                        &c.token(ADMIN),
                        Some(&body),
                    )
                    .await;
                assert_eq!(status, 201);
                ids.push(o["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let reader = {
        let (c, done) = (c.clone(), done.clone());
        actix_web::rt::spawn(async move {
            let mut seen: Vec<Value> = Vec::new();
            let mut after: Option<String> = None;
            let mut quiet = 0;
            loop {
                let path = match &after {
                    Some(a) => format!("/api/v1/events?limit=200&after={a}"),
                    None => "/api/v1/events?limit=200".to_owned(),
                };
                let (status, page) = c
                    .call(reqwest::Method::GET, &c.base, &path, &c.token(ADMIN), None)
                    .await;
                assert_eq!(status, 200);
                let items = page["items"].as_array().unwrap().clone();
                if items.is_empty() && done.load(Ordering::SeqCst) {
                    quiet += 1;
                    if quiet > 10 {
                        return seen;
                    }
                }
                seen.extend(items);
                after = page["next_cursor"].as_str().map(str::to_owned).or(after);
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut created = Vec::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "an event seen twice");
    for o in &created {
        let n = seen
            .iter()
            .filter(|e| {
                e["type"] == "opportunity.created" && e["data"]["opportunity_id"] == o.as_str()
            })
            .count();
        assert_eq!(n, 1, "opportunity {o} created once in the feed");
    }
}

/// One `Idempotency-Key` sent to two replicas at once performs once.
#[actix_web::test]
async fn an_idempotency_key_sent_to_two_replicas_performs_once() {
    let c = Arc::new(Cluster::start().await);
    let me = c
        .call(
            reqwest::Method::GET,
            &c.base,
            "/api/v1/me",
            &c.token(ADMIN),
            None,
        )
        .await
        .1;
    let vendor = me["org"]["id"].as_str().unwrap().to_owned();
    for k in 0..10 {
        let body = json!({"name": format!("Keyed {k}"), "country": "DE", "org_id": vendor});
        let mut both = Vec::new();
        for r in 0..2 {
            let (c, body) = (c.clone(), body.clone());
            both.push(actix_web::rt::spawn(async move {
                let res = c
                    .client
                    .post(format!("{}/api/v1/customers", c.replicas[r].base))
                    .bearer_auth(c.token(ADMIN))
                    .header("Idempotency-Key", format!("two-replicas-{k}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            }));
        }
        for b in both {
            let status = b.await.unwrap();
            assert!(status == 201 || status == 409, "{status}");
        }
        // And retried on the third: the first answer, replayed.
        let res = c
            .client
            .post(format!("{}/api/v1/customers", c.replicas[2].base))
            .bearer_auth(c.token(ADMIN))
            .header("Idempotency-Key", format!("two-replicas-{k}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        assert_eq!(
            res.headers()
                .get("idempotency-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(
            c.count(&format!(
                "SELECT count(*) AS n FROM customers WHERE name = 'Keyed {k}'"
            )),
            1
        );
    }
}

/// The three replicas restarted one after the other, under steady load
/// through the balancer: no request fails.
#[actix_web::test]
async fn a_rolling_restart_under_steady_load_fails_no_request() {
    let mut c = Cluster::start().await;
    let customer = c.vendor_customer().await;
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for w in 0..4 {
        let (client, base, token, customer) = (
            c.client.clone(),
            c.base.clone(),
            c.token(ADMIN),
            customer.clone(),
        );
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        load.push(actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let req = match n % 3 {
                    0 => client
                        .post(format!("{base}/api/v1/opportunities"))
                        .json(&json!({"topic": format!("Load {w}-{n}"), "customer_id": customer})),
                    1 => client.get(format!("{base}/api/v1/opportunities?limit=20")),
                    _ => client.get(format!("{base}/api/v1/me")),
                };
                let ok = req
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                sent.fetch_add(1, Ordering::SeqCst);
                if !ok {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    for i in 0..3 {
        c.restart(i).await;
    }
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!(
        "rolling restart of 3 replicas in {:?} under load: {sent} requests, {failed} failed",
        started.elapsed()
    );
    assert!(sent > 100, "{sent} requests");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
}
