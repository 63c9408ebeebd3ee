//! Imports (API.md, "Bulk"): a CSV of customers or opportunities runs in
//! the background, each row validated and authorized exactly as its single
//! create; progress and per-row errors are readable; external references
//! deduplicate; a keyed re-post is the same import.

use std::time::Duration;

use prm_tests::{Resp, TestApp, TestUser};
use serde_json::{Value, json};

use crate::world::world;

async fn post_csv(app: &TestApp, kind: &str, token: &str, text: &str, key: Option<&str>) -> Resp {
    let mut req = app
        .client
        .post(format!("{}/api/v1/imports?kind={kind}", app.base))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(text.to_owned());
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    app.send(req).await
}

/// Posts an import and runs the worker until it has ended; its final state.
async fn imported(app: &TestApp, kind: &str, user: &TestUser, text: &str) -> Value {
    let posted = post_csv(app, kind, &user.token, text, None)
        .await
        .expect(202);
    assert_eq!(posted.body["status"], "queued");
    let location = posted.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/imports/{}", posted.id()));
    finish(app, &location, user).await
}

async fn finish(app: &TestApp, location: &str, user: &TestUser) -> Value {
    let ended = app.tick_until(Duration::from_secs(60), || {
        app.count(&format!(
            "SELECT count(*) AS n FROM imports WHERE id = '{}' AND status IN ('done', 'failed')",
            location.rsplit('/').next().unwrap()
        )) == 1
    });
    assert!(ended, "the import ended");
    app.get(location, &user.token).await.expect(200).body
}

fn errors_of(import: &Value) -> Vec<(i64, String, String)> {
    import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap_or("-").to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn an_import_creates_each_valid_row_and_reports_each_invalid_one_as_its_single_create_would()
{
    let w = world().await;
    let admin = &w.res.admin;
    // What the single create answers for the row that will fail.
    let single = w
        .app
        .post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "Bad Country", "country": "XX"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let text = "name,country,industry,web_domain,external_ref\r\n\
                Fabrikam GmbH,DE,Retail,fabrikam.example,ACC-1\r\n\
                Bad Country,XX,,,ACC-2\r\n\
                \"Tailspin, \"\"Toys\"\" Ltd\",fr,,,ACC-3\r\n\
                Contoso,DE,,,ACC-1\r\n\
                FABRIKAM,de,,,ACC-4\r\n";
    let done = imported(&w.app, "customers", admin, text).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["rows"], 5);
    assert_eq!(done["processed"], 5);
    assert_eq!(done["created"], 2);
    assert_eq!(done["rejected"], 3);
    assert_eq!(
        errors_of(&done),
        [
            (2, "country".to_owned(), "validation_failed".to_owned()),
            (
                4,
                "external_ref".to_owned(),
                "external_ref_exists".to_owned()
            ),
            (5, "-".to_owned(), "duplicate_customer".to_owned()),
        ]
    );
    // The row's message is the single create's.
    assert_eq!(
        done["errors"][0]["message"],
        single.body["errors"][0]["message"]
    );
    let first = w
        .app
        .get("/api/v1/customers?external_ref=ACC-1", &admin.token)
        .await
        .expect(200);
    assert_eq!(first.body["items"][0]["name"], "Fabrikam GmbH");
    assert_eq!(
        first.body["items"][0]["industry"], "retail",
        "normalized as a create is"
    );
    assert_eq!(
        done["errors"][1]["existing_id"],
        first.body["items"][0]["id"]
    );
    let quoted = w
        .app
        .get("/api/v1/customers?external_ref=ACC-3", &admin.token)
        .await
        .expect(200);
    assert_eq!(quoted.body["items"][0]["name"], "Tailspin, \"Toys\" Ltd");
    assert_eq!(quoted.body["items"][0]["country"], "FR");
    assert_eq!(quoted.body["items"][0]["org_id"], w.res.id.as_str());
}

