//! Invariants of DOMAIN.md that cut across resources: capacity under
//! parallel assignment, `allowed_actions` agreeing with what the endpoints
//! answer, the extension horizon, masked customer names wherever the caller
//! meets them, reveal events, and one 422 listing every failing field.

use chrono::NaiveDate;
use futures_util::future::join_all;
use prm_tests::{Resp, TestApp, partner_opportunity};
use serde_json::{Value, json};

use crate::world::{accepted_by, actions, approve, opp_path, registered, world};

fn has(list: &[String], action: &str) -> bool {
    list.iter().any(|a| a == action)
}

fn date(r: &Resp, field: &str) -> NaiveDate {
    r.body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {}", r.text))
        .parse()
        .unwrap()
}

/// A partner org (reseller, no parent) with the given profile.
async fn partner(app: &TestApp, name: &str, profile: Value) -> String {
    let id = app.org(name, "reseller", None).await;
    app.patch(
        &format!("/api/v1/orgs/{id}"),
        &app.admin(),
        &json!({ "profile": profile }),
    )
    .await
    .expect(200);
    id
}

/// The best match for [`draft`]s: DE, retail, cloud, platinum.
async fn best_partner(app: &TestApp, name: &str, capacity: i32) -> String {
    partner(
        app,
        name,
        json!({"tier": "platinum", "capacity": capacity, "countries": ["DE"],
               "industries": ["retail"], "product_lines": ["cloud"]}),
    )
    .await
}

/// A weak match for [`draft`]s with room for everything.
async fn fallback_partner(app: &TestApp, name: &str) -> String {
    partner(
        app,
        name,
        json!({"tier": "registered", "capacity": 1000, "countries": ["FR"],
               "industries": ["energy"], "product_lines": ["storage"]}),
    )
    .await
}

/// A vendor draft (vendor admin acting) that [`best_partner`]s match.
async fn draft(app: &TestApp, customer: &str) -> String {
    app.post(
        "/api/v1/opportunities",
        &app.admin(),
        &json!({"topic": "Lead", "customer_id": customer, "country": "DE",
                "industry": "retail", "product_lines": ["cloud"]}),
    )
    .await
    .expect(201)
    .id()
}

async fn distribute(app: &TestApp, id: &str, partner: &str) -> Resp {
    app.act(
        id,
        "distribute",
        &app.admin(),
        Some(json!({ "partner_id": partner })),
    )
    .await
}

/// Open (delivered or accepted) opportunities held by `partner`.
fn open_held_by(app: &TestApp, partner: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM opportunities \
         WHERE primary_partner_id = '{partner}' AND status IN ('delivered', 'accepted')"
    ))
}

/// One round: a best partner with `capacity` already holding `held` offers,
/// a fallback, and `parallel` auto-assigns fired at once. Returns how many
/// open opportunities the best partner holds afterwards.
async fn capacity_round(
    app: &TestApp,
    customer: &str,
    tag: &str,
    capacity: i32,
    held: usize,
    parallel: usize,
) -> i64 {
    let p = best_partner(app, &format!("Best {tag}"), capacity).await;
    fallback_partner(app, &format!("Fallback {tag}")).await;
    for _ in 0..held {
        let id = draft(app, customer).await;
        distribute(app, &id, &p).await.expect(200);
    }
    let mut drafts = Vec::new();
    for _ in 0..parallel {
        drafts.push(draft(app, customer).await);
    }
    // Setup check: the best partner really is the top candidate.
    let ranking = app
        .get(
            &format!("{}/candidates", opp_path(&drafts[0])),
            &app.admin(),
        )
        .await
        .expect(200);
    assert_eq!(
        ranking.body["items"][0]["org_id"], p,
        "round {tag}: setup puts the best partner first: {}",
        ranking.text
    );
    let token = app.admin();
    let results = join_all(
        drafts
            .iter()
            .map(|id| app.act(id, "auto-assign", &token, None)),
    )
    .await;
    for r in &results {
        assert!(
            r.status == 200 || (r.status == 409 && r.body["code"] == "no_candidate"),
            "round {tag}: auto-assign answers 200 or 409 no_candidate: {} {}",
            r.status,
            r.text
        );
    }
    open_held_by(app, &p)
}

