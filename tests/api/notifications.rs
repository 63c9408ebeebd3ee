//! The event feed and webhooks: visibility, signatures, retries, rollback.

use std::time::Duration;

use crate::world::{World, world};
use hmac::{Hmac, Mac};
use prm_tests::{Receiver, TestApp, TestUser};
use serde_json::{Value, json};
use sha2::Sha256;

async fn feed(app: &TestApp, user: &TestUser, after: Option<&str>) -> (Vec<Value>, Option<String>) {
    let path = match after {
        Some(a) => format!("/api/v1/events?after={a}&limit=200"),
        None => "/api/v1/events?limit=200".to_owned(),
    };
    let r = app.get(&path, &user.token).await.expect(200);
    (
        r.body["items"].as_array().unwrap().clone(),
        r.body["next_cursor"].as_str().map(str::to_owned),
    )
}

fn types(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn offer_to(w: &World, partner: &str) -> String {
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
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": partner})),
        )
        .await
        .expect(200);
    id
}

async fn hook(w: &World, admin: &TestUser, url: &str, events: Value) -> (String, String) {
    let r = w
        .app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": url, "events": events}),
        )
        .await
        .expect(201);
    (r.id(), r.body["secret"].as_str().unwrap().to_owned())
}

fn verify(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else {
        return false;
    };
    let t = t.trim_start_matches("t=");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

#[actix_web::test]
async fn the_feed_shows_each_caller_only_the_events_it_may_see_in_order() {
    let w = world().await;
    let (_, start) = feed(&w.app, &w.viewer, None).await;
    let id = offer_to(&w, &w.dist.id).await;
    w.app
        .act(&id, "accept", &w.dist.admin.token, None)
        .await
        .expect(200);
    let (vendor, cursor) = feed(&w.app, &w.viewer, start.as_deref()).await;
    assert_eq!(
        types(&vendor),
        [
            "opportunity.created",
            "opportunity.delivered",
            "opportunity.accepted"
        ]
    );
    let (dist, _) = feed(&w.app, &w.dist.director, None).await;
    assert_eq!(
        types(&dist),
        ["opportunity.delivered", "opportunity.accepted"],
        "the vendor's draft reached no partner"
    );
    assert_eq!(dist[0]["data"]["opportunity_id"], id);
    assert!(feed(&w.app, &w.other.admin, None).await.0.is_empty());
    assert!(
        feed(&w.app, &w.res.admin, None).await.0.is_empty(),
        "a reseller does not see its distributor's"
    );
    assert!(
        feed(&w.app, &w.dist.am1, None).await.0.is_empty(),
        "an account manager sees only what it owns"
    );
    w.app
        .act(
            &id,
            "assign-owner",
            &w.dist.admin.token,
            Some(json!({"user_id": w.dist.am1.id})),
        )
        .await
        .expect(200);
    assert_eq!(
        types(&feed(&w.app, &w.dist.am1, None).await.0).len(),
        3,
        "now it owns the opportunity"
    );
    // Continuing from the cursor gives only what came after.
    let (next, _) = feed(&w.app, &w.viewer, cursor.as_deref()).await;
    assert_eq!(types(&next), ["opportunity.owner_assigned"]);
    let res_opp = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &prm_tests::partner_opportunity(&w.res.customer),
        )
        .await
        .expect(201)
        .id();
    let (dist_later, _) = feed(&w.app, &w.dist.director, None).await;
    assert!(
        dist_later
            .iter()
            .any(|e| e["data"]["opportunity_id"] == res_opp.as_str()),
        "a distributor hears of its resellers'"
    );
    w.app
        .post(
            &format!("/api/v1/opportunities/{res_opp}/notes"),
            &w.res.am1.token,
            &json!({"body": "ours", "internal": true}),
        )
        .await
        .expect(201);
    let (dist_notes, _) = feed(&w.app, &w.dist.director, None).await;
    assert!(
        !types(&dist_notes).contains(&"note.added".to_owned()),
        "internal notes reach only the author's org"
    );
    assert!(types(&feed(&w.app, &w.res.admin, None).await.0).contains(&"note.added".to_owned()));
}

