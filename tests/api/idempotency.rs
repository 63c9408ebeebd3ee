//! `Idempotency-Key`: retries are safe.

use crate::world::world;
use futures_util::future::join_all;
use prm_tests::{Resp, TestApp};
use serde_json::{Value, json};

async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> Resp {
    app.send(
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body),
    )
    .await
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.count(sql)
}

#[actix_web::test]
async fn a_retry_with_the_same_key_and_body_returns_the_first_response_and_does_nothing_again() {
    let w = world().await;
    let body = json!({"topic": "once", "customer_id": w.vendor_customer});
    let first = post_with_key(&w.app, "/api/v1/opportunities", &w.cm.token, "k-1", &body)
        .await
        .expect(201);
    let again = post_with_key(&w.app, "/api/v1/opportunities", &w.cm.token, "k-1", &body)
        .await
        .expect(201);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) AS n FROM opportunities WHERE topic = 'once'"
        ),
        1
    );
    let other = post_with_key(
        &w.app,
        "/api/v1/opportunities",
        &w.cm.token,
        "k-1",
        &json!({"topic": "changed", "customer_id": w.vendor_customer}),
    )
    .await;
    let other = other.expect_problem(422, "validation_failed");
    assert_eq!(other.error_fields(), ["Idempotency-Key"]);
    // Keys are the caller's own: another user's same key is a new request.
    let admin_token = w.app.admin();
    post_with_key(&w.app, "/api/v1/opportunities", &admin_token, "k-1", &body)
        .await
        .expect(201);
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) AS n FROM opportunities WHERE topic = 'once'"
        ),
        2
    );
}

#[actix_web::test]
async fn twenty_parallel_identical_posts_create_one_row() {
    let w = world().await;
    let body = json!({"topic": "parallel", "customer_id": w.vendor_customer});
    let reqs = (0..20).map(|_| {
        post_with_key(
            &w.app,
            "/api/v1/opportunities",
            &w.cm.token,
            "same-key",
            &body,
        )
    });
    let results = join_all(reqs).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let in_flight = results
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "idempotency_key_in_flight")
        .count();
    assert_eq!(
        created + in_flight,
        20,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<_> = results
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "every 201 is the same opportunity");
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) AS n FROM opportunities WHERE topic = 'parallel'"
        ),
        1
    );
    eprintln!(
        "20 parallel identical POSTs: 1 row; {created} answered 201, {in_flight} answered 409 while in flight"
    );
}

#[actix_web::test]
async fn an_action_retried_with_its_key_is_not_done_twice() {
    let w = world().await;
    let id = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "t", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    let path = format!("/api/v1/opportunities/{id}/distribute");
    let body = json!({"partner_id": w.other.id});
    let a = post_with_key(&w.app, &path, &w.cm.token, "dist-1", &body)
        .await
        .expect(200);
    let b = post_with_key(&w.app, &path, &w.cm.token, "dist-1", &body)
        .await
        .expect(200);
    assert_eq!(a.body["version"], b.body["version"]);
    assert_eq!(
        count(
            &w.app,
            &format!(
                "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{id}' AND action = 'distribute'"
            )
        ),
        1
    );
    // Without the key, the second distribute is a state conflict.
    w.app
        .act(&id, "distribute", &w.cm.token, Some(body))
        .await
        .expect_problem(409, "invalid_transition");
    let bad = post_with_key(&w.app, &path, &w.cm.token, &"x".repeat(300), &json!({})).await;
    bad.expect_problem(400, "invalid_idempotency_key");
}

/// A replay is an answer like any other: it is given only to a caller
/// who is authenticated as for any request. A user deactivated after the
/// first request gets 403, not the stored 201.
#[actix_web::test]
async fn a_replay_authenticates_the_caller_first() {
    let app = TestApp::spawn().await;
    let org = app.org("Acme Reseller", "reseller", None).await;
    let user = app.user(&org, "partner_admin").await;
    let body = json!({"name": "Replayed Ltd", "country": "DE"});
    let first = post_with_key(&app, "/api/v1/customers", &user.token, "k-auth", &body)
        .await
        .expect(201);
    let again = post_with_key(&app, "/api/v1/customers", &user.token, "k-auth", &body)
        .await
        .expect(201);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    app.deactivate(&user).await;
    let refused = post_with_key(&app, "/api/v1/customers", &user.token, "k-auth", &body)
        .await
        .expect_problem(403, "user_inactive");
    assert!(refused.header("idempotency-replayed").is_none());
}

