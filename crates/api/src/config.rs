//! Configuration from environment variables, each with a local default,
//! validated once at start with a message naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use prm_store::PoolSettings;

/// The clearly-labelled local demo secret used when no way of verifying
/// tokens is configured (`PRM_JWT_SECRET`, `PRM_JWT_PUBLIC_KEY_FILE`,
/// `PRM_JWT_JWKS_URL`, `PRM_JWT_JWKS_FILE`). Never for production.
pub const DEMO_JWT_SECRET: &str = "prm-local-demo-secret-do-not-use-in-production";

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/prm";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How tokens are verified.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Hs256 { secret: Vec<u8>, is_demo: bool },
    /// RS256 with a PEM public key.
    Rs256 { public_key_pem: Vec<u8> },
    /// The signing keys an identity provider publishes as a JWKS, selected
    /// by each token's `kid` (see `jwks`).
    Jwks(JwksSettings),
}

/// Where the key set comes from and how often it is fetched again.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub source: JwksSource,
    /// Time between two periodic fetches (`PRM_JWT_JWKS_REFRESH_MS`).
    pub refresh: Duration,
    /// Least time between two fetches caused by tokens with an unknown
    /// `kid` (`PRM_JWT_JWKS_MIN_REFETCH_MS`).
    pub min_refetch: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `https://`, or `http://` to a loopback host only.
    Url(String),
    /// A file holding the JWKS document, read like the URL.
    File(std::path::PathBuf),
}

impl JwksSource {
    /// The variable that configured it, for messages.
    pub fn var(&self) -> &'static str {
        match self {
            JwksSource::Url(_) => "PRM_JWT_JWKS_URL",
            JwksSource::File(_) => "PRM_JWT_JWKS_FILE",
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::Url(url) => f.write_str(url),
            JwksSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::fmt::Debug for JwtKey {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Hs256 { is_demo, .. } => write!(f, "Hs256 {{ demo: {is_demo} }}"),
            JwtKey::Rs256 { .. } => write!(f, "Rs256"),
            JwtKey::Jwks(settings) => write!(f, "Jwks {{ {} }}", settings.source),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub jwt: JwtConfig,
    pub bootstrap_admin_subject: Option<String>,
    pub vendor_name: String,
    pub pool: PoolSettings,
    /// How many reads (`GET`, `HEAD`) may hold a connection at once; the
    /// rest of the pool stays open to writes (`queue::DbQueue` caps it at the
    /// pool).
    pub db_readers: usize,
    /// HTTP event loops (actix workers).
    pub workers: usize,
    /// Run the deadline and delivery worker inside `serve`.
    pub run_worker: bool,
    /// Time between worker ticks.
    pub worker_interval: Duration,
    pub webhooks: crate::webhook_send::WebhookSettings,
    /// Browser origins allowed by CORS (`PRM_CORS_ALLOWED_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// Seconds between `/readyz` turning 503 and the listener closing.
    pub shutdown_grace: Duration,
    /// How long a resolved subject → user is reused (0 disables).
    pub auth_cache_ttl: Duration,
    /// Span export over OTLP/HTTP, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub otlp: Option<crate::otlp::OtlpSettings>,
}

/// A bad configuration value: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests need not touch the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());

        let database_url = var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(err(
                "DATABASE_URL",
                "must be a postgres:// URL such as postgres://postgres@127.0.0.1:5432/prm",
            ));
        }

