//! Input Postgres cannot store: a NUL character in any string of a body or
//! a query is a 422 naming the field, never a 500. The cases are read from
//! the served OpenAPI document, so a new field or operation is covered
//! without touching this test.

use prm_tests::TestApp;
use serde_json::{Value, json};

const NUL_TEXT: &str = "a\u{0}b";

/// The schema `schema` points at, if it is a reference.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Every path to a string inside `schema`: `topic`, `contact.name`,
/// `product_lines[0]`.
fn string_fields(doc: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for branch in ["allOf", "oneOf", "anyOf"] {
        for s in schema[branch].as_array().into_iter().flatten() {
            string_fields(doc, s, path, out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"string") && !path.is_empty() && !out.iter().any(|p| p == path) {
        out.push(path.to_owned());
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, s) in props {
            let inner = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            string_fields(doc, s, &inner, out);
        }
    }
    if types.contains(&"array") {
        string_fields(doc, &schema["items"], &format!("{path}[0]"), out);
    }
}

/// A body holding only `value` at `path`.
fn body_with(path: &str, value: &str) -> Value {
    let mut parts: Vec<(String, bool)> = Vec::new();
    for segment in path.split('.') {
        match segment.split_once('[') {
            Some((name, _)) => {
                parts.push((name.to_owned(), true));
            }
            None => parts.push((segment.to_owned(), false)),
        }
    }
    let mut inner = json!(value);
    for (name, is_array) in parts.into_iter().rev() {
        if is_array {
            inner = json!([inner]);
        }
        inner = json!({ name: inner });
    }
    inner
}

fn with_ids(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                s.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[actix_web::test]
async fn a_nul_character_in_any_string_of_any_body_or_query_is_a_422_naming_it() {
    let app = TestApp::spawn().await;
    let token = app.admin();
    let doc = app
        .get("/api-docs/openapi.json", &token)
        .await
        .expect(200)
        .body;
    let mut bodies = 0;
    let mut queries = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let url = format!("{}{}", app.base, with_ids(path));
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let mut fields = Vec::new();
            if !schema.is_null() {
                string_fields(&doc, schema, "", &mut fields);
            }
            for field in &fields {
                let req = app
                    .client
                    .request(method.to_uppercase().parse().unwrap(), &url)
                    .bearer_auth(&token)
                    .json(&body_with(field, NUL_TEXT));
                let res = app.send(req).await;
                assert_eq!(
                    res.status, 422,
                    "{method} {path} with NUL in {field}: {}",
                    res.text
                );
                assert!(
                    res.error_fields().contains(field),
                    "{method} {path}: {field} not named in {}",
                    res.text
                );
                bodies += 1;
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] != "query" {
                    continue;
                }
                let name = param["name"].as_str().expect("name");
                let req = app
                    .client
                    .request(
                        method.to_uppercase().parse().unwrap(),
                        format!("{url}?{name}=a%00b"),
                    )
                    .bearer_auth(&token);
                let res = app.send(req).await;
                assert_eq!(
                    res.status, 422,
                    "{method} {path}?{name} with NUL: {}",
                    res.text
                );
                assert!(
                    res.error_fields().iter().any(|f| f == name),
                    "{method} {path}: {name} not named in {}",
                    res.text
                );
                queries += 1;
            }
        }
    }
    // The walk found the document's fields (a broken walk would pass
    // vacuously): at the time of writing 60-odd body strings, 30-odd
    // query parameters.
    assert!(bodies >= 50, "only {bodies} body string fields were tried");
    assert!(queries >= 20, "only {queries} query parameters were tried");
    println!("NUL refused in {bodies} body string fields and {queries} query parameters");
}

/// Dates are RFC 3339 full-dates with a four-digit year 0001–9999, and
/// amounts match the documented pattern exactly; what is accepted is
/// echoed back in the same form.
#[actix_web::test]
async fn dates_and_amounts_are_taken_only_in_their_documented_form() {
    let app = TestApp::spawn().await;
    let token = app.admin();
    let vendor = app.vendor_id().await;
    let customer = app.customer(&vendor, "Strict Formats Ltd").await;
    let body = |date: &str, amount: &str| {
        json!({"topic": "Strict formats", "customer_id": customer,
               "expected_close_date": date,
               "estimated_revenue": {"amount": amount, "currency": "EUR"}})
    };
    for date in [
        "2027-1-1",
        "+10000-01-01",
        "-0001-01-01",
        "0000-01-01",
        "2027-02-30",
        "2027-01-01T00:00:00Z",
        " 2027-01-01",
    ] {
        let res = app
            .post("/api/v1/opportunities", &token, &body(date, "1.00"))
            .await;
        assert_eq!(res.status, 422, "{date:?}: {}", res.text);
        assert!(
            res.error_fields()
                .contains(&"expected_close_date".to_owned()),
            "{date:?}: {}",
            res.text
        );
    }
    for amount in [" 1.00", "1.00 ", "+1", "1.00000", "0000000000000001", "-0"] {
        let res = app
            .post("/api/v1/opportunities", &token, &body("2027-01-01", amount))
            .await;
        assert_eq!(res.status, 422, "{amount:?}: {}", res.text);
        assert!(
            res.error_fields()
                .contains(&"estimated_revenue.amount".to_owned()),
            "{amount:?}: {}",
            res.text
        );
    }
    let created = app
        .post("/api/v1/opportunities", &token, &body("2027-01-01", "1.5"))
        .await
        .expect(201);
    assert_eq!(created.body["expected_close_date"], "2027-01-01");
    assert_eq!(created.body["estimated_revenue"]["amount"], "1.50");
    let query = app
        .get("/api/v1/opportunities?expires_before=2027-1-1", &token)
        .await;
    assert_eq!(query.status, 422, "{}", query.text);
    assert!(query.error_fields().contains(&"expires_before".to_owned()));
}

/// A NUL in a header value never reaches the service: the HTTP parser
/// refuses the request (a 400 without a body, before any of our code runs),
/// so nothing of it can be stored.
#[actix_web::test]
async fn a_nul_character_in_a_header_is_refused_by_the_http_parser() {
    use std::io::{Read, Write};
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let answer = actix_web::rt::task::spawn_blocking(move || {
        let mut answers = Vec::new();
        for header in ["Idempotency-Key", "X-Request-Id", "If-Match"] {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let request = format!(
                "POST /api/v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 2\r\n{header}: a\0b\r\n\r\n{{}}"
            );
            s.write_all(request.as_bytes()).unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).unwrap_or(0);
            answers.push((header, String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
        answers
    })
    .await
    .unwrap();
    for (header, text) in answer {
        assert!(text.starts_with("HTTP/1.1 400"), "{header}: {text}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
}