#[actix_web::test]
async fn a_webhook_delivery_is_signed_and_verifiable_with_the_secret() {
    let w = world().await;
    let rx = Receiver::start(vec![200], 10);
    let (hook_id, secret) =
        hook(&w, &w.dist.admin, &rx.url, json!(["opportunity.delivered"])).await;
    let got = w
        .app
        .get(&format!("/api/v1/webhooks/{hook_id}"), &w.dist.admin.token)
        .await
        .expect(200);
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    let id = offer_to(&w, &w.dist.id).await;
    assert!(
        w.app
            .tick_until(Duration::from_secs(10), || !rx.received().is_empty())
    );
    let req = &rx.received()[0];
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["type"], "opportunity.delivered");
    assert_eq!(body["data"]["opportunity_id"], id);
    assert_eq!(req.header("prm-event-id"), body["id"].as_str());
    assert!(
        verify(&secret, req.header("prm-signature").unwrap(), &req.body),
        "signature verifies"
    );
    assert!(!verify(
        "whsec_wrong",
        req.header("prm-signature").unwrap(),
        &req.body
    ));
    let (events, _) = feed(&w.app, &w.dist.admin, None).await;
    assert!(
        events.iter().any(|e| e["id"] == body["id"]),
        "the same event id in the feed"
    );
    let log = w
        .app
        .get(
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            &w.dist.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(log.body["items"][0]["status"], "succeeded");
    assert_eq!(log.body["items"][0]["last_status_code"], 200);
}

#[actix_web::test]
async fn a_failed_delivery_is_retried_with_the_same_event_id() {
    let w = world().await;
    let rx = Receiver::start(vec![500, 200], 10);
    let (hook_id, _) = hook(&w, &w.dist.admin, &rx.url, json!([])).await;
    offer_to(&w, &w.dist.id).await;
    assert!(
        w.app
            .tick_until(Duration::from_secs(10), || rx.received().len() >= 2)
    );
    let got = rx.received();
    assert_eq!(got[0].header("prm-event-id"), got[1].header("prm-event-id"));
    let gap = (got[1].at - got[0].at).num_milliseconds();
    assert!(gap >= 150, "backoff before the retry ({gap} ms)");
    let log = w
        .app
        .get(
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            &w.dist.admin.token,
        )
        .await
        .expect(200);
    let d = &log.body["items"][0];
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["attempts"], 2);
}

