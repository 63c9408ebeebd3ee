//! Reason codes (DOMAIN.md, "Reasons"): decline, return, reject, cancel and
//! a lost close take a code from the vendor's list in the policy, plus an
//! optional text; `other` needs the text; the vendor's dashboard counts
//! declines and losses by reason and partner.

use crate::world::{World, accepted_by, delivered_to, draft, opp_path as path, world};
use diesel::connection::SimpleConnection;
use prm_tests::{Resp, TestUser, partner_opportunity};
use serde_json::{Value, json};

/// The timeline's newest status change.
async fn last_status_change(w: &World, id: &str) -> Value {
    let t = w
        .app
        .get(&format!("{}/timeline", path(id)), &w.cm.token)
        .await
        .expect(200);
    t.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "status_change")
        .unwrap_or_else(|| panic!("no status change: {}", t.text))["status_change"]
        .clone()
}

/// The `data` of the vendor's newest feed event of `kind` on `id`.
async fn event_data(w: &World, id: &str, kind: &str) -> Value {
    let feed = w
        .app
        .get("/api/v1/events?limit=200", &w.cm.token)
        .await
        .expect(200);
    feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["type"] == kind && e["data"]["opportunity_id"] == id)
        .unwrap_or_else(|| panic!("no {kind} event: {}", feed.text))["data"]
        .clone()
}

async fn decline(w: &World, id: &str, admin: &TestUser, body: Value) -> Resp {
    w.app.act(id, "decline", &admin.token, Some(body)).await
}

/// The only field a 422 names, and its message.
fn only_error(r: &Resp) -> (String, String) {
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.text);
    (
        errors[0]["field"].as_str().unwrap().to_owned(),
        errors[0]["message"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn a_decline_takes_a_reason_code_from_the_policy() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    let res = decline(
        &w,
        &id,
        &w.other.admin,
        json!({"reason_code": "no_capacity"}),
    )
    .await
    .expect(200);
    assert_eq!(res.body["status"], "declined");
    let change = last_status_change(&w, &id).await;
    assert_eq!(change["action"], "decline");
    assert_eq!(change["reason_code"], "no_capacity");
    assert_eq!(change["reason"], Value::Null, "the text is optional");
    let data = event_data(&w, &id, "opportunity.declined").await;
    assert_eq!(data["reason_code"], "no_capacity");
    assert_eq!(data["reason"], Value::Null);
    // A code with a text keeps both.
    let id = delivered_to(&w, &w.other.id).await;
    decline(
        &w,
        &id,
        &w.other.admin,
        json!({"reason_code": "not_our_territory", "reason": " Only Bavaria "}),
    )
    .await
    .expect(200);
    let change = last_status_change(&w, &id).await;
    assert_eq!(change["reason_code"], "not_our_territory");
    assert_eq!(change["reason"], "Only Bavaria");
}

#[actix_web::test]
async fn a_plain_reason_text_is_recorded_as_other() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    decline(&w, &id, &w.other.admin, json!({"reason": "too small"}))
        .await
        .expect(200);
    let change = last_status_change(&w, &id).await;
    assert_eq!(change["reason_code"], "other");
    assert_eq!(change["reason"], "too small");
    let data = event_data(&w, &id, "opportunity.declined").await;
    assert_eq!(data["reason_code"], "other");
    assert_eq!(data["reason"], "too small");
}

