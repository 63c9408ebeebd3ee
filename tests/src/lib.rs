//! Test harness: a migrated template database cloned per test, the app
//! started on port 0 against the clone, and small HTTP helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use prm_api::config::{Config, JwtConfig, JwtKey};
use prm_api::startup::{Application, prepare_database};
use prm_store::PoolSettings;
use serde_json::{Value, json};
use uuid::Uuid;

/// HS256 secret of every test app (32+ bytes, test-only).
pub const TEST_SECRET: &str = "prm-test-secret-0123456789abcdef0123456789";
/// Subject of the vendor admin that start-up bootstraps in every test app.
pub const ADMIN: &str = "test-vendor-admin";

/// The Postgres server tests use, without a database name.
pub fn server_url() -> String {
    std::env::var("PRM_TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The address of database `name` on the tests' server, without TLS.
///
/// TLS to a local server tests nothing of ours, and libpq's OpenSSL
/// registers an exit handler that frees its state while other threads of
/// the test process (the apps of finished tests, winding down) may still
/// use it or free their own: `search::` run 37 times aborted once in that
/// handler with a double free, and once with a segmentation fault, after
/// every test had passed. Without TLS, libpq never starts OpenSSL.
pub fn database_url(name: &str) -> String {
    format!("{}/{name}?sslmode=disable", server_url())
}

fn admin_conn() -> PgConnection {
    PgConnection::establish(&database_url("postgres"))
        .expect("tests need Postgres on 127.0.0.1:5432 (set PRM_TEST_DATABASE_SERVER)")
}

#[derive(QueryableByName)]
struct Datname {
    #[diesel(sql_type = Text)]
    datname: String,
}

fn databases_like(conn: &mut PgConnection, pattern: &str) -> Vec<String> {
    diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind::<Text, _>(pattern)
        .load::<Datname>(conn)
        .unwrap()
        .into_iter()
        .map(|d| d.datname)
        .collect()
}

/// A name that changes whenever any migration file changes.
fn template_name() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut h = DefaultHasher::new();
    for f in files {
        f.strip_prefix(&dir).unwrap().hash(&mut h);
        std::fs::read(&f).unwrap().hash(&mut h);
    }
    format!("prm_tpl_{:016x}", h.finish())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Builds the migrated template once per test run, across processes.
fn ensure_template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = template_name();
        let mut admin = admin_conn();
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(0x7072_6d2d_7465_7374_i64)
            .execute(&mut admin)
            .unwrap();
        if databases_like(&mut admin, &name).is_empty() {
            // Build under another name and rename, so a crash never leaves a
            // half-migrated template behind under the real name.
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .unwrap();
            {
                let mut c = PgConnection::establish(&database_url(&building)).unwrap();
                prm_store::migrate::run_migrations(&mut c).unwrap();
            }
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .unwrap();
            // Templates of other migration sets stay: another checkout may be
            // testing with one right now. `make clean-test-dbs` drops them.
        }
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(0x7072_6d2d_7465_7374_i64)
            .execute(&mut admin)
            .unwrap();
        name
    })
}

