//! Field history (DOMAIN.md): each change to an opportunity's description is
//! recorded field by field, shown in the timeline as `kind: "change"` and
//! carried by `opportunity.updated`, a value the reader may not see withheld.

use crate::world::{World, accepted_by, delivered_to, draft, opp_path, world};
use diesel::connection::SimpleConnection;
use prm_tests::TestUser;
use serde_json::{Value, json};

/// The timeline's items of `kind`, newest first, each as its `part`.
async fn timeline(w: &World, id: &str, token: &str, kind: &str, part: &str) -> Vec<Value> {
    let t = w
        .app
        .get(&format!("{}/timeline?limit=200", opp_path(id)), token)
        .await
        .expect(200);
    t.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == kind)
        .map(|i| {
            if part.is_empty() {
                i.clone()
            } else {
                i[part].clone()
            }
        })
        .collect()
}

/// The timeline's `change` items, newest first: each a list of
/// `{field, old, new, withheld}`.
async fn changes_in_timeline(w: &World, id: &str, token: &str) -> Vec<Value> {
    timeline(w, id, token, "change", "changes").await
}

/// The `changes` of every `opportunity.updated` of `id` in `user`'s feed.
async fn changes_in_feed(w: &World, id: &str, token: &str) -> Vec<Value> {
    let f = w
        .app
        .get("/api/v1/events?limit=200", token)
        .await
        .expect(200);
    f.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "opportunity.updated" && e["data"]["opportunity_id"] == id)
        .map(|e| e["data"]["changes"].clone())
        .collect()
}

#[actix_web::test]
async fn field_history_an_edit_is_recorded_field_by_field_in_the_timeline_and_its_event() {
    let w = world().await;
    let id = draft(&w).await;
    w.app
        .patch(
            &opp_path(&id),
            &w.cm.token,
            &json!({"topic": "Vendor lead, phase 1",
                    "estimated_revenue": {"amount": "60000", "currency": "EUR"},
                    "customer_need": "Move to cloud", "product_lines": ["cloud"]}),
        )
        .await
        .expect(200);
    let expected = json!([
        {"field": "topic", "old": "Vendor lead", "new": "Vendor lead, phase 1", "withheld": false},
        {"field": "estimated_revenue", "old": {"amount": "50000.00", "currency": "EUR"},
         "new": {"amount": "60000.00", "currency": "EUR"}, "withheld": false},
        {"field": "customer_need", "old": null, "new": "Move to cloud", "withheld": false},
    ]);
    assert_eq!(
        changes_in_timeline(&w, &id, &w.cm.token).await,
        vec![expected.clone()]
    );
    assert_eq!(
        changes_in_feed(&w, &id, &w.app.admin()).await,
        vec![expected]
    );
    let change = &timeline(&w, &id, &w.cm.token, "change", "").await[0];
    assert_eq!(change["actor_user_id"], w.cm.id.as_str());

    // Clearing a field is a change to null; an edit that changes nothing
    // records nothing.
    w.app
        .patch(&opp_path(&id), &w.cm.token, &json!({"customer_need": null}))
        .await
        .expect(200);
    w.app
        .patch(
            &opp_path(&id),
            &w.cm.token,
            &json!({"topic": "Vendor lead, phase 1"}),
        )
        .await
        .expect(200);
    let timeline = changes_in_timeline(&w, &id, &w.cm.token).await;
    assert_eq!(timeline.len(), 2, "{timeline:?}");
    assert_eq!(
        timeline[0],
        json!([{"field": "customer_need", "old": "Move to cloud", "new": null, "withheld": false}])
    );
    let feed = changes_in_feed(&w, &id, &w.app.admin()).await;
    assert_eq!(
        feed.last(),
        Some(&json!([])),
        "the no-op edit's event: {feed:?}"
    );
    // The history cannot be rewritten.
    let refused = w
        .app
        .db
        .conn()
        .batch_execute("UPDATE opportunity_changes SET changes = '[{}]'");
    assert!(refused.is_err(), "field history rows are append-only");
}

