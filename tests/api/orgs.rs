//! `/orgs`: vendor admin manages; partners see themselves and their resellers.

use prm_tests::TestApp;
use serde_json::json;

#[actix_web::test]
async fn vendor_admin_creates_a_distributor_with_a_reseller_under_it() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "Northwind Distribution", "kind": "distributor",
                    "profile": {"countries": ["de", "AT"], "industries": ["Retail"],
                                "product_lines": ["cloud"], "tier": "gold", "capacity": 25,
                                "accepting": true}}),
        )
        .await
        .expect(201);
    let dist = res.id();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/orgs/{dist}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    let p = &res.body["profile"];
    assert_eq!(p["countries"], json!(["AT", "DE"]));
    assert_eq!(p["industries"], json!(["retail"]));
    assert_eq!(p["tier"], "gold");
    assert_eq!(p["capacity"], 25);

    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "Contoso", "kind": "reseller", "parent_id": dist}),
        )
        .await
        .expect(201);
    assert_eq!(res.body["parent_id"], dist);
    assert_eq!(res.body["profile"]["tier"], "registered");
}

#[actix_web::test]
async fn reseller_parent_must_be_a_distributor() {
    let app = TestApp::spawn().await;
    let reseller = app.org("R1", "reseller", None).await;
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "R2", "kind": "reseller", "parent_id": reseller}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["parent_id"]);
    let dist = app.org("D1", "distributor", None).await;
    let res = app
        .post(
            "/api/v1/orgs",
            &app.admin(),
            &json!({"name": "D2", "kind": "distributor", "parent_id": dist}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["parent_id"]);
    app.post(
        "/api/v1/orgs",
        &app.admin(),
        &json!({"name": "V2", "kind": "vendor"}),
    )
    .await
    .expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn only_vendor_admin_creates_orgs() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let partner = app.org("P", "distributor", None).await;
    for (org, role) in [
        (&vendor, "channel_manager"),
        (&vendor, "vendor_viewer"),
        (&partner, "partner_admin"),
        (&partner, "account_manager_director"),
    ] {
        let u = app.user(org, role).await;
        app.post(
            "/api/v1/orgs",
            &u.token,
            &json!({"name": format!("X {role}"), "kind": "reseller"}),
        )
        .await
        .expect_problem(403, "forbidden");
    }
}

#[actix_web::test]
async fn duplicate_org_name_is_409() {
    let app = TestApp::spawn().await;
    app.org("Same Name", "reseller", None).await;
    app.post(
        "/api/v1/orgs",
        &app.admin(),
        &json!({"name": "same name", "kind": "reseller"}),
    )
    .await
    .expect_problem(409, "duplicate_org_name");
}

#[actix_web::test]
async fn partner_sees_its_own_org_and_its_resellers_only() {
    let app = TestApp::spawn().await;
    let dist = app.org("Dist", "distributor", None).await;
    let res1 = app.org("Res under Dist", "reseller", Some(&dist)).await;
    let other = app.org("Other", "reseller", None).await;
    let admin = app.user(&dist, "partner_admin").await;

    let list = app.get("/api/v1/orgs", &admin.token).await.expect(200);
    let mut ids: Vec<String> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = vec![dist.clone(), res1.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    app.get(&format!("/api/v1/orgs/{res1}"), &admin.token)
        .await
        .expect(200);
    let foreign = app
        .get(&format!("/api/v1/orgs/{other}"), &admin.token)
        .await;
    let foreign = foreign.expect_problem(404, "not_found");
    let absent = app
        .get(
            &format!("/api/v1/orgs/{}", uuid::Uuid::now_v7()),
            &admin.token,
        )
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        foreign.text, absent.text,
        "foreign and absent look the same"
    );

    let reseller_admin = app.user(&res1, "partner_admin").await;
    app.get(&format!("/api/v1/orgs/{dist}"), &reseller_admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn vendor_users_list_every_org_with_pagination() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.org(&format!("Org {i}"), "reseller", None).await;
    }
    let viewer = app.user(&app.vendor_id().await, "vendor_viewer").await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/orgs?limit=2&cursor={c}"),
            None => "/api/v1/orgs?limit=2".to_owned(),
        };
        let page = app.get(&path, &viewer.token).await.expect(200);
        pages += 1;
        for o in page.body["items"].as_array().unwrap() {
            seen.push(o["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "vendor + 5 partners");
    assert_eq!(pages, 3);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no org twice");
    let resellers = app
        .get("/api/v1/orgs?kind=reseller", &viewer.token)
        .await
        .expect(200);
    assert_eq!(resellers.body["items"].as_array().unwrap().len(), 5);
}

#[actix_web::test]
async fn patch_org_honours_if_match() {
    let app = TestApp::spawn().await;
    let org = app.org("Versioned", "distributor", None).await;
    let path = format!("/api/v1/orgs/{org}");
    let res = app
        .patch_if_match(
            &path,
            &app.admin(),
            "\"1\"",
            &json!({"profile": {"tier": "platinum", "capacity": 40}}),
        )
        .await
        .expect(200);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.body["profile"]["tier"], "platinum");
    let stale = app
        .patch_if_match(
            &path,
            &app.admin(),
            "\"1\"",
            &json!({"name": "Lost update"}),
        )
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(stale.body["current_version"], 2);
    let now = app.get(&path, &app.admin()).await.expect(200);
    assert_eq!(
        now.body["name"], "Versioned",
        "a stale write changes nothing"
    );
}

#[actix_web::test]
async fn partner_admin_may_pause_its_own_org_but_not_edit_it() {
    let app = TestApp::spawn().await;
    let org = app.org("Pausing", "reseller", None).await;
    let admin = app.user(&org, "partner_admin").await;
    let path = format!("/api/v1/orgs/{org}");
    let res = app
        .patch(
            &path,
            &admin.token,
            &json!({"profile": {"accepting": false}}),
        )
        .await
        .expect(200);
    assert_eq!(res.body["profile"]["accepting"], false);
    app.patch(&path, &admin.token, &json!({"name": "Renamed"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(
        &path,
        &admin.token,
        &json!({"profile": {"tier": "platinum"}}),
    )
    .await
    .expect_problem(403, "forbidden");
    let director = app.user(&org, "account_manager_director").await;
    app.patch(
        &path,
        &director.token,
        &json!({"profile": {"accepting": true}}),
    )
    .await
    .expect_problem(403, "forbidden");
    let other = app.org("Other", "reseller", None).await;
    app.patch(
        &format!("/api/v1/orgs/{other}"),
        &admin.token,
        &json!({"profile": {"accepting": false}}),
    )
    .await
    .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn the_vendor_org_cannot_be_deactivated() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let res = app
        .patch(
            &format!("/api/v1/orgs/{vendor}"),
            &app.admin(),
            &json!({"active": false}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["active"]);
    let me = app.get("/api/v1/me", &app.admin()).await.expect(200);
    assert!(
        me.body["org"]["profile"].is_null(),
        "the vendor has no assignment profile"
    );
}
