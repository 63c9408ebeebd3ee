//! The contract's promises checked against the running service: what the
//! served OpenAPI document says a body accepts is what the service does.

use crate::world::{World, opp_path, world};
use serde_json::{Map, Value, json};

/// The served document.
async fn served(w: &World) -> Value {
    w.app
        .send(
            w.app
                .client
                .get(format!("{}/api-docs/openapi.json", w.app.base)),
        )
        .await
        .expect(200)
        .body
}

/// A schema with its `$ref` followed.
fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

/// Whether a property's schema lets it be `null`.
fn nullable(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let typed_null = match &schema["type"] {
        Value::String(t) => t == "null",
        Value::Array(ts) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    typed_null
        || schema["oneOf"]
            .as_array()
            .is_some_and(|items| items.iter().any(|s| nullable(doc, s)))
}

/// The object schema a non-null value of the property is (the one
/// alternative of a nullable `oneOf`), when it is an object.
fn object_schema<'d>(doc: &'d Value, schema: &'d Value) -> Option<&'d Value> {
    let schema = resolve(doc, schema);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    schema["oneOf"]
        .as_array()?
        .iter()
        .find_map(|s| object_schema(doc, s))
}

/// Whether a value read back is cleared: `null`, or an object all of whose
/// fields are `null` (the contact).
fn cleared(v: &Value) -> bool {
    v.is_null()
        || v.as_object()
            .is_some_and(|o| !o.is_empty() && o.values().all(Value::is_null))
}

/// Every `(field path, nullable)` of a body, nested objects included, as the
/// document declares it.
fn fields(doc: &Value, schema: &Value, prefix: &str, out: &mut Vec<(String, bool)>) {
    let schema = resolve(doc, schema);
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (name, prop) in props {
        let path = format!("{prefix}{name}");
        let is_nullable = nullable(doc, prop);
        out.push((path.clone(), is_nullable));
        // Inside a non-nullable object, each field has its own rule.
        if !is_nullable && let Some(inner) = object_schema(doc, prop) {
            fields(doc, inner, &format!("{path}."), out);
        }
    }
}

/// `{"a": {"b": null}}` for `a.b`.
fn null_at(path: &str) -> Value {
    let mut value = Value::Null;
    for part in path.rsplit('.') {
        let mut object = Map::new();
        object.insert(part.to_owned(), value);
        value = Value::Object(object);
    }
    value
}

fn read_at<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(v, |v, part| &v[part])
}

#[actix_web::test]
async fn a_null_in_a_patch_clears_exactly_the_fields_documented_as_nullable() {
    let w = world().await;
    let admin = w.app.admin();
    // One resource per PATCH, every clearable field set.
    let opportunity = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "Everything set", "customer_id": w.vendor_customer,
                    "contact": {"name": "Jo", "email": "jo@c.example", "phone": "+1 555", "title": "CIO"},
                    "estimated_revenue": {"amount": "50000.00", "currency": "EUR"},
                    "expected_close_date": "2027-03-31", "customer_situation": "s",
                    "customer_need": "n", "proposed_solution": "p", "country": "DE",
                    "industry": "retail", "product_lines": ["cloud"]}),
        )
        .await
        .expect(201)
        .id();
    let user = w.app.user(&w.dist.id, "account_manager").await;
    let targets = [
        (
            "/api/v1/opportunities/{id}",
            opp_path(&opportunity),
            w.cm.token.clone(),
        ),
        (
            "/api/v1/orgs/{id}",
            format!("/api/v1/orgs/{}", w.res.id),
            admin.clone(),
        ),
        (
            "/api/v1/users/{id}",
            format!("/api/v1/users/{}", user.id),
            admin.clone(),
        ),
    ];

    let doc = served(&w).await;
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("patch") else {
            continue;
        };
        let (_, path, token) = targets
            .iter()
            .find(|(t, ..)| t == template)
            .unwrap_or_else(|| panic!("PATCH {template}: add a resource to this test"));
        let body = &op["requestBody"]["content"]["application/json"]["schema"];
        let mut all = Vec::new();
        fields(&doc, body, "", &mut all);
        assert!(!all.is_empty(), "PATCH {template}: no fields found");
        for (field, is_nullable) in all {
            let here = format!("PATCH {template} {{{field}: null}}");
            let before = w.app.get(path, token).await.expect(200).body;
            let res = w.app.patch(path, token, &null_at(&field)).await;
            if is_nullable {
                assert!(
                    !cleared(read_at(&before, &field)),
                    "{here}: set it before clearing it"
                );
                let after = res.expect(200).body;
                assert!(
                    cleared(read_at(&after, &field)),
                    "{here}: documented as nullable, so a null clears it; read back {}",
                    read_at(&after, &field)
                );
            } else {
                let res = res.expect_problem(422, "validation_failed");
                assert_eq!(res.error_fields(), vec![field.clone()], "{here}");
                let after = w.app.get(path, token).await.expect(200).body;
                assert_eq!(after, before, "{here}: a refused edit changes nothing");
            }
            checked += 1;
        }
    }
    // The opportunity's 10, the org's 4 and its profile's 6, the user's 4.
    assert!(checked >= 24, "checked {checked} fields");
}

