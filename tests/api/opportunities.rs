//! `/opportunities`: create, read, list, edit — with visibility (404),
//! read-only roles (403) and state (409).

use crate::world::world;
use prm_tests::{Resp, TestApp, TestUser, partner_opportunity};
use serde_json::{Value, json};

async fn create(app: &TestApp, token: &str, body: &Value) -> Resp {
    app.post("/api/v1/opportunities", token, body).await
}

fn path(id: &str) -> String {
    format!("/api/v1/opportunities/{id}")
}

#[actix_web::test]
async fn vendor_writer_creates_drafts() {
    let w = world().await;
    let res = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "Vendor lead", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201);
    let b = &res.body;
    assert_eq!(b["status"], "draft");
    assert_eq!(b["origin"], "vendor");
    assert_eq!(b["owner_user_id"], w.cm.id);
    assert_eq!(b["customer"]["name"], "Vendor Customer");
    assert_eq!(b["country"], "DE", "defaults to the customer's country");
    assert_eq!(
        b["allowed_actions"],
        json!([
            "edit",
            "distribute",
            "auto_assign",
            "cancel",
            "assign_owner",
            "add_note"
        ])
    );
    assert_eq!(b["version"], 1);
    let reference = b["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("OPP-") && reference.len() == 10,
        "{reference}"
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.header("location"), Some(path(&res.id()).as_str()));
}

#[actix_web::test]
async fn partner_creates_pending_approval() {
    let w = world().await;
    let res = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    assert_eq!(res.body["status"], "pending_approval");
    assert_eq!(res.body["origin"], "partner");
    assert_eq!(res.body["owner_org_id"], w.res.id);
    assert_eq!(
        res.body["estimated_revenue"],
        json!({"amount": "120000.00", "currency": "EUR"})
    );
    assert_eq!(res.body["expected_close_date"], "2027-03-31");
    // The creation is recorded as the first event of its timeline.
    let n = w.app.count(&format!(
        "SELECT count(*) AS n FROM opportunity_events WHERE opportunity_id = '{}' AND to_status = 'pending_approval'",
        res.id()
    ));
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn partner_must_give_full_revenue_information() {
    let w = world().await;
    let res = create(
        &w.app,
        &w.res.admin.token,
        &json!({"topic": "No money", "customer_id": w.res.customer}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(
        res.error_fields(),
        vec!["estimated_revenue", "expected_close_date"]
    );
    // The vendor may leave them out.
    create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "No money", "customer_id": w.res.customer}),
    )
    .await
    .expect(201);
}

#[actix_web::test]
async fn partner_creates_only_for_customers_it_may_see() {
    let w = world().await;
    for customer in [&w.other.customer, &w.vendor_customer, &w.dist.customer] {
        let res = create(&w.app, &w.res.am1.token, &partner_opportunity(customer))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["customer_id"]);
    }
    let absent = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&uuid::Uuid::now_v7().to_string()),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(absent.error_fields(), vec!["customer_id"]);
}

