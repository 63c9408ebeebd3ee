//! Sweeps driven by the OpenAPI document itself: every operation with bad
//! input and bad credentials, and every operation × role × (own, foreign,
//! nonexistent) object. Each prints its figures.

use std::collections::HashSet;

use crate::world::world;
use prm_tests::{Resp, TestApp, TestUser};
use serde_json::{Value, json};

fn doc() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Op {
    method: reqwest::Method,
    path: String,
    documented: HashSet<u16>,
    example_body: Option<Value>,
    has_query: bool,
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            let example_body = op.get("requestBody").map(|b| {
                let schema = &b["content"]["application/json"]["schema"];
                let resolved = schema
                    .get("$ref")
                    .and_then(Value::as_str)
                    .map_or(schema, |r| {
                        &doc["components"]["schemas"][r.rsplit('/').next().unwrap()]
                    });
                resolved
                    .get("example")
                    .cloned()
                    .unwrap_or_else(|| json!({}))
            });
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            out.push(Op {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                documented,
                example_body,
                has_query,
            });
        }
    }
    out
}

fn fill(path: &str, id: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/') {
        if !out.is_empty() || path.starts_with('/') {
            out.push('/');
        }
        out.push_str(if seg.starts_with('{') { id } else { seg });
    }
    out.replacen("//", "/", 1)
}

async fn call(
    app: &TestApp,
    op: &Op,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<String>,
) -> Resp {
    let mut req = app
        .client
        .request(op.method.clone(), format!("{}{path}", app.base));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    app.send(req).await
}

#[derive(Default)]
struct Tally {
    requests: usize,
    not_problem: Vec<String>,
    undocumented: Vec<String>,
    server_errors: Vec<String>,
}

impl Tally {
    fn check(&mut self, op: &Op, what: &str, r: &Resp) {
        self.requests += 1;
        let here = format!("{} {} [{what}] -> {}", op.method, op.path, r.status);
        if r.status >= 500 {
            self.server_errors.push(format!("{here}: {}", r.text));
        }
        if r.status >= 400 && r.content_type() != "application/problem+json" {
            self.not_problem.push(here.clone());
        }
        if !op.documented.contains(&r.status) {
            self.undocumented.push(format!(
                "{here}: {}",
                r.text.chars().take(160).collect::<String>()
            ));
        }
    }
}