        let listen_raw = var("PRM_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_raw.parse().map_err(|_| {
            err(
                "PRM_LISTEN",
                format!("`{listen_raw}` is not an address such as 127.0.0.1:8080"),
            )
        })?;

        let key = jwt_key(&var)?;

        let pool_size = parse_num(&var, "PRM_DB_POOL_SIZE", default_pool_size(), 1, 200)?;
        let readers = parse_num(&var, "PRM_DB_READERS", default_readers(), 1, 200)?;
        let checkout_ms = parse_num(&var, "PRM_DB_CHECKOUT_TIMEOUT_MS", 5_000, 100, 5_000)?;
        let statement_ms = parse_num(&var, "PRM_DB_STATEMENT_TIMEOUT_MS", 10_000, 100, 600_000)?;
        // 0, like unset, means the default.
        let workers = match parse_num(&var, "PRM_WORKERS", 0, 0, 64)? {
            0 => default_workers(),
            n => n,
        };
        let run_worker = parse_bool(&var, "PRM_WORKER", true)?;
        let worker_ms = parse_num(&var, "PRM_WORKER_INTERVAL_MS", 1_000, 10, 60_000)?;
        let allow_private = parse_bool(&var, "PRM_WEBHOOK_ALLOW_PRIVATE", false)?;
        let hook_timeout_ms = parse_num(&var, "PRM_WEBHOOK_TIMEOUT_MS", 5_000, 100, 30_000)?;
        let max_attempts = parse_num(&var, "PRM_WEBHOOK_MAX_ATTEMPTS", 8, 1, 20)?;
        let retry_base_ms = parse_num(&var, "PRM_WEBHOOK_RETRY_BASE_MS", 2_000, 10, 600_000)?;
        let grace_ms = parse_num(&var, "PRM_SHUTDOWN_GRACE_MS", 5_000, 0, 60_000)?;
        let auth_cache_ms = parse_num(&var, "PRM_AUTH_CACHE_MS", 5_000, 0, 60_000)?;
        let cors_origins = match var("PRM_CORS_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    let ok = (o.starts_with("https://") || o.starts_with("http://"))
                        && !o
                            .trim_start_matches("https://")
                            .trim_start_matches("http://")
                            .contains('/');
                    if ok {
                        Ok(o.to_owned())
                    } else {
                        Err(err(
                            "PRM_CORS_ALLOWED_ORIGINS",
                            format!("`{o}` is not an origin such as https://portal.example.com"),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
        };

        let otlp = match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            None => None,
            Some(endpoint) => Some(crate::otlp::OtlpSettings {
                traces_url: otlp_traces_url(&endpoint)?,
                service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "prm".to_owned()),
                schedule_delay: Duration::from_millis(parse_num(
                    &var,
                    "OTEL_BSP_SCHEDULE_DELAY",
                    5_000,
                    1,
                    60_000,
                )?),
            }),
        };

        Ok(Config {
            database_url,
            listen,
            jwt: JwtConfig {
                key,
                issuer: var("PRM_JWT_ISSUER"),
                audience: var("PRM_JWT_AUDIENCE"),
            },
            bootstrap_admin_subject: var("PRM_BOOTSTRAP_ADMIN_SUBJECT"),
            vendor_name: var("PRM_VENDOR_NAME").unwrap_or_else(|| "Vendor".to_owned()),
            pool: PoolSettings {
                max_size: pool_size as u32,
                checkout_timeout: Duration::from_millis(checkout_ms),
                statement_timeout: Duration::from_millis(statement_ms),
            },
            db_readers: readers as usize,
            workers: workers as usize,
            run_worker,
            worker_interval: Duration::from_millis(worker_ms),
            webhooks: crate::webhook_send::WebhookSettings {
                allow_private,
                timeout: Duration::from_millis(hook_timeout_ms),
                max_attempts: max_attempts as u32,
                retry_base: Duration::from_millis(retry_base_ms),
            },
            cors_origins,
            shutdown_grace: Duration::from_millis(grace_ms),
            auth_cache_ttl: Duration::from_millis(auth_cache_ms),
            otlp,
        })
    }
}