#[actix_web::test]
async fn distributor_creates_for_its_resellers_customers() {
    let w = world().await;
    let res = create(
        &w.app,
        &w.dist.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    assert_eq!(res.body["owner_org_id"], w.dist.id);
    assert_eq!(res.body["customer"]["id"], w.res.customer);
}

#[actix_web::test]
async fn directors_and_viewers_are_read_only() {
    let w = world().await;
    create(
        &w.app,
        &w.viewer.token,
        &json!({"topic": "x", "customer_id": w.vendor_customer}),
    )
    .await
    .expect_problem(403, "forbidden");
    create(
        &w.app,
        &w.res.director.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect_problem(403, "forbidden");
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    let seen = w
        .app
        .get(&path(&opp.id()), &w.res.director.token)
        .await
        .expect(200);
    assert_eq!(seen.body["allowed_actions"], json!([]));
    w.app
        .patch(
            &path(&opp.id()),
            &w.res.director.token,
            &json!({"topic": "director edit"}),
        )
        .await
        .expect_problem(403, "forbidden");
    w.app
        .patch(
            &path(&opp.id()),
            &w.viewer.token,
            &json!({"topic": "viewer edit"}),
        )
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn money_is_exact_decimal_strings() {
    let w = world().await;
    let mut body = partner_opportunity(&w.res.customer);
    body["estimated_revenue"] = json!({"amount": "0.1", "currency": "EUR"});
    let res = create(&w.app, &w.res.am1.token, &body).await.expect(201);
    assert_eq!(res.body["estimated_revenue"]["amount"], "0.10");
    body["estimated_revenue"] = json!({"amount": "12345678901234.56", "currency": "EUR"});
    let res = create(&w.app, &w.res.am1.token, &body).await.expect(201);
    assert_eq!(res.body["estimated_revenue"]["amount"], "12345678901234.56");
    for (amount, currency, field) in [
        ("1.005", "EUR", "estimated_revenue.amount"),
        ("1e3", "EUR", "estimated_revenue.amount"),
        ("-1", "EUR", "estimated_revenue.amount"),
        ("10.5", "JPY", "estimated_revenue.amount"),
        ("10", "eur", "estimated_revenue.currency"),
        ("10", "XYZ", "estimated_revenue.currency"),
    ] {
        body["estimated_revenue"] = json!({"amount": amount, "currency": currency});
        let res = create(&w.app, &w.res.am1.token, &body)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec![field], "{amount} {currency}");
    }
    body["estimated_revenue"] = json!({"amount": 10.5, "currency": "EUR"});
    let res = create(&w.app, &w.res.am1.token, &body)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        res.error_fields(),
        vec!["estimated_revenue.amount"],
        "a float is refused"
    );
}

#[actix_web::test]
async fn foreign_partner_gets_404_identical_to_absent() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201)
    .id();
    let draft = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "draft", "customer_id": w.res.customer}),
    )
    .await
    .expect(201)
    .id();
    let absent = w
        .app
        .get(
            &path(&uuid::Uuid::now_v7().to_string()),
            &w.other.admin.token,
        )
        .await
        .expect_problem(404, "not_found");
    for (id, token) in [
        (&opp, &w.other.admin.token),
        (&draft, &w.res.admin.token),
        (&opp, &w.other.director.token),
    ] {
        let res = w
            .app
            .get(&path(id), token)
            .await
            .expect_problem(404, "not_found");
        assert_eq!(res.text, absent.text);
        w.app
            .patch(&path(id), token, &json!({"topic": "x"}))
            .await
            .expect_problem(404, "not_found");
    }
}

#[actix_web::test]
async fn account_manager_sees_only_those_it_owns() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201)
    .id();
    w.app.get(&path(&opp), &w.res.am1.token).await.expect(200);
    w.app
        .get(&path(&opp), &w.res.am2.token)
        .await
        .expect_problem(404, "not_found");
    w.app.get(&path(&opp), &w.res.admin.token).await.expect(200);
    w.app
        .get(&path(&opp), &w.res.director.token)
        .await
        .expect(200);
    let list = w
        .app
        .get("/api/v1/opportunities", &w.res.am2.token)
        .await
        .expect(200);
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn distributor_sees_its_resellers_opportunities() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201)
    .id();
    w.app
        .get(&path(&opp), &w.dist.director.token)
        .await
        .expect(200);
    w.app
        .get(&path(&opp), &w.dist.admin.token)
        .await
        .expect(200);
    // ...but a reseller does not see its distributor's.
    let dist_opp = create(
        &w.app,
        &w.dist.am1.token,
        &partner_opportunity(&w.dist.customer),
    )
    .await
    .expect(201)
    .id();
    w.app
        .get(&path(&dist_opp), &w.res.admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn partner_sees_vendor_opportunities_only_while_offered_live() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "offer", "customer_id": w.vendor_customer,
        "contact": {"name": "Jo", "email": "jo@c.example", "phone": "+1 555"}}),
    )
    .await
    .expect(201)
    .id();
    w.app
        .get(&path(&opp), &w.other.admin.token)
        .await
        .expect_problem(404, "not_found");
    // Fixture: the offer goes to Other (distribution arrives with the lifecycle).
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'delivered', primary_partner_id = '{}' WHERE id = '{opp}'",
        w.other.id
    ));
    let seen = w
        .app
        .get(&path(&opp), &w.other.admin.token)
        .await
        .expect(200);
    assert_eq!(seen.body["contact"]["name"], "Jo");
    assert!(
        seen.body["contact"]["email"].is_null(),
        "withheld while only delivered"
    );
    assert!(
        seen.body["contact"]["phone"].is_null(),
        "withheld while only delivered"
    );
    let vendor_view = w.app.get(&path(&opp), &w.cm.token).await.expect(200);
    assert_eq!(vendor_view.body["contact"]["email"], "jo@c.example");
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'accepted' WHERE id = '{opp}'"
    ));
    let seen = w
        .app
        .get(&path(&opp), &w.other.admin.token)
        .await
        .expect(200);
    assert_eq!(
        seen.body["contact"]["email"], "jo@c.example",
        "shown once accepted"
    );
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'returned' WHERE id = '{opp}'"
    ));
    w.app
        .get(&path(&opp), &w.other.admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn lists_never_contain_what_get_refuses() {
    let w = world().await;
    create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "draft", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201);
    create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    create(
        &w.app,
        &w.res.am2.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    create(
        &w.app,
        &w.dist.am1.token,
        &partner_opportunity(&w.dist.customer),
    )
    .await
    .expect(201);
    create(
        &w.app,
        &w.other.admin.token,
        &partner_opportunity(&w.other.customer),
    )
    .await
    .expect(201);
    let collab = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "collab", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201)
    .id();
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'accepted', primary_partner_id = '{}' WHERE id = '{collab}';
         INSERT INTO opportunity_collaborators (opportunity_id, org_id) VALUES ('{collab}', '{}')",
        w.other.id, w.res.id
    ));
    let expectations: Vec<(&TestUser, usize)> = vec![
        (&w.cm, 6),
        (&w.viewer, 6),
        (&w.dist.director, 4), // its own, its reseller's two, the collaboration
        (&w.dist.am1, 1),
        (&w.res.admin, 3),
        (&w.res.am1, 1),
        (&w.other.admin, 2),
        (&w.other.am1, 0),
    ];
    for (user, expected) in expectations {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = cursor
                .as_ref()
                .map_or("limit=2".to_owned(), |c| format!("limit=2&cursor={c}"));
            let page = w
                .app
                .get(&format!("/api/v1/opportunities?{q}"), &user.token)
                .await
                .expect(200);
            for o in page.body["items"].as_array().unwrap() {
                ids.push(o["id"].as_str().unwrap().to_owned());
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(ids.len(), expected, "{}", user.subject);
        for id in ids {
            w.app.get(&path(&id), &user.token).await.expect(200);
        }
    }
}