#[actix_web::test]
async fn auto_assign_never_exceeds_capacity_under_parallel_calls() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let customer = app.customer(&vendor, "Vendor Customer").await;
    for round in 0..3 {
        let open = capacity_round(&app, &customer, &format!("2-{round}"), 2, 1, 4).await;
        assert!(
            open <= 2,
            "round {round}: a partner with capacity 2 holding 1 offer got {} more \
             from 4 parallel auto-assigns: it holds {open} open opportunities",
            open - 1
        );
    }
    for round in 0..3 {
        let open = capacity_round(&app, &customer, &format!("1-{round}"), 1, 0, 2).await;
        assert!(
            open <= 1,
            "round {round}: a partner with capacity 1 got {open} of 2 parallel auto-assigns"
        );
    }
}

#[actix_web::test]
async fn a_vendor_writers_own_distribution_may_exceed_capacity_but_auto_assign_then_skips_it() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let customer = app.customer(&vendor, "Vendor Customer").await;
    let p = best_partner(&app, "Full", 1).await;
    let q = fallback_partner(&app, "Fallback").await;
    let first = draft(&app, &customer).await;
    distribute(&app, &first, &p).await.expect(200);
    // The channel manager's explicit choice is not refused by the profile.
    let second = draft(&app, &customer).await;
    distribute(&app, &second, &p).await.expect(200);
    assert_eq!(open_held_by(&app, &p), 2);
    // The automatic assignment counts both and passes the full partner by.
    let third = draft(&app, &customer).await;
    let res = app
        .act(&third, "auto-assign", &app.admin(), None)
        .await
        .expect(200);
    assert_eq!(res.body["primary_partner_id"], q.as_str());
    assert_eq!(open_held_by(&app, &p), 2, "nothing more was offered to it");
}

#[actix_web::test]
async fn allowed_actions_drops_extend_once_the_extension_limit_is_reached() {
    let w = world().await;
    w.app
        .set_policy(|p| {
            p["max_extensions"] = json!(1);
            // Wide enough that "current expiry + 10 days" is within the
            // horizon however it is counted: this test is about the count.
            p["max_extension_days"] = json!(200);
        })
        .await;
    let id = accepted_by(&w, &w.other.admin).await;
    let accepted = w
        .app
        .get(&opp_path(&id), &w.other.admin.token)
        .await
        .expect(200);
    let before = w
        .app
        .get(&opp_path(&id), &w.other.admin.token)
        .await
        .expect(200);
    assert!(
        has(&actions(&before), "extend"),
        "before any extension: {:?}",
        actions(&before)
    );
    let new_expiry = date(&accepted, "expires_on") + chrono::Days::new(10);
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": new_expiry.to_string()})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["extension_count"], 1);
    assert!(
        !has(&actions(&res), "extend"),
        "the extend response offers no further extend: {:?}",
        actions(&res)
    );
    let after = w
        .app
        .get(&opp_path(&id), &w.other.admin.token)
        .await
        .expect(200);
    assert!(
        !has(&actions(&after), "extend"),
        "GET still offers extend after the limit: {:?}",
        actions(&after)
    );
    let further = new_expiry + chrono::Days::new(5);
    w.app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": further.to_string()})),
        )
        .await
        .expect_problem(409, "extension_limit_reached");
}