/// The one way of verifying tokens that is configured: two set at once is
/// an error naming both, none is the labelled demo secret.
fn jwt_key(var: &impl Fn(&str) -> Option<String>) -> Result<JwtKey, ConfigError> {
    const WAYS: [&str; 4] = [
        "PRM_JWT_SECRET",
        "PRM_JWT_PUBLIC_KEY_FILE",
        "PRM_JWT_JWKS_URL",
        "PRM_JWT_JWKS_FILE",
    ];
    let set: Vec<&'static str> = WAYS.into_iter().filter(|w| var(w).is_some()).collect();
    if let [first, second, ..] = set[..] {
        return Err(err(
            first,
            format!(
                "{first} and {second} are both set; set one of PRM_JWT_SECRET (HS256), \
                 PRM_JWT_PUBLIC_KEY_FILE (RS256), PRM_JWT_JWKS_URL or PRM_JWT_JWKS_FILE"
            ),
        ));
    }
    // Read whether or not a JWKS is configured, so a bad value is never
    // silently ignored.
    let refresh_ms = parse_num(var, "PRM_JWT_JWKS_REFRESH_MS", 300_000, 1_000, 86_400_000)?;
    let min_refetch_ms = parse_num(var, "PRM_JWT_JWKS_MIN_REFETCH_MS", 5_000, 500, 600_000)?;
    let jwks = |source: JwksSource| {
        JwtKey::Jwks(JwksSettings {
            source,
            refresh: Duration::from_millis(refresh_ms),
            min_refetch: Duration::from_millis(min_refetch_ms),
        })
    };
    if let Some(secret) = var("PRM_JWT_SECRET") {
        if secret.len() < 32 {
            return Err(err("PRM_JWT_SECRET", "must be at least 32 bytes for HS256"));
        }
        return Ok(JwtKey::Hs256 {
            secret: secret.into_bytes(),
            is_demo: false,
        });
    }
    if let Some(path) = var("PRM_JWT_PUBLIC_KEY_FILE") {
        let pem = std::fs::read(&path).map_err(|e| {
            err(
                "PRM_JWT_PUBLIC_KEY_FILE",
                format!("cannot read {path}: {e}"),
            )
        })?;
        jsonwebtoken::DecodingKey::from_rsa_pem(&pem).map_err(|e| {
            err(
                "PRM_JWT_PUBLIC_KEY_FILE",
                format!("{path} is not an RSA public key in PEM: {e}"),
            )
        })?;
        return Ok(JwtKey::Rs256 {
            public_key_pem: pem,
        });
    }
    if let Some(url) = var("PRM_JWT_JWKS_URL") {
        let url = jwks_url(url.trim()).map_err(|m| err("PRM_JWT_JWKS_URL", m))?;
        return Ok(jwks(JwksSource::Url(url)));
    }
    if let Some(path) = var("PRM_JWT_JWKS_FILE") {
        // Read and parsed now, so a wrong path or document stops start-up
        // with this variable's name; the server reads it again (`jwks`).
        let body = std::fs::read(&path)
            .map_err(|e| err("PRM_JWT_JWKS_FILE", format!("cannot read {path}: {e}")))?;
        crate::jwks::KeySet::parse(&body)
            .map_err(|e| err("PRM_JWT_JWKS_FILE", format!("{path}: {e}")))?;
        return Ok(jwks(JwksSource::File(path.into())));
    }
    Ok(JwtKey::Hs256 {
        secret: DEMO_JWT_SECRET.as_bytes().to_vec(),
        is_demo: true,
    })
}

/// A JWKS URL: `https://`, or `http://` to a loopback host (a local test
/// provider). Keys fetched in clear over a network could be replaced by
/// anyone on the path, who could then sign tokens for any subject.
fn jwks_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("`{raw}` is not a URL such as https://idp.example/certs ({e})"))?;
    let host = url.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => Ok(url.into()),
        "http" if loopback => Ok(url.into()),
        "http" => Err(format!(
            "`{raw}` is plain HTTP to a host that is not loopback; use https://"
        )),
        _ => Err(format!(
            "`{raw}` must be an https:// URL such as https://idp.example/certs"
        )),
    }
}

/// The traces URL of an OTLP/HTTP endpoint: an `http(s)://` base URL with
/// `/v1/traces` appended to its path, as the OpenTelemetry specification
/// says of `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn otlp_traces_url(endpoint: &str) -> Result<String, ConfigError> {
    let invalid = || {
        err(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!(
                "`{endpoint}` is not an http:// or https:// URL of a collector such as http://127.0.0.1:4318"
            ),
        )
    };
    let url = reqwest::Url::parse(endpoint.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid());
    }
    let mut traces = url;
    let path = format!("{}/v1/traces", traces.path().trim_end_matches('/'));
    traces.set_path(&path);
    Ok(traces.into())
}

fn parse_bool(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
        Some(v) => Err(err(name, format!("`{v}` must be true or false"))),
    }
}

fn cores() -> u64 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u64)
}

