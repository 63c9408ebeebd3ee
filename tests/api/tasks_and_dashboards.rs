//! Marketing tasks, policies, dashboards (agreeing with lists), list filters
//! and sorts, and customer-name masking.

use crate::world::{World, approve, registered, world};
use prm_tests::{Resp, TestUser, partner_opportunity};
use serde_json::{Value, json};

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every id of a list, following cursors.
async fn all_ids(w: &World, query: &str, user: &TestUser) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&limit=2&cursor={c}"),
            None => format!("{query}&limit=2"),
        };
        let page = w
            .app
            .get(&format!("/api/v1/opportunities?{q}"), &user.token)
            .await
            .expect(200);
        out.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn vendor_opp(w: &World, topic: &str, amount: &str, close: &str) -> String {
    w.app
        .post("/api/v1/opportunities", &w.cm.token,
              &json!({"topic": topic, "customer_id": w.vendor_customer,
                      "estimated_revenue": {"amount": amount, "currency": "EUR"}, "expected_close_date": close}))
        .await
        .expect(201)
        .id()
}

#[actix_web::test]
async fn marketing_tasks_link_opportunities_and_count_them() {
    let w = world().await;
    let body = json!({"name": "Q1 push", "product_lines": ["cloud"], "starts_on": "2027-01-01", "ends_on": "2027-03-31"});
    w.app
        .post("/api/v1/marketing-tasks", &w.res.admin.token, &body)
        .await
        .expect_problem(403, "forbidden");
    w.app
        .post("/api/v1/marketing-tasks", &w.viewer.token, &body)
        .await
        .expect_problem(403, "forbidden");
    let task = w
        .app
        .post("/api/v1/marketing-tasks", &w.cm.token, &body)
        .await
        .expect(201)
        .id();
    let mut opp = partner_opportunity(&w.res.customer);
    opp["marketing_task_id"] = json!(task);
    let created = w
        .app
        .post("/api/v1/opportunities", &w.res.am1.token, &opp)
        .await
        .expect(201);
    assert_eq!(created.body["marketing_task_id"], task);
    w.app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "t", "customer_id": w.vendor_customer, "marketing_task_id": task}),
        )
        .await
        .expect(201);
    let vendor_view = w
        .app
        .get(&format!("/api/v1/marketing-tasks/{task}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(vendor_view.body["opportunity_count"], 2);
    let partner_view = w
        .app
        .get(
            &format!("/api/v1/marketing-tasks/{task}"),
            &w.res.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(
        partner_view.body["opportunity_count"], 1,
        "only what the partner may see"
    );
    let list = w
        .app
        .get("/api/v1/marketing-tasks", &w.other.am1.token)
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    opp["marketing_task_id"] = json!(uuid::Uuid::now_v7());
    let res = w
        .app
        .post("/api/v1/opportunities", &w.res.am1.token, &opp)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["marketing_task_id"]);
    let bad = w
        .app
        .post(
            "/api/v1/marketing-tasks",
            &w.cm.token,
            &json!({"name": "x", "starts_on": "2027-02-01", "ends_on": "2027-01-01"}),
        )
        .await;
    bad.expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn policy_is_readable_by_all_and_validated() {
    let w = world().await;
    let p = w
        .app
        .get("/api/v1/policies", &w.res.am1.token)
        .await
        .expect(200);
    assert_eq!(p.body["acceptance_window_hours"], 72);
    assert_eq!(p.body["weights"]["country"], 30);
    let mut body: Value = p.body.clone();
    body.as_object_mut().unwrap().remove("version");
    body.as_object_mut().unwrap().remove("updated_at");
    body["acceptance_window_hours"] = json!(0);
    body["weights"]["tier"] = json!(101);
    let put = |b: Value, t: String| {
        let app = &w.app;
        async move {
            app.send(
                app.client
                    .put(format!("{}/api/v1/policies", app.base))
                    .bearer_auth(t)
                    .json(&b),
            )
            .await
        }
    };
    let res = put(body.clone(), w.app.admin())
        .await
        .expect_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["acceptance_window_hours", "weights.tier"]);
    body["acceptance_window_hours"] = json!(24);
    body["weights"]["tier"] = json!(10);
    let res = put(body.clone(), w.app.admin()).await.expect(200);
    assert_eq!(res.body["version"], 2);
    let stale = w
        .app
        .send(
            w.app
                .client
                .put(format!("{}/api/v1/policies", w.app.base))
                .bearer_auth(w.app.admin())
                .header("If-Match", "\"1\"")
                .json(&body),
        )
        .await;
    stale.expect_problem(412, "version_mismatch");
}

#[actix_web::test]
async fn partner_dashboard_agrees_with_the_lists() {
    let w = world().await;
    // Offers, accepted ones, a collaboration, closed ones.
    for _ in 0..2 {
        let id = vendor_opp(&w, "offer", "1000", "2027-01-01").await;
        w.app
            .act(
                &id,
                "distribute",
                &w.cm.token,
                Some(json!({"partner_id": w.other.id})),
            )
            .await
            .expect(200);
    }
    let mut accepted = Vec::new();
    for phase in ["develop", "propose", "propose"] {
        let id = vendor_opp(&w, "accepted", "2500.50", "2027-02-01").await;
        w.app
            .act(
                &id,
                "distribute",
                &w.cm.token,
                Some(json!({"partner_id": w.other.id})),
            )
            .await
            .expect(200);
        w.app
            .act(&id, "accept", &w.other.admin.token, None)
            .await
            .expect(200);
        w.app
            .post(
                &format!("/api/v1/opportunities/{id}/progress"),
                &w.other.admin.token,
                &json!({"development_phase": phase, "win_probability": 50}),
            )
            .await
            .expect(201);
        accepted.push(id);
    }
    w.app.act(&accepted[0], "close", &w.other.admin.token, Some(json!({"outcome": "won", "reason": "ok", "actual_revenue": {"amount": "2400", "currency": "EUR"}}))).await.expect(200);
    let collab = vendor_opp(&w, "collab", "10", "2027-03-01").await;
    w.app
        .act(
            &collab,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id, "collaborator_ids": [w.other.id]})),
        )
        .await
        .expect(200);

    let d = w
        .app
        .get("/api/v1/dashboard", &w.other.admin.token)
        .await
        .expect(200);
    assert_eq!(d.body["kind"], "partner");
    let count = |q: String| {
        let w = &w;
        async move { all_ids(w, &q, &w.other.admin).await }
    };
    assert_eq!(
        d.body["distributed"]["count"].as_u64().unwrap() as usize,
        count("view=distributed".to_owned()).await.len()
    );
    assert_eq!(d.body["distributed"]["count"], 2);
    assert_eq!(
        d.body["distributed"]["value"],
        json!([{"amount": "2000.00", "currency": "EUR"}])
    );
    assert!(d.body["distributed"]["next_deadline"].is_string());
    assert_eq!(
        d.body["managed"]["count"].as_u64().unwrap() as usize,
        count("view=managed".to_owned()).await.len()
    );
    assert_eq!(d.body["managed"]["count"], 2);
    assert_eq!(d.body["managed"]["by_phase"]["propose"], 2);
    assert_eq!(
        d.body["managed"]["by_phase"]["propose"].as_u64().unwrap() as usize,
        count("view=managed&phase=propose".to_owned()).await.len()
    );
    assert_eq!(
        d.body["managed"]["collaborating"].as_u64().unwrap() as usize,
        count("view=collaborating&status=accepted".to_owned())
            .await
            .len()
    );
    assert_eq!(d.body["managed"]["collaborating"], 1);
    let soon = (chrono::Utc::now() + chrono::Duration::days(14)).date_naive();
    assert_eq!(
        d.body["managed"]["expiring_soon"].as_u64().unwrap() as usize,
        count(format!("view=managed&expires_before={soon}"))
            .await
            .len()
    );
    let since = (chrono::Utc::now() - chrono::Duration::days(90))
        .to_rfc3339()
        .replace('+', "%2B");
    let won = count(format!(
        "status=won&partner_id={}&closed_since={since}",
        w.other.id
    ))
    .await
    .len();
    assert_eq!(d.body["closed_90d"]["won"].as_u64().unwrap() as usize, won);
    assert_eq!(won, 1);
    assert_eq!(d.body["win_rate"], 1.0);

    let v = w
        .app
        .get("/api/v1/dashboard", &w.viewer.token)
        .await
        .expect(200);
    assert_eq!(v.body["kind"], "vendor");
    let other = v.body["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["org_id"] == w.other.id)
        .unwrap()
        .clone();
    assert_eq!(other["delivered"], 2);
    assert_eq!(other["accepted"], 2);
    assert_eq!(other["won_90d"], 1);
    assert_eq!(
        other["pipeline"],
        json!([{"amount": "5001.00", "currency": "EUR"}])
    );
    assert_eq!(v.body["acceptance_rate"], 1.0);
    assert!(v.body["median_hours_to_accept"].as_f64().unwrap() < 1.0);
    let pending = all_ids(&w, "status=pending_approval", &w.cm).await.len();
    assert_eq!(
        v.body["pending_approvals"].as_u64().unwrap() as usize,
        pending
    );
}