#[actix_web::test]
async fn allowed_actions_drops_register_deal_once_a_registration_exists() {
    let w = world().await;
    let id = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &partner_opportunity(&w.res.customer),
        )
        .await
        .expect(201)
        .id();
    let before = w
        .app
        .get(&opp_path(&id), &w.res.am1.token)
        .await
        .expect(200);
    assert!(
        has(&actions(&before), "register_deal"),
        "before registering: {:?}",
        actions(&before)
    );
    let p = format!("{}/deal-registration", opp_path(&id));
    let body = json!({"product_lines": ["cloud"]});
    w.app.post(&p, &w.res.am1.token, &body).await.expect(201);
    let after = w
        .app
        .get(&opp_path(&id), &w.res.am1.token)
        .await
        .expect(200);
    assert!(
        !has(&actions(&after), "register_deal"),
        "GET still offers register_deal with a live registration: {:?}",
        actions(&after)
    );
    w.app
        .post(&p, &w.res.am1.token, &body)
        .await
        .expect_problem(409, "registration_exists");
}

#[actix_web::test]
async fn a_registration_blocked_by_another_orgs_exclusivity_offers_no_approve() {
    let w = world().await;
    let mut regs = Vec::new();
    for admin in [&w.res.admin, &w.other.admin] {
        let (_, reg) = registered(&w, admin, "Quorvex Industries GmbH").await;
        regs.push(reg);
    }
    let (first, second) = (&regs[0], &regs[1]);
    approve(&w, first).await;
    let blocked = w
        .app
        .get(&format!("/api/v1/deal-registrations/{second}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(blocked.body["status"], "submitted");
    let offered = actions(&blocked);
    assert!(
        has(&offered, "reject"),
        "the vendor may still reject it: {offered:?}"
    );
    assert!(
        !has(&offered, "approve"),
        "another org holds exclusivity, yet approve is offered: {offered:?}"
    );
    w.app
        .post(
            &format!("/api/v1/deal-registrations/{second}/approve"),
            &w.cm.token,
            &json!({}),
        )
        .await
        .expect_problem(409, "registration_exclusivity");
}

#[actix_web::test]
async fn the_extension_moves_the_current_expiry_forward_by_at_most_max_extension_days() {
    let w = world().await;
    // Default validity (90) and horizon (90); enough extensions for three tries.
    w.app
        .set_policy(|p| {
            p["max_extensions"] = json!(5);
        })
        .await;
    let policy = w
        .app
        .get("/api/v1/policies", &w.app.admin())
        .await
        .expect(200);
    assert_eq!(policy.body["opportunity_validity_days"], 90);
    assert_eq!(policy.body["max_extension_days"], 90);
    let id = accepted_by(&w, &w.other.admin).await;
    let accepted = w
        .app
        .get(&opp_path(&id), &w.other.admin.token)
        .await
        .expect(200);
    let current = date(&accepted, "expires_on");

    let plus_30 = current + chrono::Days::new(30);
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": plus_30.to_string()})),
        )
        .await;
    let res = res.expect(200);
    assert_eq!(res.body["expires_on"], plus_30.to_string());
    let current = date(&res, "expires_on");

    let too_far = current + chrono::Days::new(91);
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": too_far.to_string()})),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["expires_on"], "{}", res.text);

    let plus_90 = current + chrono::Days::new(90);
    let res = w
        .app
        .act(
            &id,
            "extend",
            &w.other.admin.token,
            Some(json!({"expires_on": plus_90.to_string()})),
        )
        .await
        .expect(200);
    assert_eq!(res.body["expires_on"], plus_90.to_string());
    assert_eq!(res.body["extension_count"], 2);
}

const SECRET_NAME: &str = "Zyxwvut Holdings GmbH";
const SECRET_WORD: &str = "Zyxwvut";

/// Every event the caller may read, and the raw text of every page.
async fn all_events(app: &TestApp, token: &str) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut text = String::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let path = match &after {
            Some(a) => format!("/api/v1/events?after={a}&limit=200"),
            None => "/api/v1/events?limit=200".to_owned(),
        };
        let r = app.get(&path, token).await.expect(200);
        text.push_str(&r.text);
        let page = r.body["items"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            break;
        }
        items.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_owned()),
            None => break,
        }
    }
    (items, text)
}