/// Four connections per core, at least four. Writes mostly wait for their
/// commit to reach the disk, and more of them at once share each flush; on
/// two cores create went from 1,244 to 1,377 and 1,420 requests/s with 4, 6
/// and 8 connections (interleaved rounds; docs/performance.md).
fn default_pool_size() -> u64 {
    (4 * cores()).clamp(4, 32)
}

/// One read per core at once, and one more to overlap their waits on the
/// database. More only share the cores between more Postgres backends, and
/// the scheduler then lets single queries wait tens of milliseconds: on two
/// cores, with the database queue, the dashboard's p99 at 16 connections was
/// 11.2, 14.6 and 58.1 ms with 2, 3 and 4 reads at once, and the list did
/// 2,999, 3,525 and 3,256 requests/s (medians of interleaved rounds;
/// docs/performance.md).
fn default_readers() -> u64 {
    cores() + 1
}

/// One HTTP event loop per two cores, at least one. Every request's
/// database work and large serialization run on the queue's threads, so the
/// event loops only parse, authenticate and write; on two cores a second
/// loop cost the list about 12 % more CPU per request in thread hand-offs.
fn default_workers() -> u64 {
    (cores() / 2).max(1)
}

fn parse_num(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(err(
                name,
                format!("`{raw}` must be a whole number from {min} to {max}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_local_and_use_the_labelled_demo_secret() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(matches!(c.jwt.key, JwtKey::Hs256 { is_demo: true, .. }));
    }

    #[test]
    fn otlp_export_is_off_unless_its_endpoint_is_set() {
        assert_eq!(
            cfg(&[("OTEL_SERVICE_NAME", "crm-sync")]).unwrap().otlp,
            None
        );
        let on = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")])
            .unwrap()
            .otlp
            .unwrap();
        assert_eq!(on.traces_url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(on.service_name, "prm");
        assert_eq!(on.schedule_delay, Duration::from_secs(5));
        let named = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example/base/"),
            ("OTEL_SERVICE_NAME", "prm-eu"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .unwrap()
        .otlp
        .unwrap();
        assert_eq!(named.traces_url, "https://otel.example/base/v1/traces");
        assert_eq!(named.service_name, "prm-eu");
        assert_eq!(named.schedule_delay, Duration::from_millis(200));
    }

    #[test]
    fn an_otlp_endpoint_that_is_no_http_url_names_its_variable() {
        for bad in [
            "127.0.0.1:4318",
            "grpc://collector:4317",
            "http://",
            "http://collector:4318/?x=1",
            "not a url",
        ] {
            let e = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", bad)]).unwrap_err();
            assert_eq!(e.var, "OTEL_EXPORTER_OTLP_ENDPOINT", "{bad}");
            assert!(!e.to_string().contains('\n'));
        }
        assert_eq!(
            cfg(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ])
            .unwrap_err()
            .var,
            "OTEL_BSP_SCHEDULE_DELAY"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            cfg(&[("PRM_LISTEN", "nope")]).unwrap_err().var,
            "PRM_LISTEN"
        );
        assert_eq!(
            cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert_eq!(
            cfg(&[("PRM_JWT_SECRET", "short")]).unwrap_err().var,
            "PRM_JWT_SECRET"
        );
        assert_eq!(
            cfg(&[("PRM_DB_POOL_SIZE", "0")]).unwrap_err().var,
            "PRM_DB_POOL_SIZE"
        );
        assert_eq!(
            cfg(&[("PRM_WEBHOOK_ALLOW_PRIVATE", "maybe")])
                .unwrap_err()
                .var,
            "PRM_WEBHOOK_ALLOW_PRIVATE"
        );
        assert_eq!(
            cfg(&[("PRM_WORKER_INTERVAL_MS", "0")]).unwrap_err().var,
            "PRM_WORKER_INTERVAL_MS"
        );
        assert_eq!(
            cfg(&[(
                "PRM_CORS_ALLOWED_ORIGINS",
                "https://ok.example, portal.example/x"
            )])
            .unwrap_err()
            .var,
            "PRM_CORS_ALLOWED_ORIGINS"
        );
        let c = cfg(&[(
            "PRM_CORS_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            vec!["https://a.example", "http://localhost:3000"]
        );
        assert_eq!(
            cfg(&[("PRM_JWT_PUBLIC_KEY_FILE", "/nonexistent.pem")])
                .unwrap_err()
                .var,
            "PRM_JWT_PUBLIC_KEY_FILE"
        );
    }

    #[test]
    fn two_ways_of_verifying_tokens_name_both_variables() {
        let pairs = [
            ("PRM_JWT_SECRET", "PRM_JWT_JWKS_URL"),
            ("PRM_JWT_PUBLIC_KEY_FILE", "PRM_JWT_JWKS_FILE"),
            ("PRM_JWT_JWKS_URL", "PRM_JWT_JWKS_FILE"),
            ("PRM_JWT_SECRET", "PRM_JWT_PUBLIC_KEY_FILE"),
        ];
        for (a, b) in pairs {
            let e = cfg(&[
                (a, "https://idp.example/certs"),
                (b, "https://idp.example/certs"),
            ])
            .unwrap_err();
            assert_eq!(e.var, a);
            let line = e.to_string();
            assert!(line.contains(b) && !line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn a_jwks_url_is_https_or_plain_http_to_loopback_only() {
        let jwks = |url: &str| cfg(&[("PRM_JWT_JWKS_URL", url)]);
        for ok in [
            "https://login.microsoftonline.com/tenant/discovery/v2.0/keys",
            "https://kc.example/realms/prm/protocol/openid-connect/certs",
            "http://127.0.0.1:8081/certs",
            "http://localhost/certs",
            "http://[::1]:9000/jwks.json",
        ] {
            let c = jwks(ok).unwrap();
            let JwtKey::Jwks(settings) = c.jwt.key else {
                panic!("{ok} configures a JWKS");
            };
            assert_eq!(settings.source, JwksSource::Url(ok.to_owned()));
            assert_eq!(settings.refresh, Duration::from_secs(300));
            assert_eq!(settings.min_refetch, Duration::from_secs(5));
        }
        for bad in [
            "http://idp.example/certs",
            "http://10.0.0.5/certs",
            "ftp://idp.example/certs",
            "idp.example/certs",
            "file:///etc/jwks.json",
        ] {
            let e = jwks(bad).unwrap_err();
            assert_eq!(e.var, "PRM_JWT_JWKS_URL", "{bad}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn jwks_intervals_are_validated_and_apply() {
        let c = cfg(&[
            ("PRM_JWT_JWKS_URL", "https://idp.example/certs"),
            ("PRM_JWT_JWKS_REFRESH_MS", "60000"),
            ("PRM_JWT_JWKS_MIN_REFETCH_MS", "1000"),
        ])
        .unwrap();
        let JwtKey::Jwks(settings) = c.jwt.key else {
            panic!("a JWKS is configured");
        };
        assert_eq!(settings.refresh, Duration::from_secs(60));
        assert_eq!(settings.min_refetch, Duration::from_secs(1));
        for (var, value) in [
            ("PRM_JWT_JWKS_REFRESH_MS", "10"),
            ("PRM_JWT_JWKS_REFRESH_MS", "soon"),
            ("PRM_JWT_JWKS_MIN_REFETCH_MS", "0"),
        ] {
            assert_eq!(cfg(&[(var, value)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn a_jwks_file_is_read_and_checked_at_start() {
        assert_eq!(
            cfg(&[("PRM_JWT_JWKS_FILE", "/nonexistent/jwks.json")])
                .unwrap_err()
                .var,
            "PRM_JWT_JWKS_FILE"
        );
        let dir = std::env::temp_dir().join(format!("prm-jwks-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.json");
        std::fs::write(&empty, r#"{"keys": []}"#).unwrap();
        let e = cfg(&[("PRM_JWT_JWKS_FILE", empty.to_str().unwrap())]).unwrap_err();
        assert_eq!(e.var, "PRM_JWT_JWKS_FILE");
        assert!(e.to_string().contains("no usable signing key"), "{e}");
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
                "x": "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY"}]}"#,
        )
        .unwrap();
        let c = cfg(&[("PRM_JWT_JWKS_FILE", good.to_str().unwrap())]).unwrap();
        assert!(
            matches!(&c.jwt.key, JwtKey::Jwks(s) if s.source == JwksSource::File(good.clone()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