#[actix_web::test]
async fn a_null_contact_clears_all_four_contact_fields_and_is_recorded() {
    let w = world().await;
    let id = crate::world::draft(&w).await;
    let o = w
        .app
        .patch(&opp_path(&id), &w.cm.token, &json!({"contact": null}))
        .await
        .expect(200);
    assert_eq!(
        o.body["contact"],
        json!({"name": null, "email": null, "phone": null, "title": null})
    );
    let t = w
        .app
        .get(&format!("{}/timeline", opp_path(&id)), &w.cm.token)
        .await
        .expect(200);
    let change = t.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "change")
        .expect("the edit is in the timeline");
    let mut fields: Vec<&str> = change["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["new"].is_null(), "{c}");
            c["field"].as_str().unwrap()
        })
        .collect();
    fields.sort_unstable();
    // The draft had no title: only what changed is recorded.
    assert_eq!(fields, ["contact.email", "contact.name", "contact.phone"]);
}

#[actix_web::test]
async fn topic_and_product_lines_cannot_be_cleared_with_null_but_an_empty_list_empties() {
    let w = world().await;
    let id = crate::world::draft(&w).await;
    let res = w
        .app
        .patch(
            &opp_path(&id),
            &w.cm.token,
            &json!({"topic": null, "product_lines": null}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, ["product_lines", "topic"]);
    assert!(res.text.contains("cannot be cleared"), "{}", res.text);
    let o = w
        .app
        .patch(&opp_path(&id), &w.cm.token, &json!({"product_lines": []}))
        .await
        .expect(200);
    assert_eq!(o.body["product_lines"], json!([]));
    assert_eq!(o.body["topic"], "Vendor lead");
}

#[actix_web::test]
async fn the_status_filter_is_a_comma_list_of_statuses_or_the_name_repeated() {
    let w = world().await;
    let draft = crate::world::draft(&w).await;
    let offered = crate::world::delivered_to(&w, &w.dist.id).await;
    let ids = |r: prm_tests::Resp| -> Vec<String> {
        let mut ids: Vec<String> = r.expect(200).body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![draft.clone(), offered.clone()];
    both.sort();
    let list = |q: &str| format!("/api/v1/opportunities?{q}");
    // As documented: `style: form, explode: false`.
    assert_eq!(
        ids(w
            .app
            .get(&list("status=draft,delivered"), &w.cm.token)
            .await),
        both
    );
    assert_eq!(
        ids(w.app.get(&list("status=delivered"), &w.cm.token).await),
        vec![offered.clone()]
    );
    // As clients that ignore `explode` send it, with other parameters around.
    assert_eq!(
        ids(w
            .app
            .get(
                &list("limit=10&status=draft&status=delivered&sort=-created_at"),
                &w.cm.token
            )
            .await),
        both
    );
    for bad in [
        "status=delivered,shipped",
        "status=",
        "status=won&status=nope",
    ] {
        let r = w
            .app
            .get(&list(bad), &w.cm.token)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), ["status"], "{bad}");
    }
    // At most the 11 statuses there are.
    let twelve = ["draft"; 12].join(",");
    w.app
        .get(&list(&format!("status={twelve}")), &w.cm.token)
        .await
        .expect_problem(422, "validation_failed");
    // Any other repeated parameter is still refused.
    w.app
        .get(&list("limit=1&limit=2"), &w.cm.token)
        .await
        .expect_problem(422, "validation_failed");
}
