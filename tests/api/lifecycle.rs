//! The lifecycle over HTTP: every transition of DOMAIN.md's table with the
//! actors it lists, the cross-cutting rules, and `allowed_actions` agreeing
//! with what the endpoints do.

use crate::world::{accepted_by, actions, delivered_to, draft, opp_path as path, world};
use prm_tests::{Resp, TestUser, partner_opportunity};
use serde_json::{Value, json};

#[actix_web::test]
async fn vendor_distributes_partner_accepts_works_and_closes_won() {
    let w = world().await;
    let id = draft(&w).await;
    let res = w
        .app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.other.id})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "delivered");
    assert_eq!(res.body["primary_partner_id"], w.other.id);
    let deadline =
        chrono::DateTime::parse_from_rfc3339(res.body["accept_by"].as_str().unwrap()).unwrap();
    let hours =
        (deadline.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (71.0..=72.1).contains(&hours),
        "default window is the policy's 72 h, got {hours}"
    );

    let offered = w
        .app
        .get(
            "/api/v1/opportunities?view=distributed",
            &w.other.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(offered.body["items"][0]["id"], id);
    assert!(offered.body["items"][0]["contact"]["email"].is_null());
    assert_eq!(
        actions(
            &w.app
                .get(&path(&id), &w.other.admin.token)
                .await
                .expect(200)
        ),
        ["accept", "decline", "assign_owner", "add_note"]
    );

    let res = w
        .app
        .act(&id, "accept", &w.other.admin.token, None)
        .await
        .expect(200);
    assert_eq!(res.body["status"], "accepted");
    assert_eq!(res.body["owner_org_id"], w.other.id);
    assert_eq!(res.body["owner_user_id"], w.other.admin.id);
    assert_eq!(res.body["contact"]["email"], "jo@c.example");
    assert!(
        res.body["expires_on"].is_string(),
        "validity starts on acceptance"
    );
    assert!(res.body["accept_by"].is_null());

    let res = w
        .app
        .act(
            &id,
            "assign-owner",
            &w.other.admin.token,
            Some(json!({"user_id": w.other.am1.id})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["owner_user_id"], w.other.am1.id);
    let mine = w
        .app
        .get("/api/v1/opportunities?view=mine", &w.other.am1.token)
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["id"], id);

    w.app
        .post(&format!("{}/progress", path(&id)), &w.other.am1.token,
              &json!({"development_phase": "propose", "win_probability": 60, "progress_details": "Proposal sent"}))
        .await
        .expect(201);
    let seen = w.app.get(&path(&id), &w.other.am1.token).await.expect(200);
    assert_eq!(seen.body["pipeline_phase"], "propose");
    assert_eq!(seen.body["win_probability"], 60);

    let res = w
        .app
        .act(&id, "close", &w.other.am1.token,
             Some(json!({"outcome": "won", "reason": "signed", "actual_revenue": {"amount": "48000", "currency": "EUR"}})))
        .await
        .expect(200);
    assert_eq!(res.body["status"], "won");
    assert_eq!(res.body["close_reason"], "signed");
    assert_eq!(
        res.body["actual_revenue"],
        json!({"amount": "48000.00", "currency": "EUR"})
    );
    assert_eq!(
        actions(&res),
        ["add_note"],
        "a closed opportunity only takes notes"
    );

    let timeline = w
        .app
        .get(&format!("{}/timeline", path(&id)), &w.cm.token)
        .await
        .expect(200);
    let kinds: Vec<String> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["status_change"]["action"]
                .as_str()
                .unwrap_or(i["kind"].as_str().unwrap())
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["close", "progress", "accept", "distribute", "create"],
        "newest first"
    );
}

