//! Few round trips (issue 17, points 3 and 4): the statements a create,
//! an accept and a partner's dashboard send, counted off the wire by a
//! proxy in front of the test database, `BEGIN` and `COMMIT` included. Each of the journal's parts
//! (status event, version, outbox event, webhook fan-out) still lands.

use serde_json::json;

use crate::world::{counted_world, delivered_to};

/// Before this round: create 9, accept 13.
const CREATE: u64 = 5;
const ACCEPT: u64 = 6;

#[actix_web::test]
async fn a_create_and_an_accept_send_their_fewest_statements_and_record_everything() {
    let (proxy, w) = counted_world().await;
    let admin = &w.dist.admin;
    // A webhook of the vendor's, so the fan-out has someone to queue for.
    w.app
        .post(
            "/api/v1/webhooks",
            &w.app.admin(),
            &json!({"url": "http://127.0.0.1:9/hook", "events": []}),
        )
        .await
        .expect(201);
    // Both callers' actors cached, and an offer waiting.
    let warm = delivered_to(&w, &w.dist.id).await;
    w.app
        .act(&warm, "accept", &admin.token, None)
        .await
        .expect(200);
    let offer = delivered_to(&w, &w.dist.id).await;

    let at = proxy.statements();
    let created = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "Counted", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201);
    let create = proxy.statements() - at;

    let at = proxy.statements();
    let accepted = w
        .app
        .act(&offer, "accept", &admin.token, None)
        .await
        .expect(200);
    let accept = proxy.statements() - at;

    assert_eq!(
        (create, accept),
        (CREATE, ACCEPT),
        "statements per create and per accept, BEGIN and COMMIT included"
    );
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(created.body["status"], "draft");

    // What the one journal statement wrote, read back.
    for (id, action, event) in [
        (created.id(), "create", "opportunity.created"),
        (offer.clone(), "accept", "opportunity.accepted"),
    ] {
        assert_eq!(
            w.app.count(&format!(
                "SELECT count(*) AS n FROM opportunity_events \
                 WHERE opportunity_id = '{id}' AND action = '{action}'"
            )),
            1,
            "{action}: its status event"
        );
        assert_eq!(
            w.app.count(&format!(
                "SELECT count(*) AS n FROM events e JOIN webhook_deliveries d ON d.event_id = e.id \
                 WHERE e.opportunity_id = '{id}' AND e.type = '{event}'"
            )),
            1,
            "{action}: its outbox event, queued for the vendor's webhook"
        );
    }
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM opportunity_versions WHERE opportunity_id = '{offer}' \
             AND version = 3 AND 'status' = ANY(fields)"
        )),
        1,
        "the accept's version and what it changed"
    );
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE opportunity_id = '{offer}' \
             AND type = 'opportunity.accepted' \
             AND audience @> ARRAY[(SELECT id FROM orgs WHERE name = 'Dist')]"
        )),
        1,
        "the accepting partner is in the event's audience"
    );
}

/// A partner's dashboard reads its figures and its org scope's deal
/// registrations in one statement (before: two, the registrations by
/// status on their own).
#[actix_web::test]
async fn a_partners_dashboard_sends_one_statement() {
    let (proxy, w) = counted_world().await;
    let admin = &w.dist.admin;
    // The caller's actor cached.
    w.app
        .get("/api/v1/dashboard", &admin.token)
        .await
        .expect(200);
    let at = proxy.statements();
    let d = w
        .app
        .get("/api/v1/dashboard", &admin.token)
        .await
        .expect(200);
    assert_eq!(
        proxy.statements() - at,
        1,
        "statements per partner dashboard"
    );
    assert_eq!(d.body["kind"], "partner");
    assert_eq!(d.body["deal_registrations"]["submitted"], 0);
}
