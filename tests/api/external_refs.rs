//! External references (DOMAIN.md): each org's own id for an opportunity or
//! a customer it can see — unique per org and kind, private to the org, a
//! list filter, and a 409 naming the existing id on a duplicate create.

use prm_tests::partner_opportunity;
use serde_json::{Value, json};

use crate::world::{accepted_by, opp_path, world};

fn items(r: &prm_tests::Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {}", r.text))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_second_create_with_the_same_external_ref_is_a_409_naming_the_existing_id() {
    let w = world().await;
    let admin = &w.res.admin;
    let customer = w
        .app
        .post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "Fabrikam GmbH", "country": "DE", "external_ref": "ACC-1"}),
        )
        .await
        .expect(201);
    assert_eq!(customer.body["external_ref"], "ACC-1");
    let dup = w
        .app
        .post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "Tailspin Toys", "country": "DE", "external_ref": "ACC-1"}),
        )
        .await
        .expect_problem(409, "external_ref_exists");
    assert_eq!(dup.body["existing_id"], customer.body["id"]);
    // Nothing of the refused create stays.
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM customers WHERE name = 'Tailspin Toys'"),
        0
    );

    let mut body = partner_opportunity(&customer.id());
    body["external_ref"] = json!("OPP-CRM-7");
    let first = w
        .app
        .post("/api/v1/opportunities", &admin.token, &body)
        .await
        .expect(201);
    assert_eq!(first.body["external_ref"], "OPP-CRM-7");
    let dup = w
        .app
        .post("/api/v1/opportunities", &admin.token, &body)
        .await
        .expect_problem(409, "external_ref_exists");
    assert_eq!(dup.body["existing_id"], first.body["id"]);
    assert!(dup.body["detail"].as_str().unwrap().contains(&first.id()));
    // Kinds are apart: a customer and an opportunity may share a reference.
    let mut other = partner_opportunity(&customer.id());
    other["external_ref"] = json!("ACC-1");
    w.app
        .post("/api/v1/opportunities", &admin.token, &other)
        .await
        .expect(201);
}

#[actix_web::test]
async fn an_external_ref_is_unique_per_org_and_visible_only_to_that_org() {
    let w = world().await;
    let opp = accepted_by(&w, &w.res.admin).await;
    let path = format!("{}/external-ref", opp_path(&opp));
    let mine = w
        .app
        .put(&path, &w.res.admin.token, &json!({"external_ref": "CRM-1"}))
        .await
        .expect(200);
    assert_eq!(mine.body["external_ref"], "CRM-1");
    // Another org (the vendor, the reseller's distributor) sets its own on
    // the same opportunity, even the same text; each sees only its own.
    w.app
        .put(&path, &w.cm.token, &json!({"external_ref": "CRM-1"}))
        .await
        .expect(200);
    w.app
        .put(&path, &w.dist.admin.token, &json!({"external_ref": "D-9"}))
        .await
        .expect(200);
    let seen = |token: String| {
        let app = &w.app;
        let p = opp_path(&opp);
        async move { app.get(&p, &token).await.expect(200).body["external_ref"].clone() }
    };
    assert_eq!(seen(w.res.admin.token.clone()).await, "CRM-1");
    assert_eq!(
        seen(w.res.director.token.clone()).await,
        "CRM-1",
        "the org's reference, to each of its users"
    );
    assert_eq!(seen(w.cm.token.clone()).await, "CRM-1");
    assert_eq!(
        seen(w.viewer.token.clone()).await,
        "CRM-1",
        "the vendor org's, to its viewer"
    );
    assert_eq!(seen(w.dist.director.token.clone()).await, "D-9");
    // The org's reference moves: a second resource of the kind cannot take it.
    let other = accepted_by(&w, &w.res.admin).await;
    let taken = w
        .app
        .put(
            &format!("{}/external-ref", opp_path(&other)),
            &w.res.admin.token,
            &json!({"external_ref": "CRM-1"}),
        )
        .await
        .expect_problem(409, "external_ref_exists");
    assert_eq!(taken.body["existing_id"], opp.as_str());
    // Replacing and removing it.
    w.app
        .put(&path, &w.res.admin.token, &json!({"external_ref": "CRM-2"}))
        .await
        .expect(200);
    w.app
        .put(
            &format!("{}/external-ref", opp_path(&other)),
            &w.res.admin.token,
            &json!({"external_ref": "CRM-1"}),
        )
        .await
        .expect(200);
    let gone = w.app.delete(&path, &w.res.admin.token).await.expect(200);
    assert_eq!(gone.body["external_ref"], Value::Null);
    // Setting one is no change of the opportunity: no version, no event.
    assert_eq!(gone.body["version"], mine.body["version"]);
    // Read-only roles set none; an org that cannot see it gets a 404.
    w.app
        .put(&path, &w.dist.director.token, &json!({"external_ref": "X"}))
        .await
        .expect_problem(403, "forbidden");
    w.app
        .put(&path, &w.other.admin.token, &json!({"external_ref": "X"}))
        .await
        .expect_problem(404, "not_found");
    for bad in [
        json!(""),
        json!(" padded"),
        json!("a\u{7}b"),
        json!("x".repeat(201)),
    ] {
        let res = w
            .app
            .put(&path, &w.res.admin.token, &json!({"external_ref": bad}))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["external_ref"]);
    }
}