#[actix_web::test]
async fn decline_sends_it_back_to_the_vendor_and_hides_it_from_the_partner() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    let res = w
        .app
        .act(
            &id,
            "decline",
            &w.other.admin.token,
            Some(json!({"reason": "no capacity"})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "declined");
    w.app
        .get(&path(&id), &w.other.admin.token)
        .await
        .expect_problem(404, "not_found");
    let vendor_view = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert!(actions(&vendor_view).contains(&"distribute".to_owned()));
    w.app
        .act(&id, "decline", &w.other.admin.token, Some(json!({})))
        .await
        .expect_problem(422, "validation_failed");
    // Redistributed to another partner, who does not see the earlier decline.
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect(200);
    let timeline = w
        .app
        .get(&format!("{}/timeline", path(&id)), &w.res.admin.token)
        .await
        .expect(200);
    assert!(
        !timeline.text.contains("no capacity"),
        "another partner's reason stays hidden"
    );
    assert_eq!(timeline.body["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn return_gives_the_opportunity_back_to_its_vendor_creator() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let res = w
        .app
        .act(
            &id,
            "return",
            &w.other.admin.token,
            Some(json!({"reason": "customer went quiet"})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "returned");
    let vendor_view = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert_eq!(vendor_view.body["owner_user_id"], w.cm.id);
    w.app
        .get(&path(&id), &w.other.admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn partner_created_opportunity_is_approved_rejected_or_withdrawn() {
    let w = world().await;
    let create = |u: &TestUser| {
        let body = partner_opportunity(&w.res.customer);
        let token = u.token.clone();
        let app = &w.app;
        async move {
            app.post("/api/v1/opportunities", &token, &body)
                .await
                .expect(201)
                .id()
        }
    };
    let a = create(&w.res.am1).await;
    let res = w
        .app
        .act(&a, "approve", &w.cm.token, None)
        .await
        .expect(200);
    assert_eq!(res.body["status"], "accepted");
    assert_eq!(res.body["primary_partner_id"], w.res.id);
    assert!(
        actions(&w.app.get(&path(&a), &w.res.am1.token).await.expect(200))
            .contains(&"close".to_owned())
    );
    w.app
        .act(&a, "approve", &w.res.admin.token, None)
        .await
        .expect_problem(403, "forbidden");

    let b = create(&w.res.am1).await;
    let res = w
        .app
        .act(
            &b,
            "reject",
            &w.cm.token,
            Some(json!({"reason": "duplicate"})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "rejected");
    let seen = w.app.get(&path(&b), &w.res.am1.token).await.expect(200);
    assert_eq!(
        seen.body["status"], "rejected",
        "its own stays visible, ended"
    );

    let c = create(&w.res.am1).await;
    w.app
        .act(&c, "withdraw", &w.res.am2.token, None)
        .await
        .expect_problem(404, "not_found");
    w.app
        .act(&c, "withdraw", &w.res.director.token, None)
        .await
        .expect_problem(403, "forbidden");
    let res = w
        .app
        .act(&c, "withdraw", &w.res.admin.token, None)
        .await
        .expect(200);
    assert_eq!(res.body["status"], "canceled");
}

#[actix_web::test]
async fn collaboration_is_accepted_at_once_and_collaborators_only_read_note_and_report() {
    let w = world().await;
    let id = draft(&w).await;
    let res = w
        .app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.dist.id, "collaborator_ids": [w.other.id]})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "accepted");
    assert_eq!(res.body["collaborator_ids"], json!([w.other.id]));
    let collab = w
        .app
        .get(
            "/api/v1/opportunities?view=collaborating",
            &w.other.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(collab.body["items"][0]["id"], id);
    for (action, body) in [
        ("close", json!({"outcome": "lost", "reason": "x"})),
        ("extend", json!({"expires_on": "2099-01-01"})),
        ("return", json!({"reason": "x"})),
    ] {
        w.app
            .act(&id, action, &w.other.admin.token, Some(body))
            .await
            .expect_problem(403, "forbidden");
    }
    w.app
        .post(
            &format!("{}/notes", path(&id)),
            &w.other.admin.token,
            &json!({"body": "we can help"}),
        )
        .await
        .expect(201);
    w.app
        .post(
            &format!("{}/progress", path(&id)),
            &w.other.admin.token,
            &json!({"development_phase": "qualify", "win_probability": 10}),
        )
        .await
        .expect(201);
    // Partners never assign an opportunity to another partner.
    w.app
        .post(
            &format!("{}/collaborators", path(&id)),
            &w.dist.admin.token,
            &json!({"org_id": w.res.id}),
        )
        .await
        .expect_problem(403, "forbidden");
    let res = w
        .app
        .post(
            &format!("{}/collaborators", path(&id)),
            &w.cm.token,
            &json!({"org_id": w.res.id}),
        )
        .await
        .expect(200);
    let mut ids: Vec<String> = res.body["collaborator_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![w.other.id.clone(), w.res.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let list = w
        .app
        .get(&format!("{}/collaborators", path(&id)), &w.dist.admin.token)
        .await
        .expect(200);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    w.app
        .delete(
            &format!("{}/collaborators/{}", path(&id), w.other.id),
            &w.cm.token,
        )
        .await
        .expect(200);
    w.app
        .get(&path(&id), &w.other.admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn extensions_follow_the_policy() {
    let w = world().await;
    let policy = w
        .app
        .get("/api/v1/policies", &w.other.admin.token)
        .await
        .expect(200);
    let mut p = policy.body.clone();
    for k in ["version", "updated_at"] {
        p.as_object_mut().unwrap().remove(k);
    }
    p["max_extensions"] = json!(1);
    p["max_extension_days"] = json!(30);
    p["opportunity_validity_days"] = json!(10);
    w.app
        .send(
            w.app
                .client
                .put(format!("{}/api/v1/policies", w.app.base))
                .bearer_auth(&w.cm.token)
                .json(&p),
        )
        .await
        .expect_problem(403, "forbidden");
    w.app
        .send(
            w.app
                .client
                .put(format!("{}/api/v1/policies", w.app.base))
                .bearer_auth(w.app.admin())
                .json(&p),
        )
        .await
        .expect(200);
    let id = accepted_by(&w, &w.other.admin).await;
    // Each extension moves the current expiry forward by at most
    // `max_extension_days` (DOMAIN.md, second edition).
    let current: chrono::NaiveDate = w
        .app
        .get(&format!("/api/v1/opportunities/{id}"), &w.other.admin.token)
        .await
        .expect(200)
        .body["expires_on"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let too_far = (current + chrono::Days::new(31)).to_string();
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": too_far})),
        )
        .await;
    let res = res.expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["expires_on"]);
    let ok = (current + chrono::Days::new(30)).to_string();
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": ok})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["extension_count"], 1);
    assert_eq!(res.body["expires_on"], ok.as_str());
    w.app
        .act(&id, "extend", &w.cm.token, Some(json!({"expires_on": ok})))
        .await
        .expect_problem(409, "extension_limit_reached");
}

#[actix_web::test]
async fn a_transition_from_the_wrong_status_is_409_with_status_and_allowed_actions() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let res = w
        .app
        .act(&id, "accept", &w.other.admin.token, None)
        .await
        .expect_problem(409, "invalid_transition");
    assert_eq!(res.body["current_status"], "accepted");
    let allowed: Vec<&str> = res.body["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(allowed.contains(&"close") && !allowed.contains(&"accept"));
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect_problem(409, "invalid_transition");
    w.app
        .act(
            &id,
            "cancel",
            &w.cm.token,
            Some(json!({"reason": "program closed"})),
        )
        .await
        .expect(200);
    w.app
        .act(&id, "cancel", &w.cm.token, Some(json!({"reason": "again"})))
        .await
        .expect_problem(409, "invalid_transition");
}

#[actix_web::test]
async fn distribution_checks_its_targets() {
    let w = world().await;
    let id = draft(&w).await;
    let vendor = w.app.vendor_id().await;
    let res = w
        .app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": vendor})),
        )
        .await;
    assert_eq!(
        res.expect_problem(422, "validation_failed").error_fields(),
        ["partner_id"]
    );
    let res = w
        .app
        .act(&id, "distribute", &w.cm.token, Some(json!({"partner_id": w.res.id, "collaborator_ids": [w.res.id, uuid::Uuid::now_v7()]})))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        res.error_fields(),
        ["collaborator_ids[0]", "collaborator_ids[1]"]
    );
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id, "accept_by": "2001-01-01T00:00:00Z"})),
        )
        .await
        .expect_problem(422, "validation_failed");
    w.app
        .patch(
            &format!("/api/v1/orgs/{}", w.res.id),
            &w.res.admin.token,
            &json!({"profile": {"accepting": false}}),
        )
        .await
        .expect(200);
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect_problem(409, "partner_not_accepting");
    // A partner may not distribute, and learns nothing about targets trying.
    w.app
        .act(
            &id,
            "distribute",
            &w.res.admin.token,
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn partners_move_phases_forward_and_progress_entries_are_append_only() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let p = format!("{}/progress", path(&id));
    w.app
        .post(
            &p,
            &w.other.admin.token,
            &json!({"development_phase": "negotiate", "win_probability": 70}),
        )
        .await
        .expect(201);
    let res = w
        .app
        .post(
            &p,
            &w.other.admin.token,
            &json!({"development_phase": "develop", "win_probability": 70}),
        )
        .await;
    assert_eq!(
        res.expect_problem(422, "validation_failed").error_fields(),
        ["development_phase"]
    );
    let res = w
        .app
        .post(
            &p,
            &w.other.admin.token,
            &json!({"development_phase": "commit", "win_probability": 101}),
        )
        .await;
    assert_eq!(
        res.expect_problem(422, "validation_failed").error_fields(),
        ["win_probability"]
    );
    w.app
        .post(
            &p,
            &w.cm.token,
            &json!({"development_phase": "qualify", "win_probability": 20}),
        )
        .await
        .expect(201);
    let list = w.app.get(&p, &w.other.director.token).await.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        list.body["items"][0]["development_phase"], "qualify",
        "newest first"
    );
    w.app
        .post(
            &p,
            &w.other.director.token,
            &json!({"development_phase": "commit", "win_probability": 90}),
        )
        .await
        .expect_problem(403, "forbidden");
    // The database itself refuses to change or delete an entry.
    use diesel::connection::SimpleConnection;
    let mut conn = w.app.db.conn();
    let update = conn.batch_execute("UPDATE progress_entries SET win_probability = 0");
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.batch_execute("DELETE FROM progress_entries");
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let truncate = conn.batch_execute("TRUNCATE progress_entries");
    assert!(truncate.is_err());
}