#[actix_web::test]
async fn a_delivery_that_keeps_failing_is_given_up_and_logged() {
    let w = world().await;
    let rx = Receiver::start(vec![503], 20);
    let (hook_id, _) = hook(&w, &w.dist.admin, &rx.url, json!(["opportunity.delivered"])).await;
    offer_to(&w, &w.dist.id).await;
    let log_status = || async {
        let log = w
            .app
            .get(
                &format!("/api/v1/webhooks/{hook_id}/deliveries"),
                &w.dist.admin.token,
            )
            .await
            .expect(200);
        log.body["items"][0].clone()
    };
    for _ in 0..200 {
        w.app.tick();
        if log_status().await["status"] == "failed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = log_status().await;
    assert_eq!(d["status"], "failed");
    assert_eq!(d["attempts"], 4, "the test config's max_attempts");
    assert_eq!(d["last_status_code"], 503);
    assert_eq!(rx.received().len(), 4);
}

#[actix_web::test]
async fn nothing_is_delivered_of_an_opportunity_a_partner_cannot_see() {
    let w = world().await;
    let rx = Receiver::start(vec![200], 10);
    hook(&w, &w.other.admin, &rx.url, json!([])).await;
    let vendor_rx = Receiver::start(vec![200], 50);
    let vendor_admin = TestUser {
        id: String::new(),
        subject: prm_tests::ADMIN.to_owned(),
        org_id: String::new(),
        token: w.app.admin(),
    };
    hook(&w, &vendor_admin, &vendor_rx.url, json!([])).await;
    let id = offer_to(&w, &w.dist.id).await;
    w.app
        .act(&id, "accept", &w.dist.admin.token, None)
        .await
        .expect(200);
    assert!(
        w.app
            .tick_until(Duration::from_secs(10), || vendor_rx.received().len() >= 3)
    );
    w.app.tick();
    assert!(
        rx.received().is_empty(),
        "another partner's webhook heard nothing"
    );
}

#[actix_web::test]
async fn an_event_rolled_back_with_its_transaction_is_never_delivered() {
    use diesel::Connection;
    let w = world().await;
    let rx = Receiver::start(vec![200], 10);
    let vendor_admin = TestUser {
        id: String::new(),
        subject: prm_tests::ADMIN.to_owned(),
        org_id: String::new(),
        token: w.app.admin(),
    };
    hook(&w, &vendor_admin, &rx.url, json!([])).await;
    let mut conn = w.app.db.conn();
    let result: Result<(), diesel::result::Error> = conn.transaction(|c| {
        prm_store::outbox::write(
            c,
            &prm_store::outbox::NewEventRow {
                id: uuid::Uuid::now_v7(),
                type_: "opportunity.created".to_owned(),
                opportunity_id: None,
                audience: vec![],
                with_distributors: false,
                data: json!({"rolled": "back"}),
            },
        )?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    let report = w.app.tick();
    assert_eq!(report.delivered, 0);
    assert!(rx.received().is_empty());
    let (events, _) = feed(&w.app, &w.viewer, None).await;
    assert!(!events.iter().any(|e| e["data"]["rolled"] == "back"));
    // A committed one is delivered.
    offer_to(&w, &w.dist.id).await;
    assert!(
        w.app
            .tick_until(Duration::from_secs(10), || !rx.received().is_empty())
    );
}

#[actix_web::test]
async fn webhook_targets_on_private_addresses_are_refused_unless_allowed() {
    let app = TestApp::spawn_with(|c| c.webhooks.allow_private = false).await;
    let org = app.org("P", "reseller", None).await;
    let admin = app.user(&org, "partner_admin").await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.0.0.8/x",
        "http://169.254.169.254/",
        "ftp://example.com/x",
        "not a url",
        // Not globally reachable in other forms: IPv4 inside IPv6
        // (compatible, mapped, NAT64, 6to4, Teredo), site local, reserved,
        // benchmarking, documentation.
        "http://[::127.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::1]/",
        "http://[2001:0:5ef5:79fb::80ff:fffe]/",
        "http://[fec0::1]/",
        "http://240.0.0.1/",
        "http://198.18.0.1/",
        "http://192.0.2.1/",
        "http://[2001:db8::1]/",
    ] {
        let r = app
            .post("/api/v1/webhooks", &admin.token, &json!({"url": url}))
            .await;
        assert_eq!(r.error_fields(), ["url"], "{url}: {}", r.text);
        assert_eq!(r.status, 422);
    }
    let director = app.user(&org, "account_manager_director").await;
    app.post(
        "/api/v1/webhooks",
        &director.token,
        &json!({"url": "http://93.184.216.34/x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    let am = app.user(&org, "account_manager").await;
    app.post(
        "/api/v1/webhooks",
        &am.token,
        &json!({"url": "http://93.184.216.34/x"}),
    )
    .await
    .expect_problem(403, "forbidden");
    let ok = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": "http://93.184.216.34/x", "events": ["opportunity.delivered"]}),
        )
        .await
        .expect(201);
    assert!(ok.body["secret"].as_str().unwrap().starts_with("whsec_"));
    let list = app.get("/api/v1/webhooks", &admin.token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let other = app.org("Q", "reseller", None).await;
    let other_admin = app.user(&other, "partner_admin").await;
    app.get(&format!("/api/v1/webhooks/{}", ok.id()), &other_admin.token)
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/webhooks/{}", ok.id()), &admin.token)
        .await
        .expect(204);
}

/// Measures event written → receiver got it, with a worker ticking every
/// 50 ms as `prm serve` runs it, and prints the figures.
#[actix_web::test]
async fn delivery_latency_is_measured() {
    let w = world().await;
    let rx = Receiver::start(vec![200], 100);
    hook(&w, &w.dist.admin, &rx.url, json!(["opportunity.delivered"])).await;
    let pool = prm_store::pool::build_pool(&w.app.db.url, &w.app.config.pool);
    let (stop, handle) = prm_api::worker::spawn(
        pool,
        w.app.config.webhooks.clone(),
        prm_api::startup::import_rows(),
        Duration::from_millis(50),
    )
    .unwrap();
    let n = 20;
    for _ in 0..n {
        offer_to(&w, &w.dist.id).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rx.received().len() < n && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = handle.join();
    let got = rx.received();
    assert_eq!(got.len(), n);
    let mut ms: Vec<i64> = got
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            let written =
                chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).unwrap();
            (r.at - written.with_timezone(&chrono::Utc)).num_milliseconds()
        })
        .collect();
    ms.sort();
    eprintln!(
        "webhook latency (event written -> received), {n} events, 50 ms tick: p50 {} ms, max {} ms",
        ms[n / 2],
        ms[n - 1]
    );
    assert!(ms[n - 1] < 5_000, "within seconds");
}
