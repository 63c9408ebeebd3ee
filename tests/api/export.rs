//! Exports (API.md, "Bulk"): every list answers `Accept: text/csv` with
//! all its pages in one streamed response, with the same filters,
//! visibility and masking as its JSON pages; memory stays flat.

use std::time::Duration;

use prm_tests::{Receiver, Resp, TestApp, TestUser, partner_opportunity};
use serde_json::{Value, json};

use crate::world::{World, accepted_by, world};

async fn csv_get(app: &TestApp, path: &str, token: &str) -> Resp {
    app.send(
        app.client
            .get(format!("{}{path}", app.base))
            .bearer_auth(token)
            .header("Accept", "text/csv"),
    )
    .await
}

/// Every item of a list, following its JSON pages two at a time.
async fn json_items(app: &TestApp, path: &str, token: &str) -> Result<Vec<Value>, Resp> {
    let (cursor_param, sep) = if path.ends_with("/events") {
        ("after", '?')
    } else {
        ("cursor", if path.contains('?') { '&' } else { '?' })
    };
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{path}{sep}limit=2");
        if let Some(c) = &next {
            url.push_str(&format!("&{cursor_param}={c}"));
        }
        let page = app.get(&url, token).await;
        if page.status != 200 {
            return Err(page);
        }
        if let Some(all) = page.body.as_array() {
            // A list small enough to come whole (collaborators).
            return Ok(all.clone());
        }
        let got = page.body["items"].as_array().unwrap().clone();
        let short = got.len() < 2;
        items.extend(got);
        next = page.body["next_cursor"].as_str().map(str::to_owned);
        if next.is_none() || short {
            return Ok(items);
        }
    }
}

/// What a cell holds for a JSON value, by the rule the document states.
fn expected_cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Bool(_) | Value::Number(_))) => return v.to_string(),
        Some(v) => v.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, step| v.get(step))
}

/// The lists of the served document: path and the CSV header it shows.
async fn documented_lists(app: &TestApp) -> Vec<(String, String)> {
    let doc = app.get("/api-docs/openapi.json", "").await.expect(200).body;
    let mut lists = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(csv) = item["get"]["responses"]["200"]["content"].get("text/csv") {
            let header = csv["example"].as_str().unwrap().trim_end().to_owned();
            lists.push((path.clone(), header));
        }
    }
    lists
}

/// A world in which every list has rows: progress, notes (one internal),
/// a registration, a marketing task, a webhook with deliveries, and a
/// reseller's customer its distributor sees masked.
async fn busy_world() -> (World, String, String, Receiver) {
    let w = world().await;
    let task = w
        .app
        .post(
            "/api/v1/marketing-tasks",
            &w.cm.token,
            &json!({"name": "=SUM(A1)", "product_lines": ["cloud"]}),
        )
        .await
        .expect(201);
    assert!(task.status == 201);
    let rx = Receiver::start(vec![200], 100);
    let hook = w
        .app
        .post(
            "/api/v1/webhooks",
            &w.res.admin.token,
            &json!({"url": rx.url, "events": ["opportunity.delivered", "opportunity.accepted"]}),
        )
        .await
        .expect(201)
        .id();
    let opp = accepted_by(&w, &w.res.admin).await;
    for (i, phase) in ["qualify", "develop", "propose"].iter().enumerate() {
        w.app
            .post(
                &format!("/api/v1/opportunities/{opp}/progress"),
                &w.res.admin.token,
                &json!({"development_phase": phase, "win_probability": 10 * (i + 1),
                        "progress_details": "+49 called, \"quoted\", ok\nnext week"}),
            )
            .await
            .expect(201);
    }
    for (body, internal) in [
        ("shared, with a comma", false),
        ("@internal", true),
        ("third", false),
    ] {
        w.app
            .post(
                &format!("/api/v1/opportunities/{opp}/notes"),
                &w.res.admin.token,
                &json!({"body": body, "internal": internal}),
            )
            .await
            .expect(201);
    }
    // A reseller's own opportunity on its own customer: masked for its
    // distributor in lists, timelines and exports alike.
    for n in 0..3 {
        let mut body = partner_opportunity(&w.res.customer);
        body["topic"] = json!(format!("Reseller's own {n}"));
        let own = w
            .app
            .post("/api/v1/opportunities", &w.res.am1.token, &body)
            .await
            .expect(201)
            .id();
        if n == 0 {
            w.app
                .post(
                    &format!("/api/v1/opportunities/{own}/deal-registration"),
                    &w.res.am1.token,
                    &json!({"product_lines": ["cloud"], "justification": "ours"}),
                )
                .await
                .expect(201);
        }
    }
    assert!(
        w.app
            .tick_until(Duration::from_secs(10), || !rx.received().is_empty())
    );
    (w, opp, hook, rx)
}