#[actix_web::test]
async fn internal_notes_are_visible_only_to_the_authors_org() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let n = format!("{}/notes", path(&id));
    w.app
        .post(
            &n,
            &w.other.admin.token,
            &json!({"body": "partner only", "internal": true}),
        )
        .await
        .expect(201);
    w.app
        .post(&n, &w.other.admin.token, &json!({"body": "for everyone"}))
        .await
        .expect(201);
    w.app
        .post(
            &n,
            &w.cm.token,
            &json!({"body": "vendor only", "internal": true}),
        )
        .await
        .expect(201);
    let bodies = |r: &Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        bodies(&w.app.get(&n, &w.cm.token).await.expect(200)),
        ["vendor only", "for everyone"]
    );
    assert_eq!(
        bodies(&w.app.get(&n, &w.other.director.token).await.expect(200)),
        ["for everyone", "partner only"]
    );
    let timeline = w
        .app
        .get(&format!("{}/timeline", path(&id)), &w.cm.token)
        .await
        .expect(200);
    assert!(!timeline.text.contains("partner only"));
    w.app
        .post(&n, &w.viewer.token, &json!({"body": "viewer"}))
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn every_status_event_is_recorded_with_actor_time_and_reason() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    w.app
        .act(
            &id,
            "decline",
            &w.other.admin.token,
            Some(json!({"reason": "too small"})),
        )
        .await
        .expect(200);
    let t = w
        .app
        .get(&format!("{}/timeline", path(&id)), &w.cm.token)
        .await
        .expect(200);
    let first = &t.body["items"][0];
    assert_eq!(first["kind"], "status_change");
    assert_eq!(first["actor_user_id"], w.other.admin.id);
    assert_eq!(first["actor_org_id"], w.other.id);
    let mut change = first["status_change"].clone();
    let side_effects = change["changes"].take();
    change.as_object_mut().unwrap().remove("changes");
    assert_eq!(
        change,
        json!({"action": "decline", "from": "delivered", "to": "declined", "reason": "too small",
               "reason_code": "other"})
    );
    // The declined offer's answer deadline ends with it.
    assert_eq!(side_effects[0]["field"], "accept_by", "{side_effects}");
    assert!(side_effects[0]["new"].is_null());
    assert!(first["created_at"].is_string());
}

