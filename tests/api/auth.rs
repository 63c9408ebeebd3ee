//! Bearer authentication: algorithm pinned, `none` refused, `exp` required,
//! `nbf` checked, subjects mapped to active users.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prm_tests::{ADMIN, TEST_SECRET, TestApp};
use serde_json::{Value, json};

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn expect_401(app: &TestApp, token: &str, what: &str) {
    let res = app.get("/api/v1/me", token).await;
    assert_eq!(res.status, 401, "{what}: {}", res.text);
    assert_eq!(res.content_type(), "application/problem+json", "{what}");
    assert!(
        res.header("www-authenticate")
            .unwrap_or("")
            .starts_with("Bearer"),
        "{what}"
    );
}

#[actix_web::test]
async fn missing_token_is_401_with_www_authenticate() {
    let app = TestApp::spawn().await;
    let res = app
        .send(app.client.get(format!("{}/api/v1/me", app.base)))
        .await;
    let res = res.expect_problem(401, "missing_token");
    assert_eq!(res.header("www-authenticate"), Some("Bearer realm=\"prm\""));
}

#[actix_web::test]
async fn bad_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let now = Utc::now().timestamp();
    let valid = json!({"sub": ADMIN, "exp": now + 600});
    // Sanity: the same claims, correctly signed, pass.
    app.get("/api/v1/me", &sign(&valid, TEST_SECRET))
        .await
        .expect(200);

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&valid)
    );
    expect_401(&app, &none, "alg none").await;
    expect_401(
        &app,
        &sign(&valid, "another-secret-another-secret-another"),
        "wrong key",
    )
    .await;
    expect_401(
        &app,
        &sign(&json!({"sub": ADMIN, "exp": now - 120}), TEST_SECRET),
        "expired",
    )
    .await;
    expect_401(&app, &sign(&json!({"sub": ADMIN}), TEST_SECRET), "no exp").await;
    expect_401(
        &app,
        &sign(
            &json!({"sub": ADMIN, "exp": (now + 600).to_string()}),
            TEST_SECRET,
        ),
        "exp as string",
    )
    .await;
    expect_401(
        &app,
        &sign(
            &json!({"sub": ADMIN, "exp": now + 600, "nbf": now + 300}),
            TEST_SECRET,
        ),
        "nbf in the future",
    )
    .await;
    expect_401(&app, "not.a.jwt", "malformed").await;
    // A correctly signed token whose header or payload is not JSON.
    let signed = |header: &str, payload: &str| {
        use hmac::{Hmac, Mac};
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(TEST_SECRET.as_bytes()).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!(
            "{h}.{p}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    let good_payload = json!({"sub": ADMIN, "exp": now + 600}).to_string();
    app.get(
        "/api/v1/me",
        &signed(r#"{"alg":"HS256","typ":"JWT"}"#, &good_payload),
    )
    .await
    .expect(200);
    expect_401(
        &app,
        &signed("{not json", &good_payload),
        "malformed header",
    )
    .await;
    expect_401(
        &app,
        &signed(r#"{"alg":"HS256","typ":"JWT"}"#, "not json"),
        "malformed payload",
    )
    .await;
    expect_401(
        &app,
        &signed(r#"{"typ":"JWT"}"#, &good_payload),
        "header without alg",
    )
    .await;
    expect_401(
        &app,
        &format!("{}.%%%.x", URL_SAFE_NO_PAD.encode("{}")),
        "payload not base64",
    )
    .await;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &valid,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    expect_401(&app, &hs512, "other algorithm").await;
    let res = app
        .send(
            app.client
                .get(format!("{}/api/v1/me", app.base))
                .header("authorization", "Basic abc"),
        )
        .await;
    res.expect_problem(401, "invalid_token");
}

#[actix_web::test]
async fn expiry_within_the_leeway_is_accepted() {
    let app = TestApp::spawn().await;
    let now = Utc::now().timestamp();
    let token = sign(&json!({"sub": ADMIN, "exp": now - 3}), TEST_SECRET);
    app.get("/api/v1/me", &token).await.expect(200);
}

#[actix_web::test]
async fn unknown_subject_is_401() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/me", &app.token("nobody"))
        .await
        .expect_problem(401, "unknown_subject");
}

#[actix_web::test]
async fn deactivated_user_is_refused_on_its_next_request() {
    let app = TestApp::spawn().await;
    let org = app.org("Acme Reseller", "reseller", None).await;
    let user = app.user(&org, "account_manager").await;
    app.get("/api/v1/me", &user.token).await.expect(200);
    app.deactivate(&user).await;
    app.get("/api/v1/me", &user.token)
        .await
        .expect_problem(403, "user_inactive");
}

#[actix_web::test]
async fn users_of_a_deactivated_org_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.org("Acme Reseller", "reseller", None).await;
    let user = app.user(&org, "partner_admin").await;
    app.patch(
        &format!("/api/v1/orgs/{org}"),
        &app.admin(),
        &json!({"active": false}),
    )
    .await
    .expect(200);
    app.get("/api/v1/orgs", &user.token)
        .await
        .expect_problem(403, "org_inactive");
}

#[actix_web::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = TestApp::spawn_with(|c| {
        c.jwt.issuer = Some("https://idp.example".to_owned());
        c.jwt.audience = Some("prm".to_owned());
    })
    .await;
    let now = Utc::now().timestamp();
    let good = json!({"sub": ADMIN, "exp": now + 600, "iss": "https://idp.example", "aud": "prm"});
    app.get("/api/v1/me", &sign(&good, TEST_SECRET))
        .await
        .expect(200);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    expect_401(&app, &sign(&wrong_iss, TEST_SECRET), "wrong iss").await;
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("other");
    expect_401(&app, &sign(&wrong_aud, TEST_SECRET), "wrong aud").await;
    expect_401(
        &app,
        &sign(&json!({"sub": ADMIN, "exp": now + 600}), TEST_SECRET),
        "no iss/aud",
    )
    .await;
}