#[actix_web::test]
async fn every_list_exports_as_csv_exactly_the_rows_and_values_of_its_json_pages() {
    let (w, opp, hook, _rx) = busy_world().await;
    let lists = documented_lists(&w.app).await;
    assert!(lists.len() >= 14, "{lists:?}");
    let callers: [(&str, &TestUser); 5] = [
        ("channel manager", &w.cm),
        ("distributor admin", &w.dist.admin),
        ("distributor director", &w.dist.director),
        ("reseller admin", &w.res.admin),
        ("reseller account manager", &w.res.am1),
    ];
    let mut masked_cells = 0;
    let mut rows_compared = 0;
    for (path, header) in &lists {
        let path = path.replace("/webhooks/{id}", &format!("/webhooks/{hook}"));
        let path = path.replace("{id}", &opp);
        for (who, user) in &callers {
            let csv = csv_get(&w.app, &path, &user.token).await;
            let items = match json_items(&w.app, &path, &user.token).await {
                Ok(items) => items,
                Err(refused) => {
                    // Refused as JSON: refused alike, as a problem, not a CSV.
                    assert_eq!(csv.status, refused.status, "{who} {path}: {}", csv.text);
                    assert_eq!(csv.content_type(), "application/problem+json");
                    assert_eq!(csv.body["code"], refused.body["code"]);
                    continue;
                }
            };
            assert_eq!(csv.status, 200, "{who} {path}: {}", csv.text);
            assert_eq!(csv.content_type(), "text/csv; charset=utf-8", "{path}");
            let mut reader = csv::Reader::from_reader(csv.text.as_bytes());
            let columns: Vec<String> = reader
                .headers()
                .unwrap()
                .iter()
                .map(str::to_owned)
                .collect();
            assert_eq!(&columns.join(","), header, "{path}: the documented header");
            let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
            assert_eq!(records.len(), items.len(), "{who} {path}: one row per item");
            for (record, item) in records.iter().zip(&items) {
                for (i, column) in columns.iter().enumerate() {
                    let expected = expected_cell(at(item, column));
                    assert_eq!(&record[i], expected, "{who} {path} column {column}");
                    if column.ends_with("name_masked") && &record[i] == "true" {
                        masked_cells += 1;
                    }
                }
                rows_compared += 1;
            }
        }
    }
    assert!(masked_cells > 0, "a masked name was exported masked");
    assert!(rows_compared > 100, "{rows_compared} rows compared");
    // Filters apply as in JSON, and all pages come at once.
    let filtered = csv_get(
        &w.app,
        "/api/v1/opportunities?status=pending_approval&limit=1",
        &w.res.admin.token,
    )
    .await
    .expect(200);
    let rows: Vec<_> = csv::Reader::from_reader(filtered.text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3, "{}", filtered.text);
    assert!(filtered.header("content-length").is_none(), "streamed");
    assert_eq!(
        filtered.header("content-disposition"),
        Some("attachment; filename=\"opportunities.csv\"")
    );
}

#[actix_web::test]
async fn a_refused_export_is_a_problem_before_any_csv() {
    let w = world().await;
    for (path, code) in [
        ("/api/v1/opportunities?cursor=nope", 422),
        ("/api/v1/opportunities?status=bogus", 422),
        ("/api/v1/customers?cursor=nope", 422),
        ("/api/v1/events?after=nope", 422),
    ] {
        let res = csv_get(&w.app, path, &w.cm.token).await;
        assert_eq!(res.status, code, "{path}: {}", res.text);
        assert_eq!(res.content_type(), "application/problem+json", "{path}");
    }
    let res = csv_get(&w.app, "/api/v1/opportunities", "not-a-token").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.content_type(), "application/problem+json");
}

/// Resident and peak memory of a process, in KiB, from `/proc`.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Memory stays flat however long the export: 100,000 opportunities
/// exported by the real binary grow its peak resident memory by less than
/// 20 MiB over what it held before.
#[actix_web::test]
async fn exporting_100000_opportunities_keeps_memory_flat() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let customer = app.customer(&vendor, "Export Customer").await;
    let me = app.get("/api/v1/me", &app.admin()).await.expect(200);
    let user = me.body["user"]["id"].as_str().unwrap().to_owned();
    app.sql(&format!(
        "INSERT INTO opportunities (id, topic, customer_id, contact_name, contact_email, currency,
             estimated_revenue, expected_close_date, customer_need, country, industry, product_lines,
             origin, status, owner_org_id, owner_user_id, created_by_user_id)
         SELECT gen_random_uuid(), 'Export ' || i || ', \"quoted\"', '{customer}', 'Jo Park',
                'jo@customer.example', 'EUR', 1000 + i, DATE '2027-03-31', 'Lower running costs',
                'DE', 'retail', ARRAY['cloud'], 'vendor', 'draft', '{vendor}', '{user}', '{user}'
         FROM generate_series(1, 100000) i"
    ));
    let bin = prm_tests::prm_binary();
    let mut served = prm_tests::serve_binary(&bin, &app.db.url).await;
    let pid = served.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let token = app.admin();
    // Warm up: caches, the pool and the statement cache hold what they will.
    for _ in 0..3 {
        let r = client
            .get(format!("{}/api/v1/opportunities?limit=200", served.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let (before, _) = memory_kib(pid);
    let started = std::time::Instant::now();
    let mut res = client
        .get(format!("{}/api/v1/opportunities", served.base))
        .bearer_auth(&token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(chunk) = res.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let (_, peak) = memory_kib(pid);
    let took = started.elapsed();
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "export of 100000 opportunities: {bytes} bytes in {took:.1?}, resident {before} KiB \
         before, peak {peak} KiB, growth {growth_mib:.1} MiB"
    );
    assert_eq!(lines, 100_001, "a header and 100,000 rows");
    assert!(growth_mib < 20.0, "peak memory grew {growth_mib:.1} MiB");
}