#[actix_web::test]
async fn lists_filter_by_the_callers_own_external_ref() {
    let w = world().await;
    let a = accepted_by(&w, &w.res.admin).await;
    let b = accepted_by(&w, &w.res.admin).await;
    for (id, r) in [(&a, "R-a"), (&b, "R-b")] {
        w.app
            .put(
                &format!("{}/external-ref", opp_path(id)),
                &w.res.admin.token,
                &json!({"external_ref": r}),
            )
            .await
            .expect(200);
    }
    let found = w
        .app
        .get("/api/v1/opportunities?external_ref=R-b", &w.res.admin.token)
        .await
        .expect(200);
    assert_eq!(items(&found), vec![b.clone()]);
    assert_eq!(found.body["items"][0]["external_ref"], "R-b");
    // Case matters, and another org's reference finds nothing for the vendor.
    for (query, token) in [("r-b", &w.res.admin.token), ("R-b", &w.cm.token)] {
        let none = w
            .app
            .get(
                &format!("/api/v1/opportunities?external_ref={query}"),
                token,
            )
            .await
            .expect(200);
        assert!(items(&none).is_empty(), "{query}: {}", none.text);
    }
    // Lists show each row's reference to its org.
    let all = w
        .app
        .get("/api/v1/opportunities?status=accepted", &w.res.admin.token)
        .await
        .expect(200);
    for item in all.body["items"].as_array().unwrap() {
        let expected = if item["id"] == a.as_str() {
            "R-a"
        } else {
            "R-b"
        };
        assert_eq!(item["external_ref"], expected);
    }

    // Customers the same way.
    let c = w
        .app
        .put(
            &format!("/api/v1/customers/{}/external-ref", w.res.customer),
            &w.res.admin.token,
            &json!({"external_ref": "ACC-9"}),
        )
        .await
        .expect(200);
    assert_eq!(c.body["external_ref"], "ACC-9");
    let found = w
        .app
        .get("/api/v1/customers?external_ref=ACC-9", &w.res.admin.token)
        .await
        .expect(200);
    assert_eq!(items(&found), vec![w.res.customer.clone()]);
    assert_eq!(found.body["items"][0]["external_ref"], "ACC-9");
    let theirs = w
        .app
        .get("/api/v1/customers?external_ref=ACC-9", &w.dist.admin.token)
        .await
        .expect(200);
    assert!(items(&theirs).is_empty(), "{}", theirs.text);
    w.app
        .get("/api/v1/customers?external_ref=%20x", &w.res.admin.token)
        .await
        .expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn concurrent_creates_with_one_external_ref_make_one_resource() {
    let w = world().await;
    let token = w.res.admin.token.clone();
    let customer = w.res.customer.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app_base = w.app.base.clone();
        let client = w.app.client.clone();
        let token = token.clone();
        let mut body = partner_opportunity(&customer);
        body["external_ref"] = json!("RACE-1");
        tasks.push(actix_web::rt::spawn(async move {
            let res = client
                .post(format!("{app_base}/api/v1/opportunities"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }));
    }
    let mut created = Vec::new();
    let mut named = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created.push(body["id"].clone()),
            409 => {
                assert_eq!(body["code"], "external_ref_exists");
                named.push(body["existing_id"].clone());
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(named.len(), 7);
    assert!(named.iter().all(|n| *n == created[0]), "{named:?}");
    assert_eq!(
        w.app
            .count("SELECT count(*) AS n FROM external_refs WHERE external_ref = 'RACE-1'"),
        1
    );
}