/// For each action in `allowed_actions`, the endpoint accepts the caller
/// (412 for a stale `If-Match`, so nothing changes); for each action not in
/// it, the endpoint refuses (403, 404 or 409).
#[actix_web::test]
async fn allowed_actions_agree_with_the_endpoints() {
    let w = world().await;
    let delivered = delivered_to(&w, &w.other.id).await;
    let accepted = accepted_by(&w, &w.dist.admin).await;
    w.app
        .post(
            &format!("{}/collaborators", path(&accepted)),
            &w.cm.token,
            &json!({"org_id": w.other.id}),
        )
        .await
        .expect(200);
    let pending = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &partner_opportunity(&w.res.customer),
        )
        .await
        .expect(201)
        .id();
    let d = draft(&w).await;
    let future = (chrono::Utc::now().date_naive() + chrono::Days::new(20)).to_string();
    let bodies: Vec<(&str, Option<Value>)> = vec![
        ("approve", None),
        ("reject", Some(json!({"reason": "r"}))),
        ("withdraw", None),
        ("distribute", Some(json!({"partner_id": w.res.id}))),
        ("auto-assign", None),
        ("accept", None),
        ("decline", Some(json!({"reason": "r"}))),
        ("return", Some(json!({"reason": "r"}))),
        ("close", Some(json!({"outcome": "lost", "reason": "r"}))),
        ("extend", Some(json!({"expires_on": future}))),
        ("cancel", Some(json!({"reason": "r"}))),
        (
            "assign-owner",
            Some(json!({"user_id": "00000000-0000-0000-0000-000000000000"})),
        ),
    ];
    let cast: Vec<(&TestUser, &str)> = vec![
        (&w.cm, "cm"),
        (&w.viewer, "viewer"),
        (&w.other.admin, "other admin"),
        (&w.other.am1, "other am"),
        (&w.dist.admin, "dist admin"),
        (&w.dist.director, "dist director"),
        (&w.res.am1, "res am1"),
        (&w.res.admin, "res admin"),
    ];
    let mut checked = 0;
    for id in [&delivered, &accepted, &pending, &d] {
        for (user, who) in &cast {
            let seen = w.app.get(&path(id), &user.token).await;
            let allowed: Vec<String> = if seen.status == 200 {
                actions(&seen)
            } else {
                vec![]
            };
            for (action, body) in &bodies {
                let name = action.replace('-', "_");
                let res = w
                    .app
                    .act_if_match(id, action, &user.token, Some("\"999999\""), body.clone())
                    .await;
                checked += 1;
                if allowed.contains(&name) {
                    // assign-owner validates the user after If-Match.
                    assert_eq!(
                        res.status, 412,
                        "{who} {action} on {}: {}",
                        seen.body["status"], res.text
                    );
                } else {
                    assert!(
                        [403, 404, 409].contains(&res.status),
                        "{who} {action} on {}: {} {}",
                        seen.body["status"],
                        res.status,
                        res.text
                    );
                }
            }
            let edit = w
                .app
                .patch_if_match(&path(id), &user.token, "\"999999\"", &json!({"topic": "t"}))
                .await;
            assert_eq!(
                edit.status == 412,
                allowed.contains(&"edit".to_owned()),
                "{who} edit: {}",
                edit.text
            );
        }
    }
    assert!(checked >= 300, "{checked} checks");
}

