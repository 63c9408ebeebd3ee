//! Tokens verified against an identity provider's key set (JWKS), served
//! by a local provider the test controls: RS256, ES256 and EdDSA keys
//! selected by `kid`, rotation without a restart, a flood of unknown `kid`s,
//! the provider down, and every algorithm confusion refused.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prm_api::config::{JwksSettings, JwksSource, JwtKey};
use prm_tests::{ADMIN, JwksServer, TestApp};
use serde_json::{Value, json};

/// A throwaway key pair made with the openssl CLI (no private key lives in
/// the repository), as a JWK and as a signer.
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// The public key in PEM, for the classic confusion (HS256 with the
    /// public key as the secret).
    public_pem: Vec<u8>,
}

fn openssl(args: &[&str], path: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .arg(path)
        .output()
        .expect("openssl is installed (make deps)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl TestKey {
    fn generate(kid: &str, alg: Algorithm) -> Self {
        let dir = std::env::temp_dir().join(format!("prm-jwks-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = dir.join("private.pem");
        let genpkey: &[&str] = match alg {
            Algorithm::RS256 => &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ],
            Algorithm::ES256 => &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ],
            Algorithm::EdDSA => &["genpkey", "-algorithm", "ed25519", "-out"],
            other => panic!("no test keys for {other:?}"),
        };
        openssl(genpkey, &private);
        let pem = std::fs::read(&private).unwrap();
        let public_pem = openssl(&["pkey", "-pubout", "-in"], &private);
        let der = openssl(&["pkey", "-pubout", "-outform", "DER", "-in"], &private);
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (encoding, jwk) = match alg {
            Algorithm::RS256 => {
                let modulus =
                    String::from_utf8(openssl(&["rsa", "-noout", "-modulus", "-in"], &private))
                        .unwrap();
                let hex = modulus.trim().trim_start_matches("Modulus=");
                let n: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (
                    EncodingKey::from_rsa_pem(&pem).unwrap(),
                    // Keycloak's shape: kid, kty, alg, use, n, e.
                    json!({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                           "n": b64(&n), "e": "AQAB"}),
                )
            }
            Algorithm::ES256 => {
                // The SubjectPublicKeyInfo ends with the point 04 || x || y.
                let point = &der[der.len() - 64..];
                (
                    EncodingKey::from_ec_pem(&pem).unwrap(),
                    json!({"kid": kid, "kty": "EC", "crv": "P-256", "use": "sig",
                           "x": b64(&point[..32]), "y": b64(&point[32..])}),
                )
            }
            _ => (
                EncodingKey::from_ed_pem(&pem).unwrap(),
                json!({"kid": kid, "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
                       "x": b64(&der[der.len() - 32..])}),
            ),
        };
        std::fs::remove_dir_all(&dir).unwrap();
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
            public_pem,
        }
    }

    /// A token for `sub` signed by this key, its header naming its `kid`.
    fn token(&self, sub: &str) -> String {
        self.token_with(Some(&self.kid), self.alg, &claims(sub))
    }

    fn token_with(&self, kid: Option<&str>, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// Claims good for ten minutes; a fresh `jti` makes every token's text new,
/// so none is served from the verified-token memory.
fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": Utc::now().timestamp() + 600,
           "jti": uuid::Uuid::new_v4().to_string()})
}

fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

fn settings(source: JwksSource, refresh_ms: u64, min_refetch_ms: u64) -> JwtKey {
    JwtKey::Jwks(JwksSettings {
        source,
        refresh: Duration::from_millis(refresh_ms),
        min_refetch: Duration::from_millis(min_refetch_ms),
    })
}

/// The app verifying against `server`, with the default intervals unless
/// told otherwise.
async fn app_on(server: &JwksServer, refresh_ms: u64, min_refetch_ms: u64) -> TestApp {
    let key = settings(
        JwksSource::Url(server.url.clone()),
        refresh_ms,
        min_refetch_ms,
    );
    TestApp::spawn_with(move |c| c.jwt.key = key).await
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/me", token).await.status
}