/// Crash-safe idempotency (API.md, "Idempotency"): the real binary is killed
/// (SIGKILL) in the middle of a burst of keyed creates, three times at
/// different moments. After a restart every key, retried with its body,
/// answers as the one request would — replayed if it had committed,
/// performed now if it had not — never `idempotency_key_in_flight`, and each
/// key made exactly one customer.
#[actix_web::test]
async fn a_request_cut_by_a_crash_is_replayed_or_performed_once_on_retry_never_stuck() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let token = app.admin();
    let bin = prm_tests::prm_binary();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let (mut cut, mut replayed, mut performed) = (0, 0, 0);
    for (round, kill_after_ms) in [(0, 40u64), (1, 120), (2, 250)] {
        let served = prm_tests::serve_binary(&bin, &app.db.url).await;
        let bodies: Vec<(String, Value)> = (0..80)
            .map(|i| {
                let name = format!("crash {round}-{i}");
                (
                    format!("crash-{round}-{i}"),
                    json!({"name": name, "country": "DE", "org_id": vendor}),
                )
            })
            .collect();
        let burst = join_all(bodies.iter().map(|(key, body)| {
            client
                .post(format!("{}/api/v1/customers", served.base))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
        }));
        let mut child = served.child;
        let killer = async {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(kill_after_ms)).await;
            child.kill().expect("prm is killed");
            child.wait().expect("prm is reaped");
        };
        let (answers, ()) = futures_util::future::join(burst, killer).await;
        let answered: Vec<bool> = answers
            .iter()
            .map(|a| a.as_ref().is_ok_and(|r| r.status() == 201))
            .collect();
        cut += answered.iter().filter(|a| !**a).count();

        let mut served = prm_tests::serve_binary(&bin, &app.db.url).await;
        for ((key, body), was_answered) in bodies.iter().zip(&answered) {
            let retry = client
                .post(format!("{}/api/v1/customers", served.base))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await
                .expect("the retry is answered");
            let status = retry.status().as_u16();
            let again = retry.headers().contains_key("idempotency-replayed");
            assert_eq!(
                status,
                201,
                "{key}: {}",
                retry.text().await.unwrap_or_default()
            );
            if *was_answered {
                assert!(again, "{key}: an answered request is replayed");
            } else if again {
                replayed += 1;
            } else {
                performed += 1;
            }
        }
        served.child.kill().expect("prm is stopped");
        served.child.wait().expect("prm is reaped");
        let made = app.count(&format!(
            "SELECT count(*) AS n FROM customers WHERE name LIKE 'crash {round}-%'"
        ));
        assert_eq!(made, 80, "round {round}: one customer per key");
        let doubled = app.count(&format!(
            "SELECT count(*) AS n FROM (SELECT name FROM customers WHERE name LIKE 'crash {round}-%' \
             GROUP BY name HAVING count(*) > 1) d"
        ));
        assert_eq!(doubled, 0, "round {round}: no key made two customers");
    }
    eprintln!(
        "crash test: 3 kills, 240 keyed creates, {cut} cut by the kill: \
         {replayed} replayed (committed before it), {performed} performed on retry"
    );
    assert!(cut > 0, "the kills cut some requests");
}

/// A refusal is an answer too: a keyed request refused (here 409, a
/// duplicate subject the database caught) is replayed to its retries, and
/// nothing it had begun is kept.
#[actix_web::test]
async fn a_refused_keyed_request_is_replayed_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let admin = app.admin();
    let user = json!({"subject": "dup-subject", "org_id": vendor, "role": "channel_manager",
                      "name": "Dup", "email": "dup@test.example"});
    post_with_key(&app, "/api/v1/users", &admin, "u-1", &user)
        .await
        .expect(201);
    let refused = post_with_key(&app, "/api/v1/users", &admin, "u-2", &user)
        .await
        .expect_problem(409, "duplicate_subject");
    assert!(refused.header("idempotency-replayed").is_none());
    let again = post_with_key(&app, "/api/v1/users", &admin, "u-2", &user)
        .await
        .expect_problem(409, "duplicate_subject");
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.body, refused.body);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM users WHERE subject = 'dup-subject'"
        ),
        1
    );
}