/// Rule (dashboards agree with lists): a partner's deal registrations by
/// status count what the registration list shows the same caller: a
/// distributor's include its resellers', no one's include an unrelated
/// org's. The figures come in the dashboard's one statement.
#[actix_web::test]
async fn partner_dashboard_counts_registrations_as_the_list_shows_them() {
    let w = world().await;
    registered(&w, &w.res.am1, "Alpha Reseller Kunde").await;
    let (_, approved) = registered(&w, &w.dist.admin, "Beta Distributor Kunde").await;
    registered(&w, &w.dist.am1, "Gamma Distributor Kunde").await;
    registered(&w, &w.other.admin, "Delta Other Kunde").await;
    approve(&w, &approved).await;

    let listed = |user: &TestUser, status: &'static str| {
        let token = user.token.clone();
        let w = &w;
        async move {
            w.app
                .get(
                    &format!("/api/v1/deal-registrations?status={status}&limit=200"),
                    &token,
                )
                .await
                .expect(200)
                .body["items"]
                .as_array()
                .unwrap()
                .len() as u64
        }
    };
    let expected = [
        (&w.dist.admin, 2, 1),
        (&w.dist.am1, 2, 1),
        (&w.res.admin, 1, 0),
        (&w.other.admin, 1, 0),
    ];
    for (user, submitted, approved) in expected {
        let d = w
            .app
            .get("/api/v1/dashboard", &user.token)
            .await
            .expect(200);
        let regs = &d.body["deal_registrations"];
        assert_eq!(regs["submitted"], submitted, "{}: {regs}", user.subject);
        assert_eq!(regs["approved"], approved, "{}: {regs}", user.subject);
        assert_eq!(regs["rejected"], 0, "{}: {regs}", user.subject);
        for status in ["submitted", "approved", "rejected", "withdrawn"] {
            assert_eq!(
                regs[status].as_u64().unwrap(),
                listed(user, status).await,
                "{}: {status}",
                user.subject
            );
        }
    }
}