/// The store reads a view's columns by position (its lists' hot path); here
/// that reader is checked against Diesel's own, field by field, on a row
/// whose every column holds a value of its own.
#[actix_web::test]
async fn positional_view_reader_agrees_with_diesels_reader() {
    use diesel::prelude::*;
    use prm_store::opportunities::{Opportunity, find_view};
    use prm_store::schema::{customers, opportunities};

    let w = world().await;
    let id = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "every column", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201)
    .id();
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'won', origin = 'vendor', primary_partner_id = '{res}',
           contact_name = 'c-name', contact_email = 'c@mail.example', contact_phone = '+49 1',
           contact_title = 'c-title', currency = 'EUR', estimated_revenue = 12.5,
           expected_close_date = DATE '2031-02-03', customer_situation = 'situation',
           customer_need = 'need', proposed_solution = 'solution', country = 'FR',
           industry = 'retail', product_lines = ARRAY['a', 'b'],
           pipeline_phase = 'commit', win_probability = 87,
           accept_by = TIMESTAMPTZ '2031-01-01 10:00:00+00', expires_on = DATE '2031-05-06',
           extension_count = 2, close_reason = 'reason', actual_revenue = 11.25,
           closed_at = TIMESTAMPTZ '2031-03-04 05:06:07.891+00', version = 9,
           auto_assignments = 3, updated_at = TIMESTAMPTZ '2031-03-04 05:06:08+00'
         WHERE id = '{id}';
         INSERT INTO opportunity_collaborators (opportunity_id, org_id) VALUES ('{id}', '{dist}');
         INSERT INTO external_refs (org_id, kind, resource_id, external_ref)
           VALUES ('{res}', 'opportunity', '{id}', 'ext-1'), ('{dist}', 'opportunity', '{id}', 'ext-2')",
        res = w.res.id,
        dist = w.dist.id,
    ));
    let uuid: uuid::Uuid = id.parse().unwrap();
    let mut conn = w.app.db.conn();
    let by_position = find_view(
        &mut conn,
        uuid.into(),
        Some(w.res.id.parse::<uuid::Uuid>().unwrap().into()),
    )
    .unwrap()
    .unwrap();
    let (row, customer_name, collaborator_ids): (Opportunity, String, Vec<uuid::Uuid>) =
        opportunities::table
            .inner_join(customers::table)
            .filter(opportunities::id.eq(uuid))
            .select((
                Opportunity::as_select(),
                customers::name,
                opportunities::collaborator_ids,
            ))
            .first(&mut conn)
            .unwrap();
    assert_eq!(format!("{:?}", by_position.row), format!("{row:?}"));
    assert_eq!(by_position.customer_name, customer_name);
    let typed: Vec<prm_domain::OrgId> = collaborator_ids.into_iter().map(Into::into).collect();
    assert_eq!(by_position.collaborator_ids, typed);
    assert_eq!(by_position.customer_name, "Vendor Customer");
    assert_eq!(
        by_position.row.details.contact_title.as_deref(),
        Some("c-title")
    );
    assert_eq!(by_position.collaborator_ids.len(), 1);
    assert_eq!(by_position.row.extension_count, 2);
    assert_eq!(by_position.row.auto_assignments, 3);
    assert_eq!(by_position.external_ref.as_deref(), Some("ext-1"));
    let unread = find_view(&mut conn, uuid.into(), None).unwrap().unwrap();
    assert_eq!(unread.external_ref, None);
}