#[actix_web::test]
async fn every_operation_answers_bad_input_and_bad_credentials_as_documented() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let doc = doc();
    let ops = operations(&doc);
    let mut t = Tally::default();
    let missing = uuid::Uuid::now_v7().to_string();
    for op in &ops {
        let api = op.path.starts_with("/api/v1");
        let path = fill(&op.path, &missing);
        let body = op.example_body.as_ref().map(Value::to_string);
        let json_ct = body.as_ref().map(|_| "application/json");
        if api {
            t.check(
                op,
                "no token",
                &call(&app, op, &path, None, json_ct, body.clone()).await,
            );
            t.check(
                op,
                "garbage token",
                &call(&app, op, &path, Some("garbage"), json_ct, body.clone()).await,
            );
            t.check(
                op,
                "unknown subject",
                &call(
                    &app,
                    op,
                    &path,
                    Some(&app.token("nobody")),
                    json_ct,
                    body.clone(),
                )
                .await,
            );
        }
        if op.path.contains('{') {
            t.check(
                op,
                "bad id",
                &call(
                    &app,
                    op,
                    &fill(&op.path, "not-a-uuid"),
                    Some(&admin),
                    json_ct,
                    body.clone(),
                )
                .await,
            );
            t.check(
                op,
                "missing id",
                &call(&app, op, &path, Some(&admin), json_ct, body.clone()).await,
            );
        }
        if op.example_body.is_some() {
            t.check(
                op,
                "text/plain",
                &call(
                    &app,
                    op,
                    &path,
                    Some(&admin),
                    Some("text/plain"),
                    body.clone(),
                )
                .await,
            );
            t.check(
                op,
                "malformed json",
                &call(
                    &app,
                    op,
                    &path,
                    Some(&admin),
                    Some("application/json"),
                    Some("{\"a\":".into()),
                )
                .await,
            );
            t.check(
                op,
                "json array",
                &call(
                    &app,
                    op,
                    &path,
                    Some(&admin),
                    Some("application/json"),
                    Some("[1,2]".into()),
                )
                .await,
            );
            t.check(op, "wrong types", &call(&app, op, &path, Some(&admin), Some("application/json"), Some(r#"{"name": 5, "topic": [], "reason": 7, "url": 1, "outcome": "draw", "org_id": "x"}"#.into())).await);
            t.check(
                op,
                "no body",
                &call(&app, op, &path, Some(&admin), None, None).await,
            );
            t.check(
                op,
                "oversized",
                &call(
                    &app,
                    op,
                    &path,
                    Some(&admin),
                    Some("application/json"),
                    Some(format!("{{\"x\": \"{}\"}}", "a".repeat(70_000))),
                )
                .await,
            );
        }
        if op.has_query {
            let sep = if path.contains('?') { '&' } else { '?' };
            t.check(
                op,
                "bad query",
                &call(
                    &app,
                    op,
                    &format!("{path}{sep}limit=abc"),
                    Some(&admin),
                    json_ct,
                    body.clone(),
                )
                .await,
            );
            t.check(
                op,
                "unknown query",
                &call(
                    &app,
                    op,
                    &format!("{path}{sep}bogus=1"),
                    Some(&admin),
                    json_ct,
                    body.clone(),
                )
                .await,
            );
        }
    }
    eprintln!(
        "error sweep: {} requests over {} operations: {} non-problem error bodies, {} undocumented statuses, {} 5xx",
        t.requests,
        ops.len(),
        t.not_problem.len(),
        t.undocumented.len(),
        t.server_errors.len()
    );
    assert!(t.not_problem.is_empty(), "{:#?}", t.not_problem);
    assert!(t.server_errors.is_empty(), "{:#?}", t.server_errors);
    assert!(t.undocumented.is_empty(), "{:#?}", t.undocumented);
}

/// Ids of one org's objects of each kind.
struct Objects {
    org: String,
    user: String,
    customer: String,
    opportunity: String,
    registration: String,
    webhook: String,
}

async fn objects(
    app: &TestApp,
    org: &str,
    admin: &TestUser,
    am: &TestUser,
    customer: &str,
) -> Objects {
    let opp = app
        .post(
            "/api/v1/opportunities",
            &am.token,
            &prm_tests::partner_opportunity(customer),
        )
        .await
        .expect(201)
        .id();
    let reg = app
        .post(
            &format!("/api/v1/opportunities/{opp}/deal-registration"),
            &am.token,
            &json!({"product_lines": ["cloud"]}),
        )
        .await
        .expect(201)
        .id();
    let hook = app
        .post(
            "/api/v1/webhooks",
            &admin.token,
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await
        .expect(201)
        .id();
    Objects {
        org: org.to_owned(),
        user: am.id.clone(),
        customer: customer.to_owned(),
        opportunity: opp,
        registration: reg,
        webhook: hook,
    }
}

fn id_for(path: &str, o: &Objects) -> Option<String> {
    let p = path.trim_start_matches("/api/v1/");
    let first = p.split('/').next().unwrap_or("");
    Some(match first {
        "orgs" => o.org.clone(),
        "users" => o.user.clone(),
        "customers" => o.customer.clone(),
        "opportunities" => o.opportunity.clone(),
        "deal-registrations" => o.registration.clone(),
        "webhooks" => o.webhook.clone(),
        _ => return None,
    })
}

#[actix_web::test]
async fn the_authorization_matrix_has_no_leaks() {
    let w = world().await;
    let doc = doc();
    let mut ops = operations(&doc);
    // Reads first and deletes last, so the "own" objects exist when read.
    ops.sort_by_key(|o| {
        (
            o.method != reqwest::Method::GET,
            o.method == reqwest::Method::DELETE,
        )
    });
    // Acting partner org: Other. Foreign: the distributor Dist.
    let own = objects(
        &w.app,
        &w.other.id,
        &w.other.admin,
        &w.other.am1,
        &w.other.customer,
    )
    .await;
    let foreign = objects(
        &w.app,
        &w.dist.id,
        &w.dist.admin,
        &w.dist.am1,
        &w.dist.customer,
    )
    .await;
    let admin = TestUser {
        id: String::new(),
        subject: prm_tests::ADMIN.to_owned(),
        org_id: String::new(),
        token: w.app.admin(),
    };
    let cast: Vec<(&str, &TestUser, bool)> = vec![
        ("vendor_admin", &admin, false),
        ("channel_manager", &w.cm, false),
        ("vendor_viewer", &w.viewer, false),
        ("partner_admin", &w.other.admin, true),
        ("account_manager", &w.other.am1, true),
        ("account_manager_director", &w.other.director, true),
    ];
    let foreign_ids: Vec<&String> = vec![
        &foreign.org,
        &foreign.user,
        &foreign.customer,
        &foreign.opportunity,
        &foreign.registration,
        &foreign.webhook,
    ];
    let missing = uuid::Uuid::now_v7().to_string();
    let (mut cells, mut leaks) = (0usize, Vec::new());
    for op in &ops {
        let body = op.example_body.as_ref().map(Value::to_string);
        let ct = body.as_ref().map(|_| "application/json");
        for (role, user, partner) in &cast {
            if !op.path.contains('{') {
                if op.method == reqwest::Method::GET && op.path.starts_with("/api/v1") {
                    cells += 1;
                    let r = call(&w.app, op, &op.path, Some(&user.token), None, None).await;
                    if *partner && foreign_ids.iter().any(|id| r.text.contains(id.as_str())) {
                        leaks.push(format!("{role} GET {}: a foreign id in the list", op.path));
                    }
                }
                continue;
            }
            let (Some(own_id), Some(foreign_id)) =
                (id_for(&op.path, &own), id_for(&op.path, &foreign))
            else {
                cells += 1;
                let r = call(
                    &w.app,
                    op,
                    &fill(&op.path, &missing),
                    Some(&user.token),
                    ct,
                    body.clone(),
                )
                .await;
                if r.status < 400 {
                    leaks.push(format!(
                        "{role} {} {} on a missing id: {}",
                        op.method, op.path, r.status
                    ));
                }
                continue;
            };
            // For a path with a second id (collaborators/{org_id}), use the org.
            let fill2 = |id: &str, org: &str| {
                fill(&op.path, id).replacen(
                    &format!("{id}/collaborators/{id}"),
                    &format!("{id}/collaborators/{org}"),
                    1,
                )
            };
            let r_own = call(
                &w.app,
                op,
                &fill2(&own_id, &own.org),
                Some(&user.token),
                ct,
                body.clone(),
            )
            .await;
            let r_foreign = call(
                &w.app,
                op,
                &fill2(&foreign_id, &foreign.org),
                Some(&user.token),
                ct,
                body.clone(),
            )
            .await;
            let r_missing = call(
                &w.app,
                op,
                &fill2(&missing, &missing),
                Some(&user.token),
                ct,
                body.clone(),
            )
            .await;
            cells += 3;
            for (what, r) in [
                ("own", &r_own),
                ("foreign", &r_foreign),
                ("missing", &r_missing),
            ] {
                if r.status >= 500 || !op.documented.contains(&r.status) {
                    leaks.push(format!(
                        "{role} {} {} [{what}] -> {} (undocumented or 5xx): {}",
                        op.method, op.path, r.status, r.text
                    ));
                }
            }
            if r_missing.status < 400 {
                leaks.push(format!(
                    "{role} {} {} on a missing id: {}",
                    op.method, op.path, r_missing.status
                ));
            }
            // The matrix must see its own objects, or it proves nothing.
            let vendor_only = op.path.ends_with("/candidates");
            if *role == "partner_admin"
                && op.method == reqwest::Method::GET
                && !vendor_only
                && op.path.matches('{').count() == 1
                && r_own.status != 200
            {
                leaks.push(format!(
                    "{role} GET {}: own object answered {} {}",
                    op.path,
                    r_own.status,
                    fill2(&own_id, &own.org)
                ));
            }
            if *partner {
                let same = r_foreign.status == r_missing.status
                    && r_foreign.body["code"] == r_missing.body["code"];
                if !same || r_foreign.status < 400 {
                    leaks.push(format!(
                        "{role} {} {}: foreign {} {} vs missing {} {}",
                        op.method,
                        op.path,
                        r_foreign.status,
                        r_foreign.body["code"],
                        r_missing.status,
                        r_missing.body["code"]
                    ));
                }
                if r_foreign.status == 404
                    && r_missing.status == 404
                    && r_foreign.text != r_missing.text
                {
                    leaks.push(format!(
                        "{role} {} {}: foreign and missing 404 bodies differ",
                        op.method, op.path
                    ));
                }
            }
        }
    }
    // Ids in bodies are checked like ids in paths.
    let body_checks = [
        (
            "/api/v1/opportunities",
            json!({"topic": "t", "customer_id": foreign.customer, "estimated_revenue": {"amount": "1", "currency": "EUR"}, "expected_close_date": "2027-01-01"}),
            json!({"topic": "t", "customer_id": missing, "estimated_revenue": {"amount": "1", "currency": "EUR"}, "expected_close_date": "2027-01-01"}),
        ),
        (
            "/api/v1/users",
            json!({"subject": "s1", "org_id": foreign.org, "role": "account_manager", "name": "n", "email": "a@b.example"}),
            json!({"subject": "s2", "org_id": missing, "role": "account_manager", "name": "n", "email": "a@b.example"}),
        ),
        (
            "/api/v1/customers",
            json!({"name": "X", "country": "DE", "org_id": foreign.org}),
            json!({"name": "Y", "country": "DE", "org_id": missing}),
        ),
        (
            &format!("/api/v1/opportunities/{}/assign-owner", own.opportunity),
            json!({"user_id": foreign.user}),
            json!({"user_id": missing}),
        ),
    ];
    for (path, with_foreign, with_missing) in body_checks.iter() {
        let a = w.app.post(path, &w.other.admin.token, with_foreign).await;
        let b = w.app.post(path, &w.other.admin.token, with_missing).await;
        cells += 2;
        if a.status != b.status || a.body["errors"] != b.body["errors"] || a.status < 400 {
            leaks.push(format!(
                "body id on {path}: foreign {} {} vs missing {} {}",
                a.status, a.text, b.status, b.text
            ));
        }
    }
    eprintln!(
        "authorization matrix: {} operations x {} roles x (own, foreign, missing): {cells} cells, {} leaks",
        ops.len(),
        cast.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}
