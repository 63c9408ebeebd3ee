//! Optimistic concurrency and races: one winner, no lost update.

use crate::world::world;
use futures_util::future::join_all;
use serde_json::json;

#[actix_web::test]
async fn fifty_parallel_patches_with_one_etag_let_exactly_one_through() {
    let w = world().await;
    let id = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "t0", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    let path = format!("/api/v1/opportunities/{id}");
    let etag = w
        .app
        .get(&path, &w.cm.token)
        .await
        .expect(200)
        .header("etag")
        .unwrap()
        .to_owned();
    let bodies: Vec<_> = (0..50)
        .map(|i| json!({"topic": format!("writer {i}")}))
        .collect();
    let reqs = bodies
        .iter()
        .map(|b| w.app.patch_if_match(&path, &w.cm.token, &etag, b));
    let results = join_all(reqs).await;
    let ok: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
    let stale = results
        .iter()
        .filter(|r| r.status == 412 && r.body["code"] == "version_mismatch")
        .count();
    assert_eq!(ok.len(), 1, "exactly one writer wins");
    assert_eq!(stale, 49, "the rest are told their version is stale");
    let now = w.app.get(&path, &w.cm.token).await.expect(200);
    assert_eq!(
        now.body["topic"], ok[0].body["topic"],
        "the winner's write is what is stored"
    );
    assert_eq!(now.body["version"], 2);
    eprintln!("50 parallel PATCHes with one ETag: 1 succeeded, {stale} got 412, 0 lost updates");
}

#[actix_web::test]
async fn twenty_parallel_accepts_and_declines_have_one_winner() {
    let w = world().await;
    let id = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "race", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.other.id})),
        )
        .await
        .expect(200);
    let reqs = (0..20).map(|i| {
        if i % 2 == 0 {
            w.app.act(&id, "accept", &w.other.admin.token, None)
        } else {
            w.app.act(
                &id,
                "decline",
                &w.other.admin.token,
                Some(json!({"reason": "race"})),
            )
        }
    });
    let results = join_all(reqs).await;
    let winners: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // After an accept the losers see an opportunity that is no longer
    // offered (409); after a decline it has gone back to the vendor and out
    // of the partner's sight, so they are told it does not exist (404).
    let expected = match winners[0].body["status"].as_str() {
        Some("accepted") => (409, "invalid_transition"),
        Some("declined") => (404, "not_found"),
        other => panic!("unexpected winner status {other:?}"),
    };
    let refused = results
        .iter()
        .filter(|r| r.status == expected.0 && r.body["code"] == expected.1)
        .count();
    assert_eq!(
        refused,
        19,
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, r.body["code"].clone()))
            .collect::<Vec<_>>()
    );
    let status = winners[0].body["status"].as_str().unwrap().to_owned();
    let events = w.app.count(&format!(
        "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{id}' AND action IN ('accept', 'decline')"
    ));
    assert_eq!(events, 1, "one transition recorded");
    eprintln!(
        "20 parallel accept/decline: 1 won ({status}), 19 refused with {}, 1 event",
        expected.0
    );
}

#[actix_web::test]
async fn concurrent_edits_without_if_match_never_lose_one_another() {
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
    let path = format!("/api/v1/opportunities/{id}");
    // Different fields at once: each write locks the row, so both survive.
    let (body_a, body_b) = (
        json!({"customer_need": "need A"}),
        json!({"proposed_solution": "solution B"}),
    );
    let a = w.app.patch(&path, &w.cm.token, &body_a);
    let b = w.app.patch(&path, &w.cm.token, &body_b);
    let (ra, rb) = futures_util::future::join(a, b).await;
    assert_eq!((ra.status, rb.status), (200, 200));
    let now = w.app.get(&path, &w.cm.token).await.expect(200);
    assert_eq!(now.body["customer_need"], "need A");
    assert_eq!(now.body["proposed_solution"], "solution B");
    assert_eq!(now.body["version"], 3);
}