fn list_ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.text))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The item of a list page with this id (`what` names the expectation).
fn listed_item(list: &Resp, id: &str, what: &str) -> Value {
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{what}: {}", list.text))
        .clone()
}

/// A reseller's customer with the distinctive name, and a partner-created
/// opportunity for it whose topic does not contain the name.
async fn secret_customer_opportunity(w: &crate::world::World) -> (String, String) {
    let (customer, opp) = crate::world::own_opportunity(w, &w.res.admin, SECRET_NAME).await;
    assert!(!opp.body["topic"].as_str().unwrap().contains(SECRET_WORD));
    (customer, opp.id())
}

#[actix_web::test]
async fn a_masked_customer_name_is_masked_on_opportunities_lists_and_search() {
    let w = world().await;
    let (customer, id) = secret_customer_opportunity(&w).await;
    let d = &w.dist.admin.token;

    let c = w
        .app
        .get(&format!("/api/v1/customers/{customer}"), d)
        .await
        .expect(200);
    assert_eq!(c.body["name_masked"], true, "{}", c.text);
    assert!(!c.text.contains(SECRET_WORD));

    let got = w.app.get(&opp_path(&id), d).await.expect(200);
    assert_ne!(
        got.body["customer"]["name"], SECRET_NAME,
        "GET /opportunities/{{id}} shows the distributor the masked name in clear"
    );
    assert_eq!(
        got.body["customer"]["name_masked"], true,
        "GET /opportunities/{{id}}: {}",
        got.text
    );
    assert!(
        !got.text.contains(SECRET_WORD),
        "GET /opportunities/{{id}}: {}",
        got.text
    );

    let list = w.app.get("/api/v1/opportunities", d).await.expect(200);
    let item = listed_item(&list, &id, "the distributor lists its reseller's");
    assert_eq!(
        item["customer"]["name"], got.body["customer"]["name"],
        "the list shows the same masked name"
    );
    assert_eq!(item["customer"]["name_masked"], true);
    assert!(
        !list.text.contains(SECRET_WORD),
        "the list shows it in clear"
    );

    let search = w
        .app
        .get(&format!("/api/v1/opportunities?q={SECRET_WORD}"), d)
        .await
        .expect(200);
    assert!(
        !list_ids(&search).contains(&id),
        "a masked name is not searchable by the distributor: {}",
        search.text
    );

    let timeline = w
        .app
        .get(&format!("{}/timeline", opp_path(&id)), d)
        .await
        .expect(200);
    assert!(
        !timeline.text.contains(SECRET_WORD),
        "timeline: {}",
        timeline.text
    );
    let (_, events) = all_events(&w.app, d).await;
    assert!(!events.contains(SECRET_WORD), "events: {events}");

    // The holder and the vendor see it in clear and find it.
    for (who, token) in [("holder", &w.res.admin.token), ("vendor", &w.cm.token)] {
        let got = w.app.get(&opp_path(&id), token).await.expect(200);
        assert_eq!(got.body["customer"]["name"], SECRET_NAME, "{who}");
        assert_eq!(
            got.body["customer"]["name_masked"], false,
            "{who}: {}",
            got.text
        );
        let search = w
            .app
            .get(&format!("/api/v1/opportunities?q={SECRET_WORD}"), token)
            .await
            .expect(200);
        assert!(
            list_ids(&search).contains(&id),
            "{who} finds it: {}",
            search.text
        );
    }
}