#[actix_web::test]
async fn opportunity_rows_are_authorized_as_the_importer_and_name_customers_by_reference() {
    let w = world().await;
    let am = &w.res.am1;
    w.app
        .post(
            "/api/v1/customers",
            &am.token,
            &json!({"name": "Northwind Traders", "country": "DE", "external_ref": "C-9"}),
        )
        .await
        .expect(201);
    let text = format!(
        "topic,customer.external_ref,customer_id,contact.name,contact.phone,estimated_revenue.amount,estimated_revenue.currency,expected_close_date,product_lines,external_ref\n\
         Cloud move,C-9,,Jo Park,'+49 30 1,1200.50,EUR,2027-03-31,cloud;security,O-1\n\
         No revenue,C-9,,,,,,2027-03-31,,O-2\n\
         Other org's customer,,{other},,,100,EUR,2027-03-31,,O-3\n\
         Unknown ref,C-404,,,,100,EUR,2027-03-31,,O-4\n\
         Bad amount,C-9,,,,12.345.6,EUR,2027-03-31,\"[\"\"cloud\"\"]\",O-5\n",
        other = w.other.customer
    );
    let done = imported(&w.app, "opportunities", am, &text).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["created"], 1, "{done}");
    assert_eq!(done["rejected"], 4);
    let errors = errors_of(&done);
    assert!(
        errors.contains(&(2, "estimated_revenue".into(), "validation_failed".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&(3, "customer_id".into(), "validation_failed".into())),
        "{errors:?}"
    );
    assert!(
        errors.contains(&(
            4,
            "customer.external_ref".into(),
            "validation_failed".into()
        )),
        "{errors:?}"
    );
    assert!(
        errors.contains(&(
            5,
            "estimated_revenue.amount".into(),
            "validation_failed".into()
        )),
        "{errors:?}"
    );
    // The created one is the account manager's own, as its single create.
    let made = w
        .app
        .get("/api/v1/opportunities?external_ref=O-1", &am.token)
        .await
        .expect(200);
    let o = &made.body["items"][0];
    assert_eq!(o["status"], "pending_approval");
    assert_eq!(o["owner_user_id"], am.id.as_str());
    assert_eq!(
        o["contact"]["phone"], "+49 30 1",
        "the export's ' is taken off"
    );
    assert_eq!(o["product_lines"], json!(["cloud", "security"]));
    assert_eq!(
        o["estimated_revenue"],
        json!({"amount": "1200.50", "currency": "EUR"})
    );
    assert_eq!(o["customer"]["name"], "Northwind Traders");
    // And it announced itself as a single create does.
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE type = 'opportunity.created' AND opportunity_id = '{}'",
            o["id"].as_str().unwrap()
        )),
        1
    );
}

#[actix_web::test]
async fn reimporting_a_file_reports_its_external_refs_and_creates_nothing_twice() {
    let w = world().await;
    let admin = &w.res.admin;
    let text = "name,country,external_ref\nAlpha AG,DE,R-1\nBeta AG,DE,R-2\n";
    let first = imported(&w.app, "customers", admin, text).await;
    assert_eq!(first["created"], 2);
    let again = imported(&w.app, "customers", admin, text).await;
    assert_eq!(again["created"], 0);
    assert_eq!(again["rejected"], 2);
    for e in again["errors"].as_array().unwrap() {
        assert_eq!(e["code"], "external_ref_exists");
        assert!(e["existing_id"].is_string(), "{e}");
    }
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM customers WHERE name IN ('Alpha AG', 'Beta AG')"),
        2
    );
}