/// RFC 7519 allows `aud` as one string or an array of them; identity
/// providers send either. The configured audience must be among them.
#[actix_web::test]
async fn the_audience_may_be_a_string_or_an_array() {
    let app = TestApp::spawn_with(|c| c.jwt.audience = Some("prm-api".to_owned())).await;
    let now = Utc::now().timestamp();
    let with = |aud: serde_json::Value| json!({"sub": ADMIN, "exp": now + 600, "aud": aud});
    let me = app
        .get("/api/v1/me", &sign(&with(json!("prm-api")), TEST_SECRET))
        .await
        .expect(200);
    assert_eq!(me.body["user"]["subject"], ADMIN, "{}", me.text);
    app.get(
        "/api/v1/me",
        &sign(&with(json!(["prm-api", "other"])), TEST_SECRET),
    )
    .await
    .expect(200);
    app.get("/api/v1/me", &sign(&with(json!(["prm-api"])), TEST_SECRET))
        .await
        .expect(200);
    expect_401(
        &app,
        &sign(&with(json!(["other", "another"])), TEST_SECRET),
        "an array without the audience",
    )
    .await;
    expect_401(&app, &sign(&with(json!([])), TEST_SECRET), "an empty array").await;
    expect_401(&app, &sign(&with(json!(7)), TEST_SECRET), "a number").await;
}

#[actix_web::test]
async fn me_returns_the_callers_user_role_and_org() {
    let app = TestApp::spawn().await;
    let org = app.org("Acme Reseller", "reseller", None).await;
    let user = app.user(&org, "account_manager_director").await;
    let me = app.get("/api/v1/me", &user.token).await.expect(200);
    assert_eq!(me.body["user"]["subject"], user.subject);
    assert_eq!(me.body["user"]["role"], "account_manager_director");
    assert_eq!(me.body["org"]["id"], org);
    assert_eq!(me.body["org"]["kind"], "reseller");
}

/// Generates a throwaway RSA key pair with the openssl CLI (installed by
/// `make deps`), so no private key lives in the repository.
fn rsa_key_pair() -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("prm-rsa-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .status()
        .expect("openssl is installed (make deps)")
        .success()
        && std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
    assert!(ok, "openssl generated a key pair");
    let pair = (
        std::fs::read(&private).unwrap(),
        std::fs::read(&public).unwrap(),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    pair
}

#[actix_web::test]
async fn rs256_tokens_verify_against_the_public_key_and_hs256_confusion_fails() {
    let (private, public) = rsa_key_pair();
    let public_for_app = public.clone();
    let app = TestApp::spawn_with(move |c| {
        c.jwt.key = prm_api::config::JwtKey::Rs256 {
            public_key_pem: public_for_app,
        }
    })
    .await;
    let claims = json!({"sub": ADMIN, "exp": Utc::now().timestamp() + 600});
    let rs = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    app.get("/api/v1/me", &rs).await.expect(200);
    // The classic confusion: HS256 "signed" with the public key as the secret.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    expect_401(&app, &confused, "HS256 with the RSA public key").await;
    expect_401(&app, &sign(&claims, TEST_SECRET), "HS256 with a secret").await;
}