#[actix_web::test]
async fn other_reason_code_needs_text() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    let res = decline(&w, &id, &w.other.admin, json!({"reason_code": "other"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason");
    let res = decline(
        &w,
        &id,
        &w.other.admin,
        json!({"reason_code": "other", "reason": "   "}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason");
    decline(
        &w,
        &id,
        &w.other.admin,
        json!({"reason_code": "other", "reason": "moved abroad"}),
    )
    .await
    .expect(200);
}

#[actix_web::test]
async fn an_unknown_reason_code_is_a_422_listing_the_codes() {
    let w = world().await;
    w.app
        .set_policy(|p| p["reason_codes"] = json!(["too_small", "other"]))
        .await;
    let id = delivered_to(&w, &w.other.id).await;
    // `no_capacity` is a default the vendor's list leaves out.
    for code in ["no_capacity", "Too-Small"] {
        let res = decline(&w, &id, &w.other.admin, json!({"reason_code": code}))
            .await
            .expect_problem(422, "validation_failed");
        let (field, message) = only_error(&res);
        assert_eq!(field, "reason_code");
        assert!(message.contains("too_small, other"), "{message}");
    }
    let still = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert_eq!(still.body["status"], "delivered", "nothing changed");
    decline(&w, &id, &w.other.admin, json!({"reason_code": "too_small"}))
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_reason_body_gives_a_code_or_a_text() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    for body in [json!({}), json!({"reason_code": null, "reason": null})] {
        let res = decline(&w, &id, &w.other.admin, body)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(only_error(&res).0, "reason_code");
    }
    let res = decline(
        &w,
        &id,
        &w.other.admin,
        json!({"reason_code": "budget", "reason": "x".repeat(1001)}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason");
    let res = decline(&w, &id, &w.other.admin, json!({"reason_code": 7}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason_code");
}

#[actix_web::test]
async fn return_reject_and_cancel_take_reason_codes() {
    let w = world().await;
    let returned = accepted_by(&w, &w.other.admin).await;
    w.app
        .act(
            &returned,
            "return",
            &w.other.admin.token,
            Some(json!({"reason_code": "customer_not_interested"})),
        )
        .await
        .expect(200);
    assert_eq!(
        last_status_change(&w, &returned).await["reason_code"],
        "customer_not_interested"
    );
    let pending = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.other.am1.token,
            &partner_opportunity(&w.other.customer),
        )
        .await
        .expect(201)
        .id();
    w.app
        .act(
            &pending,
            "reject",
            &w.cm.token,
            Some(json!({"reason_code": "duplicate", "reason": "already ours"})),
        )
        .await
        .expect(200);
    let change = last_status_change(&w, &pending).await;
    assert_eq!(change["reason_code"], "duplicate");
    assert_eq!(change["reason"], "already ours");
    let canceled = draft(&w).await;
    w.app
        .act(
            &canceled,
            "cancel",
            &w.cm.token,
            Some(json!({"reason_code": "timing"})),
        )
        .await
        .expect(200);
    assert_eq!(
        last_status_change(&w, &canceled).await["reason_code"],
        "timing"
    );
    // Actions without a reason record no code.
    let accepted = accepted_by(&w, &w.res.admin).await;
    assert_eq!(
        last_status_change(&w, &accepted).await["reason_code"],
        Value::Null
    );
}

#[actix_web::test]
async fn a_lost_close_records_its_reason_code_on_the_opportunity() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let res = w
        .app
        .act(
            &id,
            "close",
            &w.other.admin.token,
            Some(json!({"outcome": "lost", "reason_code": "competitor", "reason": "chose a local firm"})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "lost");
    assert_eq!(res.body["close_reason_code"], "competitor");
    assert_eq!(res.body["close_reason"], "chose a local firm");
    let again = w.app.get(&path(&id), &w.cm.token).await.expect(200);
    assert_eq!(again.body["close_reason_code"], "competitor");
    let change = last_status_change(&w, &id).await;
    assert_eq!(change["reason_code"], "competitor");
    assert!(
        change["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({"field": "close_reason_code", "old": null, "new": "competitor", "withheld": false})),
        "{change}"
    );
    assert_eq!(
        event_data(&w, &id, "opportunity.closed").await["reason_code"],
        "competitor"
    );
    // A loss given only a text is `other`; one given neither is refused.
    let id = accepted_by(&w, &w.other.admin).await;
    let res = w
        .app
        .act(
            &id,
            "close",
            &w.other.admin.token,
            Some(json!({"outcome": "lost"})),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason_code");
    let res = w
        .app
        .act(
            &id,
            "close",
            &w.other.admin.token,
            Some(json!({"outcome": "lost", "reason": "budget cut"})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["close_reason_code"], "other");
}

#[actix_web::test]
async fn a_won_close_takes_no_reason_code() {
    let w = world().await;
    let id = accepted_by(&w, &w.other.admin).await;
    let won = |extra: Value| {
        let mut body =
            json!({"outcome": "won", "actual_revenue": {"amount": "48000", "currency": "EUR"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let res = w
        .app
        .act(
            &id,
            "close",
            &w.other.admin.token,
            Some(won(json!({"reason_code": "budget", "reason": "signed"}))),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(only_error(&res).0, "reason_code");
    // Its text is optional.
    let res = w
        .app
        .act(&id, "close", &w.other.admin.token, Some(won(json!({}))))
        .await
        .expect(200);
    assert_eq!(res.body["status"], "won");
    assert_eq!(res.body["close_reason"], Value::Null);
    assert_eq!(res.body["close_reason_code"], Value::Null);
    assert_eq!(
        last_status_change(&w, &id).await["reason_code"],
        Value::Null
    );
}

#[actix_web::test]
async fn policy_reason_codes_must_include_other() {
    let w = world().await;
    let policy = w
        .app
        .get("/api/v1/policies", &w.res.am1.token)
        .await
        .expect(200);
    assert_eq!(
        policy.body["reason_codes"],
        json!([
            "no_capacity",
            "not_our_territory",
            "customer_not_interested",
            "budget",
            "competitor",
            "timing",
            "duplicate",
            "other"
        ])
    );
    let mut body = policy.body.clone();
    for k in ["version", "updated_at"] {
        body.as_object_mut().unwrap().remove(k);
    }
    let put = |b: Value| {
        let app = &w.app;
        async move {
            app.send(
                app.client
                    .put(format!("{}/api/v1/policies", app.base))
                    .bearer_auth(app.admin())
                    .json(&b),
            )
            .await
        }
    };
    let with = |codes: Value| {
        let mut b = body.clone();
        b["reason_codes"] = codes;
        b
    };
    let fields = |r: Resp| {
        let mut f = r.expect_problem(422, "validation_failed").error_fields();
        f.sort();
        f
    };
    assert_eq!(
        fields(put(with(json!(["budget", "timing"]))).await),
        ["reason_codes"]
    );
    assert_eq!(fields(put(with(json!([]))).await), ["reason_codes"]);
    assert_eq!(
        fields(put(with(json!(["other", "Budget", "budget", "budget"]))).await),
        ["reason_codes[1]", "reason_codes[3]"]
    );
    let many: Vec<String> = (0..50).map(|i| format!("code_{i}")).collect();
    let mut too_many = many.clone();
    too_many.push("other".into());
    assert_eq!(fields(put(with(json!(too_many))).await), ["reason_codes"]);
    // Every failing field at once: a number and the codes.
    let mut both = with(json!(["budget"]));
    both["acceptance_window_hours"] = json!(0);
    assert_eq!(
        fields(put(both).await),
        ["acceptance_window_hours", "reason_codes"]
    );
    // A PUT replaces the whole policy: the list is required.
    let mut without = body.clone();
    without.as_object_mut().unwrap().remove("reason_codes");
    assert_eq!(fields(put(without).await), ["reason_codes"]);
    let res = put(with(json!(["too_small", "late", "other"])))
        .await
        .expect(200);
    assert_eq!(
        res.body["reason_codes"],
        json!(["too_small", "late", "other"])
    );
    let again = w
        .app
        .get("/api/v1/policies", &w.other.admin.token)
        .await
        .expect(200);
    assert_eq!(
        again.body["reason_codes"],
        json!(["too_small", "late", "other"])
    );
}

#[actix_web::test]
async fn past_reasons_keep_their_code_when_the_policy_drops_it() {
    let w = world().await;
    let id = delivered_to(&w, &w.other.id).await;
    decline(&w, &id, &w.other.admin, json!({"reason_code": "budget"}))
        .await
        .expect(200);
    w.app
        .set_policy(|p| p["reason_codes"] = json!(["other"]))
        .await;
    assert_eq!(last_status_change(&w, &id).await["reason_code"], "budget");
    let vendor = w
        .app
        .get("/api/v1/dashboard", &w.cm.token)
        .await
        .expect(200);
    assert_eq!(vendor.body["reasons_90d"][0]["reason_code"], "budget");
}

#[actix_web::test]
async fn the_vendor_dashboard_counts_declines_and_losses_by_reason_and_partner() {
    let w = world().await;
    // Other declines twice for lack of capacity, once with a text only.
    for body in [
        json!({"reason_code": "no_capacity"}),
        json!({"reason_code": "no_capacity", "reason": "full"}),
        json!({"reason": "not for us"}),
    ] {
        let id = delivered_to(&w, &w.other.id).await;
        decline(&w, &id, &w.other.admin, body).await.expect(200);
    }
    // Res declines one, then loses one to a competitor, and loses one
    // taken over from the vendor on budget.
    let id = delivered_to(&w, &w.res.id).await;
    decline(&w, &id, &w.res.admin, json!({"reason_code": "budget"}))
        .await
        .expect(200);
    for code in ["competitor", "budget"] {
        let id = accepted_by(&w, &w.res.admin).await;
        w.app
            .act(
                &id,
                "close",
                &w.cm.token,
                Some(json!({"outcome": "lost", "reason_code": code})),
            )
            .await
            .expect(200);
    }
    // Dist wins one, which has no code, and a loss older than 90 days is
    // outside the window.
    let id = accepted_by(&w, &w.dist.admin).await;
    w.app
        .act(
            &id,
            "close",
            &w.dist.admin.token,
            Some(json!({"outcome": "won", "actual_revenue": {"amount": "1", "currency": "EUR"}})),
        )
        .await
        .expect(200);
    let old = accepted_by(&w, &w.dist.admin).await;
    w.app
        .act(
            &old,
            "close",
            &w.dist.admin.token,
            Some(json!({"outcome": "lost", "reason_code": "timing"})),
        )
        .await
        .expect(200);
    w.app.sql(&format!(
        "UPDATE opportunities SET closed_at = now() - interval '91 days' WHERE id = '{old}'"
    ));
    let d = w
        .app
        .get("/api/v1/dashboard", &w.cm.token)
        .await
        .expect(200);
    let row = |org: &str, name: &str, code: &str, declined: i64, lost: i64| {
        json!({"partner_id": org, "partner_name": name, "reason_code": code,
               "declined": declined, "lost": lost})
    };
    assert_eq!(
        d.body["reasons_90d"],
        json!([
            row(&w.other.id, "Other", "no_capacity", 2, 0),
            row(&w.other.id, "Other", "other", 1, 0),
            row(&w.res.id, "Res", "budget", 1, 1),
            row(&w.res.id, "Res", "competitor", 0, 1),
        ]),
        "by partner name, then code"
    );
    // The losses agree with each partner's `lost_90d`.
    for p in d.body["partners"].as_array().unwrap() {
        let lost: i64 = d.body["reasons_90d"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["partner_id"] == p["org_id"])
            .map(|r| r["lost"].as_i64().unwrap())
            .sum();
        assert_eq!(lost, p["lost_90d"].as_i64().unwrap(), "{p}");
    }
    // Partners see their own dashboard, without the vendor's figures.
    let mine = w
        .app
        .get("/api/v1/dashboard", &w.res.admin.token)
        .await
        .expect(200);
    assert_eq!(mine.body["kind"], "partner");
    assert!(mine.body.get("reasons_90d").is_none());
}

/// The migration's backfill, run again on data the API wrote: its down then
/// its up. What was given before codes existed was a text alone, recorded
/// now as `other`; the system's transitions and reasonless actions keep none.
#[actix_web::test]
async fn the_migration_records_past_reason_texts_as_other() {
    let w = world().await;
    let declined = delivered_to(&w, &w.other.id).await;
    decline(&w, &declined, &w.other.admin, json!({"reason": "busy"}))
        .await
        .expect(200);
    assert_eq!(w.app.tick().reassigned, 1, "the system re-assigns it");
    let lost = accepted_by(&w, &w.res.admin).await;
    w.app
        .act(
            &lost,
            "close",
            &w.res.admin.token,
            Some(json!({"outcome": "lost", "reason_code": "competitor", "reason": "price"})),
        )
        .await
        .expect(200);
    let won = accepted_by(&w, &w.dist.admin).await;
    w.app
        .act(
            &won,
            "close",
            &w.dist.admin.token,
            Some(json!({"outcome": "won", "reason": "signed", "actual_revenue": {"amount": "1", "currency": "EUR"}})),
        )
        .await
        .expect(200);
    w.app.sql(include_str!(
        "../../migrations/2026-12-05-000012_reason_codes/down.sql"
    ));
    w.app.sql(include_str!(
        "../../migrations/2026-12-05-000012_reason_codes/up.sql"
    ));
    let count = |sql: &str| w.app.count(sql);
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{lost}' \
             AND action = 'close' AND reason_code = 'other'"
        )),
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM opportunities WHERE id = '{lost}' AND close_reason_code = 'other'"
        )),
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{declined}' \
             AND reason_code IS NOT NULL"
        )),
        1,
        "the decline; the system's re-assignment (with its own text) has none"
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{declined}' \
             AND action = 'decline' AND reason_code = 'other'"
        )),
        1
    );
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{won}' \
             AND reason_code IS NOT NULL"
        )),
        0,
        "a win has no code"
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM policies \
             WHERE reason_codes = '{no_capacity,not_our_territory,customer_not_interested,budget,competitor,timing,duplicate,other}'"
        ),
        1
    );
    // Events stay append-only.
    assert!(
        w.app
            .db
            .conn()
            .batch_execute("UPDATE opportunity_events SET reason_code = 'budget'")
            .is_err()
    );
}