async fn expect_refused(app: &TestApp, token: &str, what: &str) {
    let res = app.get("/api/v1/me", token).await;
    assert_eq!(res.status, 401, "{what}: {}", res.text);
    assert_eq!(res.body["code"], "invalid_token", "{what}: {}", res.text);
    assert_eq!(res.content_type(), "application/problem+json", "{what}");
}

async fn readyz(app: &TestApp) -> Value {
    app.send(app.client.get(format!("{}/readyz", app.base)))
        .await
        .expect(200)
        .body
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .send(app.client.get(format!("{}/metrics", app.base)))
        .await
        .expect(200)
        .text;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} in /metrics:\n{text}"))
}

#[actix_web::test]
async fn rs256_es256_and_eddsa_keys_each_verify_by_kid() {
    let rsa1 = TestKey::generate("rsa-1", Algorithm::RS256);
    let rsa2 = TestKey::generate("rsa-2", Algorithm::RS256);
    let ec = TestKey::generate("ec-1", Algorithm::ES256);
    let ed = TestKey::generate("ed-1", Algorithm::EdDSA);
    let server = JwksServer::start(&jwks(&[&rsa1, &rsa2, &ec, &ed]));
    let key = settings(JwksSource::Url(server.url.clone()), 300_000, 5_000);
    // Identity providers send `aud` as an array (Keycloak: the client and
    // "account"); the configured audience must be among it.
    let app = TestApp::spawn_with(move |c| {
        c.jwt.key = key;
        c.jwt.audience = Some("prm-api".to_owned());
    })
    .await;
    let with_aud = |key: &TestKey, aud: Value| {
        let mut c = claims(ADMIN);
        c["aud"] = aud;
        key.token_with(Some(&key.kid), key.alg, &c)
    };
    for key in [&rsa1, &rsa2, &ec, &ed] {
        let me = app
            .get("/api/v1/me", &with_aud(key, json!(["prm-api", "account"])))
            .await
            .expect(200);
        assert_eq!(me.body["user"]["subject"], ADMIN, "{}", key.kid);
        expect_refused(&app, &with_aud(key, json!("account")), "another audience").await;
    }
    assert_eq!(server.hits(), 1, "every key came with the first fetch");
    let ready = readyz(&app).await;
    assert_eq!(ready["jwks"]["state"], "ok", "{ready}");
    assert_eq!(ready["jwks"]["keys"], 4, "{ready}");
}

/// Without a `kid`, a token is taken only when exactly one key of the set
/// verifies its algorithm.
#[actix_web::test]
async fn a_token_without_kid_needs_the_only_key_of_its_algorithm() {
    let rsa1 = TestKey::generate("rsa-1", Algorithm::RS256);
    let rsa2 = TestKey::generate("rsa-2", Algorithm::RS256);
    let ec = TestKey::generate("ec-1", Algorithm::ES256);
    let server = JwksServer::start(&jwks(&[&rsa1, &rsa2, &ec]));
    let app = app_on(&server, 300_000, 5_000).await;
    let aud_less = claims(ADMIN);
    assert_eq!(
        me(&app, &ec.token_with(None, Algorithm::ES256, &aud_less)).await,
        200
    );
    expect_refused(
        &app,
        &rsa1.token_with(None, Algorithm::RS256, &claims(ADMIN)),
        "two RSA keys could have signed it",
    )
    .await;
    assert_eq!(server.hits(), 1, "a missing kid fetches nothing");
}