#[actix_web::test]
async fn field_history_withholds_contact_details_from_partners_who_may_not_see_them() {
    let w = world().await;
    let partner: &TestUser = &w.res.admin;
    // Edits of a draft are the vendor's own: a partner offered it later
    // does not see them.
    let id = draft(&w).await;
    w.app
        .patch(&opp_path(&id), &w.cm.token, &json!({"topic": "Reworded"}))
        .await
        .expect(200);
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": partner.org_id})),
        )
        .await
        .expect(200);
    assert!(
        changes_in_timeline(&w, &id, &partner.token)
            .await
            .is_empty()
    );
    assert_eq!(changes_in_timeline(&w, &id, &w.cm.token).await.len(), 1);

    // While only delivered, the partner may not see the contact's e-mail
    // and phone: not in the timeline, not in the event.
    let offered = delivered_to(&w, &partner.org_id).await;
    w.app
        .patch(
            &opp_path(&offered),
            &w.cm.token,
            &json!({"topic": "New topic",
                    "contact": {"name": "Jo", "email": "new@c.example", "phone": "+1 555"}}),
        )
        .await
        .expect(200);
    let withheld = json!([
        {"field": "topic", "old": "Vendor lead", "new": "New topic", "withheld": false},
        {"field": "contact.email", "old": null, "new": null, "withheld": true},
    ]);
    assert_eq!(
        changes_in_timeline(&w, &offered, &partner.token).await,
        vec![withheld.clone()]
    );
    let events = changes_in_feed(&w, &offered, &partner.token).await;
    assert_eq!(events, vec![withheld.clone()]);
    let feed_text = w
        .app
        .get("/api/v1/events?limit=200", &partner.token)
        .await
        .text;
    assert!(
        !feed_text.contains("new@c.example"),
        "the new e-mail leaked"
    );
    assert!(!feed_text.contains("jo@c.example"), "the old e-mail leaked");
    // The event is one for all its readers: the vendor's copy withholds too,
    // while the vendor's timeline shows the values.
    assert_eq!(
        changes_in_feed(&w, &offered, &w.app.admin()).await,
        vec![withheld]
    );
    let vendor_view = changes_in_timeline(&w, &offered, &w.cm.token).await;
    assert_eq!(
        vendor_view[0][1],
        json!({"field": "contact.email", "old": "jo@c.example", "new": "new@c.example", "withheld": false})
    );
    // Once the partner accepts, the contact is its to see, history included.
    w.app
        .act(&offered, "accept", &partner.token, None)
        .await
        .expect(200);
    let accepted_view = changes_in_timeline(&w, &offered, &partner.token).await;
    assert_eq!(accepted_view[0][1]["new"], "new@c.example");
}

/// The status changes actions made, each with what else it changed.
async fn status_changes(w: &World, id: &str, token: &str) -> Vec<Value> {
    timeline(w, id, token, "status_change", "status_change").await
}

#[actix_web::test]
async fn field_history_an_action_records_what_it_changed_beside_the_status() {
    let w = world().await;
    let partner = &w.res.admin;
    let id = accepted_by(&w, partner).await;
    let accepted = w.app.get(&opp_path(&id), &partner.token).await.expect(200);
    let expiry = accepted.body["expires_on"].as_str().unwrap().to_owned();
    let later = (chrono::NaiveDate::parse_from_str(&expiry, "%Y-%m-%d").unwrap()
        + chrono::Days::new(10))
    .to_string();
    w.app
        .act(
            &id,
            "extend",
            &partner.token,
            Some(json!({"expires_on": later})),
        )
        .await
        .expect(200);
    w.app
        .act(
            &id,
            "close",
            &partner.token,
            Some(json!({"outcome": "won", "reason": "signed",
                        "actual_revenue": {"amount": "48000", "currency": "EUR"}})),
        )
        .await
        .expect(200);
    let changes = status_changes(&w, &id, &partner.token).await;
    let by_action = |a: &str| {
        changes
            .iter()
            .find(|c| c["action"] == a)
            .unwrap_or_else(|| panic!("no {a} in {changes:?}"))["changes"]
            .clone()
    };
    assert_eq!(
        by_action("extend"),
        json!([
            {"field": "expires_on", "old": expiry, "new": later, "withheld": false},
            {"field": "extension_count", "old": 0, "new": 1, "withheld": false},
        ])
    );
    assert_eq!(
        by_action("close"),
        json!([
            {"field": "close_reason", "old": null, "new": "signed", "withheld": false},
            {"field": "actual_revenue", "old": null,
             "new": {"amount": "48000.00", "currency": "EUR"}, "withheld": false},
        ])
    );
    let accept = by_action("accept");
    assert_eq!(accept[0]["field"], "accept_by", "{accept}");
    assert!(
        accept[0]["new"].is_null(),
        "the answer deadline ends: {accept}"
    );
    // The action's event carries the same.
    let feed = w
        .app
        .get("/api/v1/events?limit=200", &partner.token)
        .await
        .expect(200);
    let extended = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "opportunity.extended" && e["data"]["opportunity_id"] == id.as_str())
        .expect("the extension's event")
        .clone();
    assert_eq!(extended["data"]["changes"], by_action("extend"));
}
