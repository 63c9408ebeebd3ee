//! Automatic distribution: the explainable ranking, auto-assign, deadlines
//! and re-assignment by the worker, and several workers at once.

use std::time::Duration;

use crate::world::{World, approve, world};
use serde_json::json;

async fn draft(w: &World, country: &str) -> String {
    w.app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "Lead", "customer_id": w.vendor_customer, "country": country,
                    "industry": "retail", "product_lines": ["cloud"]}),
        )
        .await
        .expect(201)
        .id()
}

fn overdue(w: &World, id: &str) {
    w.app.sql(&format!(
        "UPDATE opportunities SET accept_by = now() - interval '1 second' WHERE id = '{id}'"
    ));
}

#[actix_web::test]
async fn candidates_are_ranked_with_score_parts_and_exclusions_explained() {
    let w = world().await;
    // Dist: DE/cloud (from the world), gold; Res: paused; Other: tier platinum, FR.
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.dist.id),
            &w.app.admin(),
            &json!({"profile": {"tier": "gold", "industries": ["retail"], "capacity": 10}}),
        )
        .await
        .expect(200);
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.res.id),
            &w.res.admin.token,
            &json!({"profile": {"accepting": false}}),
        )
        .await
        .expect(200);
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.other.id),
            &w.app.admin(),
            &json!({"profile": {"tier": "platinum", "countries": ["FR"]}}),
        )
        .await
        .expect(200);
    let id = draft(&w, "DE").await;
    let r = w
        .app
        .get(
            &format!("/api/v1/opportunities/{id}/candidates"),
            &w.cm.token,
        )
        .await
        .expect(200);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items[0]["org_id"], w.dist.id, "{}", r.text);
    assert_eq!(
        items[0]["parts"],
        json!({"country": 30.0, "industry": 20.0, "product_lines": 25.0,
                                         "tier": 7.5, "capacity": 10.0, "history": 0.0})
    );
    assert_eq!(items[0]["score"], 92.5);
    assert_eq!(items[1]["org_id"], w.other.id);
    let excluded = r.body["excluded"].as_array().unwrap();
    assert!(
        excluded
            .iter()
            .any(|e| e["org_id"] == w.res.id && e["reason"] == "paused")
    );
    // Partners may not see the ranking; others' opportunities stay invisible.
    w.app
        .get(
            &format!("/api/v1/opportunities/{id}/candidates"),
            &w.dist.admin.token,
        )
        .await
        .expect_problem(404, "not_found");
    let offered = draft(&w, "DE").await;
    w.app
        .act(
            &offered,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id})),
        )
        .await
        .expect(200);
    w.app
        .get(
            &format!("/api/v1/opportunities/{offered}/candidates"),
            &w.dist.admin.token,
        )
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn auto_assign_offers_to_the_top_candidate_within_the_acceptance_window() {
    let w = world().await;
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.other.id),
            &w.app.admin(),
            &json!({"profile": {"tier": "platinum"}}),
        )
        .await
        .expect(200);
    let id = draft(&w, "DE").await;
    let top = w
        .app
        .get(
            &format!("/api/v1/opportunities/{id}/candidates"),
            &w.cm.token,
        )
        .await
        .expect(200);
    let res = w
        .app
        .act(&id, "auto-assign", &w.cm.token, None)
        .await
        .expect(200);
    assert_eq!(res.body["status"], "delivered");
    assert_eq!(
        res.body["primary_partner_id"],
        top.body["items"][0]["org_id"]
    );
    let accept_by =
        chrono::DateTime::parse_from_rfc3339(res.body["accept_by"].as_str().unwrap()).unwrap();
    let hours =
        (accept_by.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((71.0..=72.1).contains(&hours), "{hours}");
    w.app
        .act(&id, "auto-assign", &w.res.admin.token, None)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn auto_assign_with_no_candidate_is_409_saying_why() {
    let w = world().await;
    for org in [&w.dist, &w.res, &w.other] {
        w.app
            .patch(
                &format!("/api/v1/orgs/{}", org.id),
                &org.admin.token,
                &json!({"profile": {"accepting": false}}),
            )
            .await
            .expect(200);
    }
    let id = draft(&w, "DE").await;
    let res = w
        .app
        .act(&id, "auto-assign", &w.cm.token, None)
        .await
        .expect_problem(409, "no_candidate");
    assert!(
        res.body["detail"].as_str().unwrap().contains("3 paused"),
        "{}",
        res.text
    );
}

#[actix_web::test]
async fn an_offer_past_its_deadline_expires_and_goes_to_the_next_candidate() {
    let w = world().await;
    // With the distributor's reseller paused, the next candidate is unrelated.
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.res.id),
            &w.res.admin.token,
            &json!({"profile": {"accepting": false}}),
        )
        .await
        .expect(200);
    let id = draft(&w, "DE").await;
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id})),
        )
        .await
        .expect(200);
    assert_eq!(w.app.tick().expired, 0, "not due yet");
    overdue(&w, &id);
    let report = w.app.tick();
    assert_eq!((report.expired, report.reassigned), (1, 1), "{report:?}");
    let now = w
        .app
        .get(&format!("/api/v1/opportunities/{id}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(now.body["status"], "delivered");
    assert_eq!(
        now.body["primary_partner_id"], w.other.id,
        "the partner that let it expire is excluded"
    );
    w.app
        .get(&format!("/api/v1/opportunities/{id}"), &w.dist.admin.token)
        .await
        .expect_problem(404, "not_found");
    let timeline = w
        .app
        .get(&format!("/api/v1/opportunities/{id}/timeline"), &w.cm.token)
        .await
        .expect(200);
    let actions: Vec<&str> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status_change"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["auto_assign", "expire", "distribute", "create"]);
    let excluded = w
        .app
        .get(
            &format!("/api/v1/opportunities/{id}/candidates"),
            &w.cm.token,
        )
        .await
        .expect(200);
    assert!(
        excluded.body["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["org_id"] == w.dist.id && e["reason"] == "expired")
    );
}

#[actix_web::test]
async fn without_auto_reassign_an_expired_offer_stays_with_the_vendor() {
    let w = world().await;
    w.app
        .set_policy(|p| {
            p["auto_reassign"] = json!(false);
        })
        .await;
    let id = draft(&w, "DE").await;
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id})),
        )
        .await
        .expect(200);
    overdue(&w, &id);
    let report = w.app.tick();
    assert_eq!((report.expired, report.reassigned), (1, 0));
    let now = w
        .app
        .get(&format!("/api/v1/opportunities/{id}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(now.body["status"], "expired");
}

#[actix_web::test]
async fn a_declined_offer_is_reassigned_up_to_the_policy_limit() {
    let w = world().await;
    w.app
        .set_policy(|p| {
            p["max_auto_reassignments"] = json!(1);
        })
        .await;
    let id = draft(&w, "DE").await;
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id})),
        )
        .await
        .expect(200);
    w.app
        .act(
            &id,
            "decline",
            &w.dist.admin.token,
            Some(json!({"reason": "busy"})),
        )
        .await
        .expect(200);
    assert_eq!(w.app.tick().reassigned, 1);
    let now = w
        .app
        .get(&format!("/api/v1/opportunities/{id}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(now.body["status"], "delivered");
    let second = now.body["primary_partner_id"].as_str().unwrap().to_owned();
    assert_ne!(second, w.dist.id);
    let admin = if second == w.res.id {
        &w.res.admin
    } else {
        &w.other.admin
    };
    w.app
        .act(
            &id,
            "decline",
            &admin.token,
            Some(json!({"reason": "busy too"})),
        )
        .await
        .expect(200);
    assert_eq!(
        w.app.tick().reassigned,
        0,
        "the limit of one re-assignment is reached"
    );
    let now = w
        .app
        .get(&format!("/api/v1/opportunities/{id}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(now.body["status"], "declined");
}

#[actix_web::test]
async fn approved_registrations_expire_after_their_exclusivity() {
    let w = world().await;
    let opp = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &prm_tests::partner_opportunity(&w.res.customer),
        )
        .await
        .expect(201)
        .id();
    let reg = w
        .app
        .post(
            &format!("/api/v1/opportunities/{opp}/deal-registration"),
            &w.res.am1.token,
            &json!({"product_lines": ["cloud"]}),
        )
        .await
        .expect(201)
        .id();
    approve(&w, &reg).await;
    assert_eq!(w.app.tick().registrations_expired, 0);
    w.app.sql(&format!(
        "UPDATE deal_registrations SET exclusive_until = current_date - 1 WHERE id = '{reg}'"
    ));
    assert_eq!(w.app.tick().registrations_expired, 1);
    let r = w
        .app
        .get(
            &format!("/api/v1/deal-registrations/{reg}"),
            &w.res.am1.token,
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "expired");
}

#[actix_web::test]
async fn two_workers_never_handle_one_offer_twice() {
    let w = world().await;
    w.app
        .set_policy(|p| {
            p["auto_reassign"] = json!(false);
        })
        .await;
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.dist.id),
            &w.app.admin(),
            &json!({"profile": {"capacity": 1000}}),
        )
        .await
        .expect(200);
    let n = 120;
    for _ in 0..n {
        let id = draft(&w, "DE").await;
        w.app
            .act(
                &id,
                "distribute",
                &w.cm.token,
                Some(json!({"partner_id": w.dist.id})),
            )
            .await
            .expect(200);
    }
    w.app.sql("UPDATE opportunities SET accept_by = now() - interval '1 second' WHERE status = 'delivered'");
    let spawn = || {
        let pool = prm_store::pool::build_pool(&w.app.db.url, &w.app.config.pool);
        let settings = w.app.config.webhooks.clone();
        std::thread::spawn(move || {
            let worker =
                prm_api::worker::Worker::new(pool, settings, prm_api::startup::import_rows())
                    .unwrap();
            let mut expired = 0;
            for _ in 0..10 {
                expired += worker.tick().unwrap().expired;
            }
            expired
        })
    };
    let (a, b) = (spawn(), spawn());
    let (ea, eb) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(ea + eb, n, "every offer expired exactly once ({ea} + {eb})");
    let twice = w.app.count(
        "SELECT count(*) AS n FROM (SELECT opportunity_id FROM opportunity_events WHERE action = 'expire'
         GROUP BY opportunity_id HAVING count(*) > 1) d",
    );
    assert_eq!(twice, 0, "no offer handled twice");
    eprintln!("two workers: {ea} + {eb} = {n} offers expired, 0 twice");
}