#[actix_web::test]
async fn keys_rotate_without_a_restart() {
    let k1 = TestKey::generate("k1", Algorithm::RS256);
    let k2 = TestKey::generate("k2", Algorithm::ES256);
    let k3 = TestKey::generate("k3", Algorithm::RS256);
    let server = JwksServer::start(&jwks(&[&k1, &k2]));
    let app = app_on(&server, 300_000, 5_000).await;
    let old_token = k1.token(ADMIN);
    assert_eq!(me(&app, &old_token).await, 200);
    assert_eq!(me(&app, &k2.token(ADMIN)).await, 200);
    assert_eq!(server.hits(), 1);

    // The provider adds k3 and retires k1; the service is not restarted.
    server.set(&jwks(&[&k2, &k3]));
    let started = Instant::now();
    assert_eq!(
        me(&app, &k3.token(ADMIN)).await,
        200,
        "the unknown kid fetched the set again"
    );
    let took = started.elapsed();
    assert_eq!(server.hits(), 2);
    // k1 is gone from the set in use: refused, even the token that was
    // remembered as verified; its unknown kid fetches nothing more so soon.
    expect_refused(&app, &old_token, "a remembered token of a removed key").await;
    expect_refused(&app, &k1.token(ADMIN), "a removed key").await;
    assert_eq!(me(&app, &k2.token(ADMIN)).await, 200);
    assert_eq!(server.hits(), 2);
    assert!(
        took < Duration::from_secs(2),
        "the rotated-in key took {took:?}"
    );
    assert_eq!(readyz(&app).await["jwks"]["keys"], 2);
}

#[actix_web::test]
async fn a_removed_key_is_refused_after_the_periodic_refresh() {
    let k1 = TestKey::generate("k1", Algorithm::EdDSA);
    let k2 = TestKey::generate("k2", Algorithm::EdDSA);
    let server = JwksServer::start(&jwks(&[&k1, &k2]));
    let app = app_on(&server, 300, 5_000).await;
    let token = k1.token(ADMIN);
    assert_eq!(me(&app, &token).await, 200);
    server.set(&jwks(&[&k2]));
    let seen = server.hits();
    let started = Instant::now();
    while server.hits() < seen + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "periodic fetches"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    expect_refused(&app, &token, "a key removed by the provider").await;
    assert_eq!(me(&app, &k2.token(ADMIN)).await, 200);
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_fetches_the_set_at_most_once() {
    let key = TestKey::generate("k1", Algorithm::RS256);
    let server = JwksServer::start(&jwks(&[&key]));
    let app = app_on(&server, 300_000, 5_000).await;
    // A slow provider, so that the misses arrive while the fetch runs.
    server.set_delay(Duration::from_millis(300));
    let before = server.hits();
    let forged: Vec<String> = (0..50)
        .map(|_| {
            let kid = uuid::Uuid::new_v4().to_string();
            key.token_with(Some(&kid), Algorithm::RS256, &claims(ADMIN))
        })
        .collect();
    let started = Instant::now();
    let statuses = join_all(forged.iter().map(|t| me(&app, t))).await;
    let flood = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let fetches = server.hits() - before;
    assert!(fetches <= 1, "{fetches} fetches for 50 unknown kids");
    // More of them, now that the fetch is done: refused at once, no fetch.
    let started = Instant::now();
    for t in &forged[..10] {
        expect_refused(&app, t, "an unknown kid").await;
    }
    let after = started.elapsed();
    assert_eq!(server.hits() - before, fetches);
    assert!(
        after < Duration::from_millis(10 * 300),
        "refused without waiting for the provider: {after:?}"
    );
    // The known key still works throughout.
    assert_eq!(me(&app, &key.token(ADMIN)).await, 200);
    assert_eq!(
        metric(&app, "prm_jwks_fetches_total{outcome=\"ok\"}").await,
        (1 + fetches) as f64
    );
    assert!(metric(&app, "prm_jwks_refetches_refused_total").await >= 10.0);
    eprintln!(
        "50 unknown kids at once: {fetches} fetch(es) in {flood:?}; 10 more refused in {after:?}"
    );
}

/// A fetch runs on the JWKS thread: while a token with an unknown `kid`
/// waits for a slow provider, the one event loop serves other requests.
#[actix_web::test]
async fn a_slow_provider_never_holds_up_other_requests() {
    let key = TestKey::generate("k1", Algorithm::ES256);
    let server = JwksServer::start(&jwks(&[&key]));
    let app = app_on(&server, 300_000, 5_000).await;
    assert_eq!(app.config.workers, 1);
    server.set_delay(Duration::from_millis(1_500));
    let unknown = key.token_with(Some("k9"), Algorithm::ES256, &claims(ADMIN));
    let waiting = async {
        let started = Instant::now();
        (me(&app, &unknown).await, started.elapsed())
    };
    let meanwhile = async {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        (me(&app, &key.token(ADMIN)).await, started.elapsed())
    };
    let ((refused, waited), (served, took)) = futures_util::future::join(waiting, meanwhile).await;
    assert_eq!(refused, 401);
    assert!(waited >= Duration::from_millis(1_400), "{waited:?}");
    assert_eq!(served, 200);
    assert!(
        took < Duration::from_millis(700),
        "served in {took:?} meanwhile"
    );
}

#[actix_web::test]
async fn cached_keys_still_work_while_the_provider_is_down() {
    let k1 = TestKey::generate("k1", Algorithm::RS256);
    let k2 = TestKey::generate("k2", Algorithm::ES256);
    let server = JwksServer::start(&jwks(&[&k1]));
    let app = app_on(&server, 300_000, 200).await;
    assert_eq!(me(&app, &k1.token(ADMIN)).await, 200);

    server.set_down(true);
    // An unknown kid makes the service ask the provider, which fails.
    expect_refused(&app, &k2.token(ADMIN), "a key the provider could not tell").await;
    let ready = readyz(&app).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["jwks"]["state"], "stale", "{ready}");
    assert_eq!(ready["jwks"]["keys"], 1, "{ready}");
    assert!(ready["jwks"]["age_seconds"].as_u64().is_some(), "{ready}");
    assert_eq!(
        me(&app, &k1.token(ADMIN)).await,
        200,
        "the last good set is still in use"
    );
    assert_eq!(
        metric(&app, "prm_jwks_fetches_total{outcome=\"error\"}").await,
        1.0
    );

    // Back up, with k2 published: the next unknown kid finds it.
    server.set(&jwks(&[&k1, &k2]));
    server.set_down(false);
    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(me(&app, &k2.token(ADMIN)).await, 200);
    assert_eq!(readyz(&app).await["jwks"]["state"], "ok");
}

