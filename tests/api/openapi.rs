//! The OpenAPI contract: committed, served, complete.

use prm_tests::TestApp;
use serde_json::{Value, json};

fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json is committed");
    serde_json::from_str(&text).unwrap()
}

#[actix_web::test]
async fn served_document_matches_the_committed_one() {
    let app = TestApp::spawn().await;
    let res = app
        .send(
            app.client
                .get(format!("{}/api-docs/openapi.json", app.base)),
        )
        .await
        .expect(200);
    assert!(
        res.body == committed(),
        "the served OpenAPI document differs from openapi/openapi.json: run `make openapi` and commit"
    );
}

#[test]
fn every_operation_is_documented_completely() {
    let doc = committed();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let here = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{here}: operationId");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{here}: tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{here}: success response"
            );
            if path.starts_with("/api/v1") {
                assert_eq!(
                    op["security"][0]["bearer"],
                    Value::Array(vec![]),
                    "{here}: bearer"
                );
                for s in ["401", "403", "500", "503"] {
                    assert!(responses.contains_key(s), "{here}: {s}");
                }
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{here}: 404");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(s), "{here}: {s}");
                }
            }
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let target = r.get("$ref").and_then(Value::as_str).map(|name| {
                        let key = name.rsplit('/').next().unwrap();
                        &doc["components"]["responses"][key]
                    });
                    let r = target.unwrap_or(r);
                    assert!(
                        r["content"]["application/problem+json"]["schema"]["$ref"]
                            == "#/components/schemas/Problem",
                        "{here} {status}: problem schema"
                    );
                }
            }
        }
    }
    assert!(operations >= 18, "found {operations} operations");
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        ids.len(),
        before,
        "operationIds are unique (generated clients need it)"
    );
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let res = app
        .send(app.client.get(format!("{}/swagger-ui/", app.base)))
        .await
        .expect(200);
    assert!(res.content_type().starts_with("text/html"));
    assert!(
        res.text.contains("swagger"),
        "{}",
        &res.text[..200.min(res.text.len())]
    );
    let res = app
        .send(
            app.client
                .get(format!("{}/swagger-ui/swagger-initializer.js", app.base)),
        )
        .await
        .expect(200);
    assert!(res.text.contains("/api-docs/openapi.json"));
}

/// Whether a schema (following `$ref`s) shows a client what it looks like:
/// its own example, or examples for every structured part.
fn has_example(doc: &Value, schema: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    if schema.get("example").is_some() || schema.get("examples").is_some() {
        return true;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return has_example(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    for key in ["oneOf", "allOf", "anyOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            return list.iter().all(|s| {
                s.get("type") == Some(&Value::String("null".into()))
                    || has_example(doc, s, depth + 1)
            });
        }
    }
    if let Some(items) = schema.get("items") {
        return has_example(doc, items, depth + 1);
    }
    match schema.get("properties").and_then(Value::as_object) {
        // Objects pass when every structured property does.
        Some(props) => props.values().all(|p| {
            let structured = p.get("$ref").is_some()
                || p.get("items").is_some()
                || p.get("oneOf").is_some()
                || p.get("properties").is_some();
            !structured || has_example(doc, p, depth + 1)
        }),
        None => schema.get("type").is_some(),
    }
}

#[test]
fn every_operation_has_request_and_response_examples() {
    let doc = committed();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(body) = op.get("requestBody") {
                // JSON bodies by their schema; a CSV body by its example.
                let shown = body["content"].as_object().unwrap().iter().all(|(t, c)| {
                    if t == "application/json" {
                        has_example(&doc, &c["schema"], 0)
                    } else {
                        c.get("example").is_some_and(|e| e.is_string())
                    }
                });
                if !shown {
                    missing.push(format!("{method} {path}: request"));
                }
            }
            for (status, r) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                let schema = &r["content"]["application/json"]["schema"];
                if !schema.is_null() && !has_example(&doc, schema, 0) {
                    missing.push(format!("{method} {path}: {status} response"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without examples: {missing:#?}"
    );
}

/// A `$ref`'s schema name.
fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"].as_str().and_then(|r| r.rsplit('/').next())
}

#[test]
fn public_names_carry_no_dto_and_every_page_refers_to_its_item() {
    let doc = committed();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let leaked: Vec<&String> = schemas.keys().filter(|k| k.contains("Dto")).collect();
    assert!(leaked.is_empty(), "schema names with Dto: {leaked:?}");
    let mut pages = 0;
    for (name, schema) in schemas {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        pages += 1;
        assert_eq!(schema["properties"]["items"]["type"], "array", "{name}");
        assert_eq!(
            ref_name(&schema["properties"]["items"]["items"]),
            Some(item),
            "{name}: its items must be the named {item} schema a GET returns, not a copy"
        );
        assert!(schemas.contains_key(item), "{name}: {item} is defined");
    }
    assert!(pages >= 11, "found {pages} Page_ schemas");
}

#[test]
fn every_shared_error_response_has_its_own_example() {
    let doc = committed();
    let responses = doc["components"]["responses"].as_object().unwrap();
    let mut codes = Vec::new();
    for (name, r) in responses {
        let content = &r["content"]["application/problem+json"];
        let example = &content["example"];
        assert!(example.is_object(), "{name}: example");
        // A problem body, with its own status and code.
        let status = example["status"].as_u64().unwrap();
        assert_eq!(
            example["type"],
            format!("urn:prm:problem:{}", example["code"].as_str().unwrap()),
            "{name}"
        );
        for field in ["title", "detail", "code"] {
            assert!(example[field].is_string(), "{name}: {field}");
        }
        assert!(example["errors"].is_array(), "{name}: errors");
        codes.push((status, example["code"].as_str().unwrap().to_owned()));
    }
    // Where operations use them, the example's status is the one answered.
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for (status, r) in op["responses"].as_object().unwrap() {
                if let Some(name) = ref_name(r) {
                    let example =
                        &responses[name]["content"]["application/problem+json"]["example"];
                    assert_eq!(example["status"].to_string(), *status, "{name} as {status}");
                }
            }
        }
    }
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), codes.len(), "one example each: {codes:?}");
    for expected in [
        (401, "invalid_token"),
        (404, "not_found"),
        (412, "version_mismatch"),
        (503, "service_unavailable"),
    ] {
        assert!(
            codes.contains(&(expected.0, expected.1.to_owned())),
            "{expected:?} in {codes:?}"
        );
    }
    let mismatch =
        &responses["PreconditionFailed"]["content"]["application/problem+json"]["example"];
    assert!(mismatch["current_version"].is_i64(), "{mismatch}");
}