#[actix_web::test]
async fn a_keyed_repost_returns_the_same_import() {
    let w = world().await;
    let text = "name,country\nGamma AG,DE\n";
    let first = post_csv(&w.app, "customers", &w.res.admin.token, text, Some("imp-1"))
        .await
        .expect(202);
    let again = post_csv(&w.app, "customers", &w.res.admin.token, text, Some("imp-1"))
        .await
        .expect(202);
    assert_eq!(again.id(), first.id());
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(w.app.count("SELECT count(*) AS n FROM imports"), 1);
    let other = post_csv(
        &w.app,
        "customers",
        &w.res.admin.token,
        "name,country\nDelta AG,DE\n",
        Some("imp-1"),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
}

#[actix_web::test]
async fn the_shape_of_an_import_is_refused_at_once() {
    let w = world().await;
    let token = &w.res.admin.token;
    for (kind, text, field) in [
        ("customers", "name,country,colour\nA,DE,red\n", "colour"),
        ("customers", "name\nA\n", "country"),
        ("customers", "name,country\n", "body"),
        ("customers", "name,country\nA,DE,extra\n", "body"),
        ("opportunities", "customer_id\nx\n", "topic"),
        ("customers", "name,country\nA\u{0},DE\n", "body"),
    ] {
        let res = post_csv(&w.app, kind, token, text, None)
            .await
            .expect_problem(422, "validation_failed");
        assert!(
            res.error_fields().contains(&field.to_owned()),
            "{text:?}: {}",
            res.text
        );
    }
    post_csv(&w.app, "leads", token, "name\nA\n", None)
        .await
        .expect_problem(422, "validation_failed");
    let json = w
        .app
        .post(
            "/api/v1/imports?kind=customers",
            token,
            &json!({"name": "A"}),
        )
        .await;
    assert_eq!(json.status, 415, "{}", json.text);
    // A read-only role posts none.
    post_csv(
        &w.app,
        "customers",
        &w.res.director.token,
        "name,country\nA,DE\n",
        None,
    )
    .await
    .expect_problem(403, "forbidden");
    assert_eq!(w.app.count("SELECT count(*) AS n FROM imports"), 0);
}

#[actix_web::test]
async fn an_import_is_read_by_its_importer_and_its_orgs_admin_only() {
    let w = world().await;
    let done = imported(
        &w.app,
        "customers",
        &w.res.am1,
        "name,country\nEpsilon AG,DE\nX,XX\n",
    )
    .await;
    let path = format!("/api/v1/imports/{}", done["id"].as_str().unwrap());
    w.app.get(&path, &w.res.admin.token).await.expect(200);
    for other in [&w.res.am2, &w.dist.admin, &w.cm] {
        w.app
            .get(&path, &other.token)
            .await
            .expect_problem(404, "not_found");
    }
    // The errors as a list, and as CSV.
    let listed = w
        .app
        .get(&format!("{path}/errors"), &w.res.am1.token)
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["row"], 2);
    assert_eq!(listed.body["items"][0]["field"], "country");
    let csv = w
        .app
        .send(
            w.app
                .client
                .get(format!("{}{path}/errors", w.app.base))
                .bearer_auth(&w.res.am1.token)
                .header("Accept", "text/csv"),
        )
        .await
        .expect(200);
    assert!(
        csv.text
            .starts_with("row,field,code,message,existing_id\r\n2,country,validation_failed,"),
        "{}",
        csv.text
    );
    w.app
        .get(&format!("{path}/errors"), &w.res.am2.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn an_import_held_by_a_worker_waits_and_one_whose_lease_ran_out_is_resumed() {
    let w = world().await;
    let posted = post_csv(
        &w.app,
        "customers",
        &w.res.admin.token,
        "name,country\nZeta AG,DE\n",
        None,
    )
    .await
    .expect(202);
    let id = posted.id();
    // Another worker holds it: this one leaves it alone.
    w.app.sql(&format!(
        "UPDATE imports SET status = 'running', lease_until = now() + interval '1 hour' WHERE id = '{id}'"
    ));
    assert_eq!(w.app.tick().imported, 0);
    // That worker died: once its lease has run out, the import is resumed.
    w.app.sql(&format!(
        "UPDATE imports SET lease_until = now() - interval '1 second' WHERE id = '{id}'"
    ));
    assert_eq!(w.app.tick().imported, 1);
    let done = w
        .app
        .get(&format!("/api/v1/imports/{id}"), &w.res.admin.token)
        .await
        .expect(200);
    assert_eq!(done.body["status"], "done");
    assert_eq!(done.body["created"], 1);
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM imports WHERE body IS NOT NULL"),
        0,
        "the CSV is dropped once run"
    );
}

#[actix_web::test]
async fn an_import_whose_importer_is_deactivated_stops() {
    let w = world().await;
    let am = w.app.user(&w.res.id, "account_manager").await;
    let posted = post_csv(
        &w.app,
        "customers",
        &am.token,
        "name,country\nEta AG,DE\n",
        None,
    )
    .await
    .expect(202);
    w.app.deactivate(&am).await;
    w.app.tick();
    let done = w
        .app
        .get(
            &format!("/api/v1/imports/{}", posted.id()),
            &w.res.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(done.body["status"], "failed", "{}", done.text);
    assert_eq!(done.body["created"], 0);
    assert!(
        done.body["failure"]
            .as_str()
            .unwrap()
            .contains("deactivated")
    );
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM customers WHERE name = 'Eta AG'"),
        0
    );
}
