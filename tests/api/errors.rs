//! Every error is problem+json, actix's own included.

use prm_tests::TestApp;
use serde_json::json;

#[actix_web::test]
async fn malformed_json_is_400_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .send(
            app.client
                .post(format!("{}/api/v1/orgs", app.base))
                .bearer_auth(app.admin())
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    res.expect_problem(400, "malformed_json");
}

#[actix_web::test]
async fn wrong_content_type_is_415_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .send(
            app.client
                .post(format!("{}/api/v1/orgs", app.base))
                .bearer_auth(app.admin())
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    res.expect_problem(415, "unsupported_media_type");
}

#[actix_web::test]
async fn bad_path_parameter_is_400_problem() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/orgs/not-a-uuid", &app.admin())
        .await
        .expect_problem(400, "invalid_path_parameter");
}

#[actix_web::test]
async fn unknown_route_is_404_problem_and_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/nothing-here", &app.admin())
        .await
        .expect_problem(404, "route_not_found");
    let res = app
        .delete("/api/v1/orgs", &app.admin())
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("GET, POST"));
    let res = app
        .send(app.client.put(format!(
            "{}/api/v1/opportunities/{}",
            app.base,
            uuid::Uuid::nil()
        )))
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("GET, PATCH"));
    // A literal route beside an id's: its own methods, not the id's 400.
    let res = app
        .patch("/api/v1/opportunities/batch", &app.admin(), &json!({}))
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(res.header("allow"), Some("POST"));
}

/// Every operation of the OpenAPI document is served at its path: the
/// routes are a tree of scopes (`routes::api_v1`), and a route filed under
/// the wrong scope, or a literal one behind an `/{id}` scope that would take
/// its path first, answers the fallback's 404 or 405 instead.
#[actix_web::test]
async fn every_documented_operation_reaches_its_handler() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api-docs/openapi.json", &app.admin()).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths").clone();
    assert!(paths.len() > 40, "{} paths", paths.len());
    let nil = uuid::Uuid::nil().to_string();
    let mut tried = 0;
    for (template, item) in &paths {
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { nil.as_str() } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!("{}{path}", app.base);
            let req = match method {
                "get" => app.client.get(&url),
                "post" => app.client.post(&url).json(&json!({})),
                "put" => app.client.put(&url).json(&json!({})),
                "patch" => app.client.patch(&url).json(&json!({})),
                _ => app.client.delete(&url),
            };
            let res = app.send(req.bearer_auth(app.admin())).await;
            let code = res.body["code"].as_str().unwrap_or_default();
            assert!(
                !matches!(code, "route_not_found" | "method_not_allowed"),
                "{method} {template}: {} {}",
                res.status,
                res.text
            );
            tried += 1;
        }
    }
    assert!(tried > 60, "{tried} operations");
}

#[actix_web::test]
async fn body_over_the_limit_is_413_problem() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(70 * 1024);
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": big, "kind": "reseller"}),
        )
        .await;
    res.expect_problem(413, "payload_too_large");
}

#[actix_web::test]
async fn validation_lists_every_failing_field() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            &json!({"name": " ", "country": "XX", "web_domain": "x"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["country", "name", "web_domain"]);

    let res = app
        .post("/api/v1/customers", &app.admin(), &json!({}))
        .await;
    let res = res.expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["name", "country"]);
}

#[actix_web::test]
async fn wrong_types_and_unknown_fields_name_the_field() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": 5, "kind": "reseller"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["name"]);
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "A", "kind": "reseller", "colour": "red"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "A", "kind": "emperor"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["kind"]);
}

#[actix_web::test]
async fn bad_query_parameters_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for q in ["limit=0", "limit=201", "limit=abc", "cursor=%%%"] {
        let res = app
            .get(&format!("/api/v1/opportunities?{q}"), &app.admin())
            .await
            .expect_problem(422, "validation_failed");
        let field = q.split('=').next().unwrap();
        assert_eq!(res.error_fields(), vec![field], "{q}");
    }
    // The event feed's cursor is called `after`; garbage and a cursor that
    // decodes to no position are both named so. ("bm90LWEtc2Vx" is base64
    // for "not-a-seq".)
    for q in ["after=%%%", "after=bm90LWEtc2Vx"] {
        let res = app
            .get(&format!("/api/v1/events?{q}"), &app.admin())
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["after"], "{q}");
    }
}

#[actix_web::test]
async fn database_errors_never_reach_the_client() {
    let app = TestApp::spawn().await;
    let org = app.org("Dup Partner", "reseller", None).await;
    let body = json!({"subject": "same-subject", "org_id": org, "role": "partner_admin",
                      "name": "A", "email": "a@x.example"});
    app.post("/api/v1/users", &app.admin(), &body)
        .await
        .expect(201);
    let res = app
        .post("/api/v1/users", &app.admin(), &body)
        .await
        .expect_problem(409, "duplicate_subject");
    for leak in ["users_subject_key", "duplicate key", "constraint", "SQL"] {
        assert!(!res.text.contains(leak), "{leak} leaked: {}", res.text);
    }
}