/// The worker with its database cut off and back: ticks fail without
/// panicking while it is down, and the first tick after it returns does the
/// work that piled up.
#[actix_web::test]
async fn the_worker_survives_the_database_going_away_and_coming_back() {
    let w = world().await;
    let proxy = prm_tests::DbProxy::start();
    let mut settings = w.app.config.pool.clone();
    settings.checkout_timeout = Duration::from_millis(500);
    let pool = prm_store::pool::build_pool(&proxy.url(&w.app.db), &settings);
    let hooks = w.app.config.webhooks.clone();
    let worker = std::thread::spawn(move || {
        let worker =
            prm_api::worker::Worker::new(pool, hooks, prm_api::startup::import_rows()).unwrap();
        worker.tick().unwrap();
        worker
    })
    .join()
    .unwrap();
    let id = draft(&w, "DE").await;
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id})),
        )
        .await
        .expect(200);
    overdue(&w, &id);
    proxy.cut();
    let (worker, down_ok) = std::thread::spawn(move || {
        let results: Vec<bool> = (0..3).map(|_| worker.tick().is_ok()).collect();
        (worker, results)
    })
    .join()
    .unwrap();
    assert_eq!(
        down_ok,
        [false, false, false],
        "ticks fail while the database is away"
    );
    proxy.restore();
    let back = std::time::Instant::now();
    let (recovered_ms, report) = std::thread::spawn(move || {
        loop {
            if let Ok(r) = worker.tick() {
                return (back.elapsed().as_millis(), r);
            }
            assert!(
                back.elapsed() < Duration::from_secs(10),
                "the worker did not recover"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .join()
    .unwrap();
    assert_eq!(
        report.expired, 1,
        "the overdue offer is handled once the database is back"
    );
    eprintln!(
        "worker: 3 failed ticks while the database was cut; first good tick {recovered_ms} ms after it returned"
    );
}