/// A database of one test's own, dropped when the test ends.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh clone of the migrated template.
    pub fn migrated() -> Self {
        let template = ensure_template();
        let name = format!("prm_test_{}", Uuid::new_v4().simple());
        let mut admin = admin_conn();
        let mut attempt = 0;
        loop {
            match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")) {
                Ok(()) => break,
                Err(e) if attempt < 50 && e.to_string().contains("being accessed") => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot clone the template: {e}"),
            }
        }
        Self::named(name)
    }

    /// A fresh database with no tables at all.
    pub fn empty() -> Self {
        let name = format!("prm_test_{}", Uuid::new_v4().simple());
        admin_conn()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Self::named(name)
    }

    /// A name for a database that does not exist yet (dropped if created).
    pub fn absent() -> Self {
        Self::named(format!("prm_test_{}", Uuid::new_v4().simple()))
    }

    fn named(name: String) -> Self {
        let url = database_url(&name);
        Self { name, url }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap()
    }

    /// `SELECT count(*) AS n …` (or any one `n` bigint) against this database.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<N>(&mut self.conn())
            .unwrap()
            .n
    }

    pub fn exists(&self) -> bool {
        !databases_like(&mut admin_conn(), &self.name).is_empty()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = admin_conn().batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// The configuration every test app starts from.
pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        jwt: JwtConfig {
            key: JwtKey::Hs256 {
                secret: TEST_SECRET.as_bytes().to_vec(),
                is_demo: false,
            },
            issuer: None,
            audience: None,
        },
        bootstrap_admin_subject: Some(ADMIN.to_owned()),
        vendor_name: "Test Vendor".to_owned(),
        pool: PoolSettings {
            max_size: 4,
            ..PoolSettings::default()
        },
        db_readers: 4,
        workers: 1,
        run_worker: false,
        worker_interval: std::time::Duration::from_millis(50),
        webhooks: prm_api::webhook_send::WebhookSettings {
            allow_private: true,
            timeout: std::time::Duration::from_secs(2),
            max_attempts: 4,
            retry_base: std::time::Duration::from_millis(200),
        },
        cors_origins: vec!["https://portal.example".to_owned()],
        shutdown_grace: std::time::Duration::from_millis(300),
        auth_cache_ttl: std::time::Duration::from_secs(5),
        otlp: None,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["code"], code, "{}", self.text);
        assert_eq!(self.body["status"], status);
        self
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("response has an id")
            .to_owned()
    }

    /// Field names listed in a 422.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A user created for a test, with a token for it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub subject: String,
    pub org_id: String,
    pub token: String,
}

/// The app running on port 0 against its own database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    handle: actix_web::dev::ServerHandle,
    // Dropped last: the database goes after the server stopped.
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app after `adjust` has changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestDb::migrated(), adjust).await
    }

    /// Starts the app on a given database.
    pub async fn spawn_on(db: TestDb, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&db.url);
        adjust(&mut config);
        let pool = prepare_database(&config).expect("test database prepares");
        let app = Application::build(&config, pool).expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            config,
            handle,
            db,
        }
    }

    pub fn token(&self, subject: &str) -> String {
        prm_api::auth::mint_token(&self.config.jwt, subject, chrono::Duration::hours(1)).unwrap()
    }

    pub fn admin(&self) -> String {
        self.token(ADMIN)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("request is sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn patch_if_match(&self, path: &str, token: &str, etag: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .header("If-Match", etag)
                .json(body),
        )
        .await
    }

    /// `POST /api/v1/opportunities/{id}/{action}` with an optional body.
    pub async fn act(&self, id: &str, action: &str, token: &str, body: Option<Value>) -> Resp {
        self.act_if_match(id, action, token, None, body).await
    }

    /// The same, with an `If-Match` header.
    pub async fn act_if_match(
        &self,
        id: &str,
        action: &str,
        token: &str,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/opportunities/{id}/{action}")))
            .bearer_auth(token);
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// Creates a partner org as the vendor admin.
    pub async fn org(&self, name: &str, kind: &str, parent: Option<&str>) -> String {
        self.post(
            "/api/v1/orgs",
            &self.admin(),
            &json!({"name": name, "kind": kind, "parent_id": parent,
                    "profile": {"countries": ["DE"], "product_lines": ["cloud"]}}),
        )
        .await
        .expect(201)
        .id()
    }

    /// Creates a user with `role` in `org` (vendor admin acting) and a token.
    pub async fn user(&self, org_id: &str, role: &str) -> TestUser {
        let subject = format!("{role}-{}", Uuid::new_v4().simple());
        let res = self
            .post(
                "/api/v1/users",
                &self.admin(),
                &json!({"subject": subject, "org_id": org_id, "role": role,
                        "name": format!("Test {role}"), "email": format!("{subject}@test.example")}),
            )
            .await
            .expect(201);
        TestUser {
            id: res.id(),
            token: self.token(&subject),
            subject,
            org_id: org_id.to_owned(),
        }
    }

    /// The vendor org's id.
    pub async fn vendor_id(&self) -> String {
        let me = self.get("/api/v1/me", &self.admin()).await.expect(200);
        me.body["org"]["id"].as_str().unwrap().to_owned()
    }

    /// Deactivates a user (vendor admin acting).
    pub async fn deactivate(&self, user: &TestUser) {
        self.patch(
            &format!("/api/v1/users/{}", user.id),
            &self.admin(),
            &json!({"active": false}),
        )
        .await
        .expect(200);
    }

    /// Creates a customer held by `org_id` (vendor admin acting).
    pub async fn customer(&self, org_id: &str, name: &str) -> String {
        self.post(
            "/api/v1/customers",
            &self.admin(),
            &json!({"name": name, "country": "DE", "org_id": org_id}),
        )
        .await
        .expect(201)
        .id()
    }

    /// `SELECT count(*) AS n …` against the test database.
    pub fn count(&self, sql: &str) -> i64 {
        self.db.count(sql)
    }

    /// Changes the vendor's policy as the vendor admin.
    pub async fn set_policy(&self, change: impl FnOnce(&mut Value)) {
        let mut p = self
            .get("/api/v1/policies", &self.admin())
            .await
            .expect(200)
            .body;
        let fields = p.as_object_mut().unwrap();
        fields.remove("version");
        fields.remove("updated_at");
        change(&mut p);
        self.send(
            self.client
                .put(format!("{}/api/v1/policies", self.base))
                .bearer_auth(self.admin())
                .json(&p),
        )
        .await
        .expect(200);
    }

    /// Runs SQL directly against the test database (fixtures only).
    pub fn sql(&self, sql: &str) {
        self.db.conn().batch_execute(sql).unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the database is dropped after.
        drop(self.handle.stop(false));
    }
}