#[test]
fn the_dashboard_is_a_discriminated_one_of() {
    let doc = committed();
    let dashboard = &doc["components"]["schemas"]["Dashboard"];
    assert_eq!(dashboard["discriminator"]["propertyName"], "kind");
    let mapping = dashboard["discriminator"]["mapping"].as_object().unwrap();
    let shapes = dashboard["oneOf"].as_array().unwrap();
    assert_eq!(mapping.len(), shapes.len());
    for (kind, target) in mapping {
        let name = target.as_str().unwrap().rsplit('/').next().unwrap();
        assert!(
            shapes.iter().any(|s| ref_name(s) == Some(name)),
            "{kind} maps to one of the shapes"
        );
        let shape = &doc["components"]["schemas"][name];
        assert_eq!(shape["properties"]["kind"]["enum"], json!([kind]), "{name}");
        assert!(
            shape["required"]
                .as_array()
                .unwrap()
                .contains(&json!("kind")),
            "{name}: kind is required"
        );
    }
}

#[test]
fn servers_are_given_and_every_create_links_to_what_acts_on_it() {
    let doc = committed();
    let servers = doc["servers"].as_array().unwrap();
    assert!(!servers.is_empty() && servers[0]["url"].is_string());
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let links_of = |path: &str, op: &str, status: &str| -> Vec<String> {
        let links = &doc["paths"][path][op]["responses"][status]["links"];
        for (name, link) in links.as_object().into_iter().flatten() {
            let target = link["operationId"].as_str().unwrap();
            assert_eq!(name, target, "{path}");
            assert!(ids.contains(&target), "{path}: {target} exists");
            assert_eq!(link["parameters"]["id"], "$response.body#/id", "{path}");
        }
        let mut names: Vec<String> = links
            .as_object()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let opp = links_of("/api/v1/opportunities", "post", "201");
    for expected in [
        "get_opportunity",
        "update_opportunity",
        "distribute_opportunity",
        "accept_opportunity",
        "close_opportunity",
        "add_note",
        "register_deal",
    ] {
        assert!(opp.contains(&expected.to_owned()), "{expected} in {opp:?}");
    }
    assert_eq!(
        links_of("/api/v1/customers", "post", "201"),
        [
            "get_customer",
            "remove_customer_external_ref",
            "set_customer_external_ref"
        ]
    );
    assert_eq!(
        links_of("/api/v1/orgs", "post", "201"),
        ["get_org", "update_org"]
    );
    assert_eq!(
        links_of("/api/v1/users", "post", "201"),
        ["get_user", "update_user"]
    );
    assert!(links_of("/api/v1/webhooks", "post", "201").contains(&"get_webhook".to_owned()));
    assert!(
        links_of(
            "/api/v1/opportunities/{id}/deal-registration",
            "post",
            "201"
        )
        .contains(&"approve_deal_registration".to_owned())
    );
    // Every create whose resource can be read back links to its GET.
    for (path, item) in doc["paths"].as_object().unwrap() {
        let created = &item["post"]["responses"]["201"];
        let readable = doc["paths"]
            .get(format!("{path}/{{id}}"))
            .is_some_and(|i| i.get("get").is_some());
        if created.is_object() && readable {
            assert!(
                !links_of(path, "post", "201").is_empty(),
                "POST {path}: links to {path}/{{id}}"
            );
        }
    }
}

#[test]
fn the_status_filter_is_a_form_array_of_the_status_enum() {
    let doc = committed();
    let params = doc["paths"]["/api/v1/opportunities"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let status = params.iter().find(|p| p["name"] == "status").unwrap();
    assert_eq!(status["style"], "form");
    assert_eq!(status["explode"], false);
    assert_eq!(status["schema"]["type"], "array");
    assert_eq!(
        ref_name(&status["schema"]["items"]),
        Some("OpportunityStatus")
    );
}