#[actix_web::test]
async fn lists_filter_by_status_view_and_text_and_sort_stably() {
    let w = world().await;
    let a = vendor_opp(&w, "Alpha storage", "300", "2027-05-01").await;
    let b = vendor_opp(&w, "Beta network", "100", "2027-03-01").await;
    let c = vendor_opp(&w, "Gamma storage", "200", "2027-04-01").await;
    let d = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "Delta, no money", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    w.app
        .act(
            &b,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.other.id})),
        )
        .await
        .expect(200);
    w.app
        .act(&c, "cancel", &w.cm.token, Some(json!({"reason": "dup"})))
        .await
        .expect(200);

    assert_eq!(
        all_ids(&w, "status=delivered,canceled&sort=created_at", &w.cm).await,
        [b.clone(), c.clone()]
    );
    assert_eq!(
        all_ids(&w, "q=STORAGE&sort=created_at", &w.cm).await,
        [a.clone(), c.clone()]
    );
    assert_eq!(
        all_ids(&w, "q=vendor%20customer&sort=created_at", &w.cm)
            .await
            .len(),
        4,
        "searches customer names too"
    );
    assert_eq!(
        all_ids(&w, "q=%25", &w.cm).await.len(),
        0,
        "% matches itself"
    );
    // A reference finds its opportunity, however it is spelled.
    let reference = w
        .app
        .get(&format!("/api/v1/opportunities/{c}"), &w.cm.token)
        .await
        .expect(200)
        .body["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let number = reference.trim_start_matches("OPP-").trim_start_matches('0');
    assert_eq!(
        all_ids(&w, &format!("q={reference}"), &w.cm).await,
        std::slice::from_ref(&c)
    );
    assert_eq!(
        all_ids(&w, &format!("q=opp-{number}"), &w.cm).await,
        std::slice::from_ref(&c)
    );
    // The same for a partner: only what it may see.
    assert!(
        all_ids(&w, &format!("q={reference}"), &w.other.admin)
            .await
            .is_empty()
    );
    assert_eq!(
        all_ids(&w, "sort=-estimated_revenue", &w.cm).await,
        [a.clone(), c.clone(), b.clone(), d.clone()],
        "no estimate sorts last"
    );
    assert_eq!(
        all_ids(&w, "sort=estimated_revenue", &w.cm).await,
        [d.clone(), b.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        all_ids(&w, "sort=expected_close_date", &w.cm).await,
        [b.clone(), c.clone(), a.clone(), d.clone()]
    );
    assert_eq!(
        all_ids(&w, "sort=-updated_at", &w.cm).await[..2],
        [c.clone(), b.clone()]
    );
    assert_eq!(
        all_ids(&w, &format!("partner_id={}", w.other.id), &w.cm).await,
        vec![b.clone()]
    );
    assert_eq!(
        all_ids(&w, "view=distributed", &w.other.admin).await,
        vec![b.clone()]
    );
    assert!(
        all_ids(&w, "view=distributed", &w.res.admin)
            .await
            .is_empty()
    );

    let first = w
        .app
        .get(
            "/api/v1/opportunities?sort=estimated_revenue&limit=1",
            &w.cm.token,
        )
        .await
        .expect(200);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    w.app
        .get(
            &format!("/api/v1/opportunities?sort=-updated_at&cursor={cursor}"),
            &w.cm.token,
        )
        .await
        .expect_problem(422, "validation_failed");
    for bad in [
        "status=nope",
        "view=everything",
        "sort=topic",
        "updated_since=yesterday",
        "phase=winning",
    ] {
        w.app
            .get(&format!("/api/v1/opportunities?{bad}"), &w.cm.token)
            .await
            .expect_problem(422, "validation_failed");
    }
}

#[actix_web::test]
async fn distributor_sees_resellers_customer_names_masked_until_revealed() {
    let w = world().await;
    let list = w
        .app
        .get("/api/v1/customers?scope=resellers", &w.dist.admin.token)
        .await
        .expect(200);
    let item = &list.body["items"][0];
    assert_eq!(item["name_masked"], true);
    assert_eq!(item["name"], "R•• C•••••••");
    let own = w
        .app
        .get("/api/v1/customers?scope=mine", &w.dist.admin.token)
        .await
        .expect(200);
    assert_eq!(own.body["items"][0]["name"], "Dist Customer");
    assert_eq!(own.body["items"][0]["name_masked"], false);
    let revealed = w
        .app
        .get(
            "/api/v1/customers?scope=resellers&reveal=true",
            &w.dist.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(revealed.body["items"][0]["name"], "Res Customer");
    let n = w.app.count(&format!(
        "SELECT count(*) AS n FROM customer_reveals WHERE user_id = '{}' AND customer_id = '{}'",
        w.dist.admin.id, w.res.customer
    ));
    assert_eq!(n, 1, "the reveal is recorded");
    let single = w
        .app
        .get(
            &format!("/api/v1/customers/{}", w.res.customer),
            &w.dist.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(single.body["name_masked"], true);
    let vendor = w
        .app
        .get(
            &format!("/api/v1/customers/{}", w.res.customer),
            &w.cm.token,
        )
        .await
        .expect(200);
    assert_eq!(vendor.body["name_masked"], false);
}