#[actix_web::test]
async fn pages_stay_stable_while_rows_are_inserted() {
    let w = world().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            create(
                &w.app,
                &w.cm.token,
                &json!({"topic": format!("o{i}"), "customer_id": w.vendor_customer}),
            )
            .await
            .expect(201)
            .id(),
        );
    }
    let first = w
        .app
        .get("/api/v1/opportunities?limit=2", &w.cm.token)
        .await
        .expect(200);
    // Insert between pages: the new row is newer, so it is not on later pages.
    create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "late", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201);
    let mut ids: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = w
            .app
            .get(
                &format!("/api/v1/opportunities?limit=2&cursor={c}"),
                &w.cm.token,
            )
            .await
            .expect(200);
        ids.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    created.reverse();
    assert_eq!(ids, created, "every row once, newest first");
}

#[actix_web::test]
async fn owner_edits_its_pending_opportunity_with_if_match() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201);
    let p = path(&opp.id());
    let res = w
        .app
        .patch_if_match(&p, &w.res.am1.token, "\"1\"", &json!({"topic": "Renamed", "customer_need": "More", "estimated_revenue": {"amount": "99.99", "currency": "USD"}}))
        .await
        .expect(200);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.body["topic"], "Renamed");
    assert_eq!(
        res.body["estimated_revenue"],
        json!({"amount": "99.99", "currency": "USD"})
    );
    let res = w
        .app
        .patch(&p, &w.res.admin.token, &json!({"customer_need": null}))
        .await
        .expect(200);
    assert!(res.body["customer_need"].is_null(), "null clears");
    assert_eq!(res.body["topic"], "Renamed", "absent fields stay");
    let stale = w
        .app
        .patch_if_match(&p, &w.res.am1.token, "\"1\"", &json!({"topic": "Lost"}))
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(stale.body["current_version"], 3);
    let res = w
        .app
        .patch(
            &p,
            &w.res.am1.token,
            &json!({"estimated_revenue": null, "expected_close_date": null}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        res.error_fields(),
        vec!["estimated_revenue", "expected_close_date"]
    );
    w.app
        .patch(&p, &w.res.am2.token, &json!({"topic": "not mine"}))
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn edit_in_a_terminal_status_is_409_naming_status_and_allowed_actions() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.res.am1.token,
        &partner_opportunity(&w.res.customer),
    )
    .await
    .expect(201)
    .id();
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'rejected' WHERE id = '{opp}'"
    ));
    let res = w
        .app
        .patch(&path(&opp), &w.res.am1.token, &json!({"topic": "too late"}))
        .await
        .expect_problem(409, "invalid_transition");
    assert_eq!(res.body["current_status"], "rejected");
    assert_eq!(res.body["allowed_actions"], json!(["add_note"]));
    let seen = w.app.get(&path(&opp), &w.res.am1.token).await.expect(200);
    assert_eq!(seen.body["allowed_actions"], json!(["add_note"]));
}

#[actix_web::test]
async fn collaborators_cannot_change_fields() {
    let w = world().await;
    let opp = create(
        &w.app,
        &w.cm.token,
        &json!({"topic": "collab", "customer_id": w.vendor_customer}),
    )
    .await
    .expect(201)
    .id();
    w.app.sql(&format!(
        "UPDATE opportunities SET status = 'accepted', primary_partner_id = '{}' WHERE id = '{opp}';
         INSERT INTO opportunity_collaborators (opportunity_id, org_id) VALUES ('{opp}', '{}')",
        w.dist.id, w.other.id
    ));
    let seen = w
        .app
        .get(&path(&opp), &w.other.admin.token)
        .await
        .expect(200);
    assert_eq!(seen.body["collaborator_ids"], json!([w.other.id]));
    assert_eq!(
        seen.body["allowed_actions"],
        json!(["add_note", "add_progress"])
    );
    w.app
        .patch(
            &path(&opp),
            &w.other.admin.token,
            &json!({"topic": "collaborator edit"}),
        )
        .await
        .expect_problem(403, "forbidden");
    let primary = w
        .app
        .get(&path(&opp), &w.dist.admin.token)
        .await
        .expect(200);
    assert_eq!(
        primary.body["allowed_actions"],
        json!([
            "edit",
            "return",
            "close",
            "extend",
            "assign_owner",
            "add_note",
            "add_progress"
        ])
    );
    w.app
        .patch(
            &path(&opp),
            &w.dist.admin.token,
            &json!({"topic": "primary edit"}),
        )
        .await
        .expect(200);
}