/// A body for a partner-created opportunity with full revenue information.
pub fn partner_opportunity(customer_id: &str) -> Value {
    json!({
        "topic": "Cloud migration",
        "customer_id": customer_id,
        "contact": {"name": "Jo Park", "email": "jo@fabrikam.example", "phone": "+49 30 1234"},
        "estimated_revenue": {"amount": "120000.00", "currency": "EUR"},
        "expected_close_date": "2027-03-31",
        "product_lines": ["cloud"]
    })
}

/// A request the test receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST /hook HTTP/1.1`
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as it came, for binary ones.
    pub raw: Vec<u8>,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP receiver on 127.0.0.1 for webhook tests: answers each request
/// with the next status of `statuses` (the last one repeats) and records it.
/// It stops after `max_requests` or when dropped with its listener thread.
pub struct Receiver {
    pub url: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(statuses: Vec<u16>, max_requests: usize) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = got.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().take(max_requests).enumerate() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let request_line = line.trim_end().to_owned();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                log.lock().unwrap().push(Received {
                    request_line,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    raw: body,
                    at: chrono::Utc::now(),
                });
                let status = statuses.get(i).or(statuses.last()).copied().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, got }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// A tiny identity provider on 127.0.0.1 serving a JWKS document: every
/// request gets the current body (`set` swaps it), or a 503 while `down`.
/// It counts the requests it answered, and stops when dropped.
pub struct JwksServer {
    pub url: String,
    addr: std::net::SocketAddr,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    delay: std::sync::Arc<std::sync::Mutex<Duration>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl JwksServer {
    pub fn start(jwks: &Value) -> Self {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Self {
            url: format!("http://{addr}/realms/prm/protocol/openid-connect/certs"),
            addr,
            body: std::sync::Arc::new(std::sync::Mutex::new(jwks.to_string())),
            down: Default::default(),
            delay: Default::default(),
            hits: Default::default(),
            stop: Default::default(),
        };
        let (body, down, delay, hits, stop) = (
            server.body.clone(),
            server.down.clone(),
            server.delay.clone(),
            server.hits.clone(),
            server.stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                std::thread::sleep(*delay.lock().unwrap());
                hits.fetch_add(1, Ordering::SeqCst);
                let (status, text) = if down.load(Ordering::SeqCst) {
                    ("503 Service Unavailable", String::new())
                } else {
                    ("200 OK", body.lock().unwrap().clone())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        server
    }

    /// Serves another document from now on (a rotation at the provider).
    pub fn set(&self, jwks: &Value) {
        *self.body.lock().unwrap() = jwks.to_string();
    }

    /// Answers 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

impl TestApp {
    /// One worker pass, on a plain thread (the worker's HTTP client blocks).
    pub fn tick(&self) -> prm_api::worker::TickReport {
        let pool = prm_store::pool::build_pool(&self.db.url, &self.config.pool);
        let settings = self.config.webhooks.clone();
        std::thread::spawn(move || {
            prm_api::worker::Worker::new(pool, settings, prm_api::startup::import_rows())
                .unwrap()
                .tick()
                .unwrap()
        })
        .join()
        .unwrap()
    }

    /// Ticks until `done` holds or `limit` passes.
    pub fn tick_until(&self, limit: Duration, done: impl Fn() -> bool) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            self.tick();
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// A TCP proxy on 127.0.0.1 in front of the test Postgres, which a test can
/// cut (closing every connection and refusing new ones) and restore —
/// without touching the Postgres other tests share.
pub struct DbProxy {
    pub port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    /// With [`DbProxy::counting`]: each connection's tally of statements.
    tallies: Option<std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<Tally>>>>>,
}

/// What one client connection sent: statements run (an `Execute` of the
/// extended protocol, or a simple `Query`, so `BEGIN` and `COMMIT` count),
/// statements parsed unnamed, and whether it is a `LISTEN`ing connection (whose keep-alive polls are
/// not a request's work).
#[derive(Debug, Default)]
pub struct Tally {
    statements: std::sync::atomic::AtomicU64,
    /// `Parse` messages of the unnamed statement: SQL that the client will
    /// not run again as prepared, so Postgres parses and plans it on every
    /// call.
    unnamed_parses: std::sync::atomic::AtomicU64,
    listens: std::sync::atomic::AtomicBool,
}

/// Copies a client's bytes to Postgres message by message, counting the
/// statements in `tally`. The first messages carry no type byte (an SSL or
/// GSS encryption request, then the startup message); connect with
/// `sslmode=disable` so the rest stays readable.
fn copy_counting(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    tally: &Tally,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut started = false;
    loop {
        let mut kind = [0u8; 1];
        if started {
            from.read_exact(&mut kind)?;
        }
        let mut len = [0u8; 4];
        from.read_exact(&mut len)?;
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n.saturating_sub(4)];
        from.read_exact(&mut body)?;
        if started {
            to.write_all(&kind)?;
        } else {
            // 80877103 asks for SSL, 80877104 for GSS encryption; anything
            // else is the startup message.
            let code = body
                .get(..4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            started = !(n == 8 && matches!(code, Some(80_877_103 | 80_877_104)));
        }
        to.write_all(&len)?;
        to.write_all(&body)?;
        match kind[0] {
            b'E' | b'Q' => {
                tally.statements.fetch_add(1, Ordering::SeqCst);
            }
            // A Parse's body starts with the statement's name, a C string:
            // empty for the unnamed statement.
            b'P' if body.first() == Some(&0) => {
                tally.unnamed_parses.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        if matches!(kind[0], b'Q' | b'P') && body.windows(7).any(|w| w == b"LISTEN ") {
            tally.listens.store(true, Ordering::SeqCst);
        }
    }
}

impl DbProxy {
    /// A proxy that also counts the statements its clients send (see
    /// [`DbProxy::statements`]); its URL must disable SSL.
    pub fn counting() -> Self {
        Self::open(true)
    }

    /// Statements sent so far through this proxy by every connection but
    /// the `LISTEN`ing ones.
    pub fn statements(&self) -> u64 {
        self.sum(|t| &t.statements)
    }

    /// Statements parsed as the unnamed statement so far (prepared anew on
    /// every call) by every connection but the `LISTEN`ing ones.
    pub fn unnamed_parses(&self) -> u64 {
        self.sum(|t| &t.unnamed_parses)
    }

    fn sum(&self, of: impl Fn(&Tally) -> &std::sync::atomic::AtomicU64) -> u64 {
        use std::sync::atomic::Ordering;
        self.tallies
            .as_ref()
            .expect("a counting proxy")
            .lock()
            .unwrap()
            .iter()
            .filter(|t| !t.listens.load(Ordering::SeqCst))
            .map(|t| of(t).load(Ordering::SeqCst))
            .sum()
    }

    pub fn start() -> Self {
        Self::open(false)
    }

    fn open(counting: bool) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Default::default();
        let tallies: Option<std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<Tally>>>>> =
            counting.then(Default::default);
        let (d, c, t) = (down.clone(), conns.clone(), tallies.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = std::net::TcpStream::connect("127.0.0.1:5432") else {
                    continue;
                };
                let mut list = c.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(upstream.try_clone().unwrap());
                drop(list);
                let tally = t.as_ref().map(|all| {
                    let one = std::sync::Arc::new(Tally::default());
                    all.lock().unwrap().push(one.clone());
                    one
                });
                let (sent, sent_to) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || {
                    let closing = sent_to.try_clone();
                    match tally {
                        Some(tally) => {
                            let _ = copy_counting(sent, sent_to, &tally);
                        }
                        None => {
                            let (mut from, mut to) = (sent, sent_to);
                            let _ = std::io::copy(&mut from, &mut to);
                        }
                    }
                    if let Ok(to) = closing {
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    }
                });
                let (mut from, mut to) = (upstream, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self {
            port,
            down,
            conns,
            tallies,
        }
    }

    /// The test database's URL through the proxy.
    pub fn url(&self, db: &TestDb) -> String {
        // Without TLS, as every test connection ([`database_url`]).
        format!(
            "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
            self.port, db.name
        )
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The real `prm` binary, running and ready.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    pub port: u16,
}

/// The `prm` binary of this build, built first if need be.
pub fn prm_binary() -> std::path::PathBuf {
    // Built here so that `cargo test` alone runs this test too (a no-op
    // after `make test`'s build step).
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "prm-api", "--bin", "prm"])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the prm binary builds");
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("prm");
    assert!(bin.exists(), "{} exists", bin.display());
    bin
}

/// A free port of 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The real `prm` binary, serving `db_url` on a free port of 127.0.0.1.
pub async fn serve_binary(bin: &std::path::Path, db_url: &str) -> Served {
    serve_binary_with(bin, db_url, &[], std::process::Stdio::null()).await
}

/// The same, with more environment variables (or others' values) and its
/// stderr, where it logs, sent to `stderr`.
pub async fn serve_binary_with(
    bin: &std::path::Path,
    db_url: &str,
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> Served {
    serve_binary_on(bin, db_url, free_port(), env, stderr).await
}

/// The real `prm` binary serving `db_url` on `port`, with `env` beside the
/// tests' defaults (the test secret, the bootstrap admin, no worker) and
/// its log on `stderr`, once it is ready.
pub async fn serve_binary_on(
    bin: &std::path::Path,
    db_url: &str,
    port: u16,
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> Served {
    let child = std::process::Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", db_url)
        .env("PRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("PRM_JWT_SECRET", TEST_SECRET)
        .env("PRM_BOOTSTRAP_ADMIN_SUBJECT", ADMIN)
        .env("PRM_WORKER", "false")
        .env("PRM_DB_POOL_SIZE", "8")
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("prm starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let up = client.get(format!("{base}/readyz")).send().await;
        if up.map(|r| r.status().is_success()).unwrap_or(false) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "prm became ready"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Served { child, base, port }
}
