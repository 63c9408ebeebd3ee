//! The OpenAPI contract: committed, served, complete.

use prm_tests::TestApp;
use serde_json::Value;

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