#[actix_web::test]
async fn the_collaborators_on_an_opportunity_row_follow_concurrent_changes() {
    // Opportunities carry their collaborators as an array column kept by
    // triggers on opportunity_collaborators; two changes at once must both
    // land in it, in org id order, and agree with the table.
    let w = world().await;
    let id = accepted_by(&w, &w.dist.admin).await;
    let add = |org: String| {
        let app = &w.app;
        let token = w.cm.token.clone();
        let id = id.clone();
        async move {
            app.post(
                &format!("{}/collaborators", path(&id)),
                &token,
                &json!({"org_id": org}),
            )
            .await
        }
    };
    let (a, b) = futures_util::future::join(add(w.other.id.clone()), add(w.res.id.clone())).await;
    a.expect(200);
    b.expect(200);
    let mut expected = vec![w.other.id.clone(), w.res.id.clone()];
    expected.sort();
    let got = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert_eq!(got.body["collaborator_ids"], json!(expected));
    let in_table = w.app.count(&format!(
        "SELECT count(*) AS n FROM opportunities o WHERE o.id = '{id}' AND o.collaborator_ids = \
         ARRAY(SELECT org_id FROM opportunity_collaborators WHERE opportunity_id = o.id ORDER BY org_id)"
    ));
    assert_eq!(in_table, 1);
    // Removing one rewrites the array too.
    let removed = w
        .app
        .delete(
            &format!("{}/collaborators/{}", path(&id), w.other.id),
            &w.cm.token,
        )
        .await
        .expect(200);
    assert_eq!(removed.body["collaborator_ids"], json!([w.res.id]));
    let got = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert_eq!(got.body["collaborator_ids"], json!([w.res.id]));
}