#[actix_web::test]
async fn none_hs256_with_the_public_key_and_contradicting_algorithms_are_refused() {
    let rsa = TestKey::generate("rsa-1", Algorithm::RS256);
    let ec = TestKey::generate("ec-1", Algorithm::ES256);
    let ed = TestKey::generate("ed-1", Algorithm::EdDSA);
    let stranger = TestKey::generate("rsa-1", Algorithm::RS256);
    let encryption = TestKey::generate("enc-1", Algorithm::RS256);
    let mut enc_jwk = encryption.jwk.clone();
    enc_jwk["use"] = json!("enc");
    enc_jwk["alg"] = json!("RSA-OAEP");
    let mut set = jwks(&[&rsa, &ec, &ed]);
    set["keys"].as_array_mut().unwrap().push(enc_jwk);
    let server = JwksServer::start(&set);
    let app = app_on(&server, 300_000, 5_000).await;
    let c = claims(ADMIN);
    assert_eq!(me(&app, &rsa.token(ADMIN)).await, 200);

    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})),
        b64(&c)
    );
    expect_refused(&app, &none, "alg none").await;
    let hs = |secret: &[u8], kid: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(secret)).unwrap()
    };
    expect_refused(
        &app,
        &hs(&rsa.public_pem, Some("rsa-1")),
        "HS256 with the PEM",
    )
    .await;
    expect_refused(
        &app,
        &hs(&rsa.public_pem, None),
        "HS256 with the PEM, no kid",
    )
    .await;
    let n = rsa.jwk["n"].as_str().unwrap().as_bytes();
    expect_refused(&app, &hs(n, Some("rsa-1")), "HS256 with the JWK's n").await;
    expect_refused(&app, &hs(n, Some("another")), "HS256, unknown kid").await;
    // A key's kid with another key type's algorithm and signature.
    expect_refused(
        &app,
        &ec.token_with(Some("rsa-1"), Algorithm::ES256, &c),
        "ES256 under an RSA kid",
    )
    .await;
    expect_refused(
        &app,
        &rsa.token_with(Some("ec-1"), Algorithm::RS256, &c),
        "RS256 under an EC kid",
    )
    .await;
    expect_refused(
        &app,
        &ed.token_with(Some("ec-1"), Algorithm::EdDSA, &c),
        "EdDSA under an EC kid",
    )
    .await;
    // The RSA key's JWK says RS256: RS512 does not pass with it.
    expect_refused(
        &app,
        &rsa.token_with(Some("rsa-1"), Algorithm::RS512, &c),
        "RS512 with an RS256 key",
    )
    .await;
    expect_refused(
        &app,
        &stranger.token(ADMIN),
        "another key under a known kid",
    )
    .await;
    expect_refused(&app, &encryption.token(ADMIN), "an encryption key").await;
    let expired = json!({"sub": ADMIN, "exp": Utc::now().timestamp() - 120});
    expect_refused(
        &app,
        &rsa.token_with(Some("rsa-1"), Algorithm::RS256, &expired),
        "expired",
    )
    .await;
    // None of them was worth a fetch but the encryption key's kid, which
    // the set does not hold as a signing key.
    assert_eq!(server.hits(), 2);
}