/// The customer's name and holder that an opportunity is read with are
/// copies on the opportunity (no read joins customers), kept by the
/// database: a renamed customer, a customer passed to another org, and a
/// copy written directly all read as the customer is, so masking follows the
/// holder at once on a read by id and on a list.
#[actix_web::test]
async fn an_opportunitys_customer_name_and_holder_follow_the_customer() {
    let w = world().await;
    let (customer, id) = secret_customer_opportunity(&w).await;
    let d = &w.dist.admin.token;
    let read = |token: String| {
        let app = &w.app;
        let id = id.clone();
        async move {
            let got = app.get(&opp_path(&id), &token).await.expect(200);
            let list = app.get("/api/v1/opportunities", &token).await.expect(200);
            let item = listed_item(&list, &id, "listed");
            assert_eq!(
                item["customer"], got.body["customer"],
                "list and read agree"
            );
            got.body["customer"].clone()
        }
    };
    let mismatched = "SELECT count(*) AS n FROM opportunities o JOIN customers c ON c.id = o.customer_id \
                      WHERE o.customer_name <> c.name OR o.customer_org_id <> c.org_id";

    // Passed to the distributor itself: no longer masked for it.
    w.app.sql(&format!(
        "UPDATE customers SET org_id = '{}' WHERE id = '{customer}'",
        w.dist.id
    ));
    let shown = read(d.clone()).await;
    assert_eq!(shown["name"], SECRET_NAME, "{shown}");
    assert_eq!(shown["name_masked"], false);
    assert_eq!(w.app.count(mismatched), 0);

    // Back to the reseller, and renamed: masked again for the distributor,
    // the new name in clear for the holder.
    w.app.sql(&format!(
        "UPDATE customers SET org_id = '{}', name = 'Qwertz Partners AG' WHERE id = '{customer}'",
        w.res.id
    ));
    let masked = read(d.clone()).await;
    assert_eq!(masked["name_masked"], true, "{masked}");
    assert!(!masked.to_string().contains("Qwertz"), "{masked}");
    let held = read(w.res.admin.token.clone()).await;
    assert_eq!(held["name"], "Qwertz Partners AG");
    assert_eq!(held["name_masked"], false);

    // Copies written directly are set again from the customer.
    w.app.sql(&format!(
        "UPDATE opportunities SET customer_name = 'Forged', customer_org_id = '{}' WHERE id = '{id}'",
        w.dist.id
    ));
    assert_eq!(read(d.clone()).await, masked);
    assert_eq!(read(w.res.admin.token.clone()).await, held);
    assert_eq!(w.app.count(mismatched), 0);
}

#[actix_web::test]
async fn each_reveal_is_an_event_for_the_vendor_and_the_revealing_org() {
    let w = world().await;
    let (customer, _) = secret_customer_opportunity(&w).await;
    let shown = w
        .app
        .get(
            &format!("/api/v1/customers/{customer}?reveal=true"),
            &w.dist.admin.token,
        )
        .await
        .expect(200);
    assert_eq!(shown.body["name"], SECRET_NAME);
    assert_eq!(shown.body["name_masked"], false);

    let reveals = |items: &[Value]| {
        items
            .iter()
            .filter(|e| e["type"] == "customer.revealed" && e["data"]["customer_id"] == customer)
            .count()
    };
    let (dist, _) = all_events(&w.app, &w.dist.admin.token).await;
    assert_eq!(
        reveals(&dist),
        1,
        "the revealing org reads its reveal event"
    );
    let (vendor, _) = all_events(&w.app, &w.app.admin()).await;
    assert_eq!(reveals(&vendor), 1, "the vendor reads the reveal event");
    for (who, token) in [
        ("holder", &w.res.admin.token),
        ("unrelated partner", &w.other.admin.token),
    ] {
        let (items, _) = all_events(&w.app, token).await;
        assert_eq!(reveals(&items), 0, "{who} does not read the reveal");
    }
}

#[actix_web::test]
async fn one_422_lists_every_failing_field_of_a_create() {
    let w = world().await;
    let res = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &json!({"topic": "", "country": "Germany", "customer_id": w.res.customer}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let fields = res.error_fields();
    for f in [
        "topic",
        "country",
        "estimated_revenue",
        "expected_close_date",
    ] {
        assert_eq!(
            fields.iter().filter(|x| x.as_str() == f).count(),
            1,
            "{f} listed exactly once in {fields:?}: {}",
            res.text
        );
    }
    assert_eq!(
        w.app.count("SELECT count(*) AS n FROM opportunities"),
        0,
        "nothing was created"
    );
}