#[actix_web::test]
async fn a_jwks_file_is_read_again_for_an_unknown_kid() {
    let k1 = TestKey::generate("k1", Algorithm::ES256);
    let k2 = TestKey::generate("k2", Algorithm::EdDSA);
    let path = std::env::temp_dir().join(format!("prm-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, jwks(&[&k1]).to_string()).unwrap();
    let key = settings(JwksSource::File(path.clone()), 300_000, 5_000);
    let app = TestApp::spawn_with(move |c| c.jwt.key = key).await;
    assert_eq!(me(&app, &k1.token(ADMIN)).await, 200);
    std::fs::write(&path, jwks(&[&k1, &k2]).to_string()).unwrap();
    assert_eq!(me(&app, &k2.token(ADMIN)).await, 200);
    std::fs::remove_file(&path).unwrap();
}

/// A provider that cannot be reached, answers an error, or publishes no
/// usable key stops start-up with one line naming the variable: a server
/// that would refuse every token must not start.
#[actix_web::test]
async fn start_fails_when_the_first_fetch_fails() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/certs", listener.local_addr().unwrap())
    };
    let down = JwksServer::start(&json!({"keys": []}));
    down.set_down(true);
    let empty = JwksServer::start(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}));
    for (url, cause) in [
        (closed.as_str(), "connect"),
        (down.url.as_str(), "503"),
        (empty.url.as_str(), "no usable signing key"),
    ] {
        let mut config = prm_tests::test_config("postgres://postgres@127.0.0.1:1/none");
        config.jwt.key = settings(JwksSource::Url(url.to_owned()), 300_000, 5_000);
        let pool = prm_store::pool::build_pool(&config.database_url, &config.pool);
        let Err(e) = prm_api::startup::Application::build(&config, pool) else {
            panic!("{url}: start-up succeeded");
        };
        let line = e.to_string();
        assert!(line.starts_with("PRM_JWT_JWKS_URL: "), "{line}");
        assert!(line.contains(url) && line.contains(cause), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
