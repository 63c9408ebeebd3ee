//! `/customers`: registration, identity conflicts and distributor scopes.

use prm_tests::TestApp;
use serde_json::json;

fn ids(res: &prm_tests::Resp) -> Vec<String> {
    let mut v: Vec<String> = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[actix_web::test]
async fn partner_preregisters_customers_for_its_own_org() {
    let app = TestApp::spawn().await;
    let org = app.org("P", "reseller", None).await;
    let am = app.user(&org, "account_manager").await;
    let res = app
        .post(
            "/api/v1/customers",
            &am.token,
            &json!({"name": "Fabrikam GmbH", "country": "de", "industry": "Retail"}),
        )
        .await
        .expect(201);
    assert_eq!(res.body["org_id"], org);
    assert_eq!(res.body["registration"], "preregistered");
    assert_eq!(res.body["country"], "DE");
    app.post(
        "/api/v1/customers",
        &am.token,
        &json!({"name": "X", "country": "DE", "registration": "associated"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    let director = app.user(&org, "account_manager_director").await;
    app.post(
        "/api/v1/customers",
        &director.token,
        &json!({"name": "Y", "country": "DE"}),
    )
    .await
    .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn an_org_holds_the_same_customer_once() {
    let app = TestApp::spawn().await;
    let org = app.org("P", "reseller", None).await;
    let admin = app.user(&org, "partner_admin").await;
    app.post(
        "/api/v1/customers",
        &admin.token,
        &json!({"name": "Fabrikam GmbH", "country": "DE"}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/customers",
        &admin.token,
        &json!({"name": "FABRIKAM", "country": "DE"}),
    )
    .await
    .expect_problem(409, "duplicate_customer");
}

#[actix_web::test]
async fn several_partners_may_preregister_one_customer_but_only_one_holds_it() {
    let app = TestApp::spawn().await;
    let a = app.org("Alpha", "reseller", None).await;
    let b = app.org("Beta", "reseller", None).await;
    let c = app.org("Gamma", "reseller", None).await;
    for org in [&a, &b] {
        let admin = app.user(org, "partner_admin").await;
        app.post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "Fabrikam GmbH", "country": "DE"}),
        )
        .await
        .expect(201);
    }
    app.post(
        "/api/v1/customers",
        &app.admin(),
        &json!({"name": "Fabrikam Ltd.", "country": "DE", "org_id": c, "registration": "associated"}),
    )
    .await
    .expect(201);
    // Beta already holds it (preregistered): associating there duplicates.
    let res = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            &json!({"name": "fabrikam", "country": "DE", "org_id": b, "registration": "associated"}),
        )
        .await;
    let res = res.expect_problem(409, "duplicate_customer");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("same customer")
    );
    // Matched by tax id and web domain although name and country differ.
    app.post(
        "/api/v1/customers",
        &app.admin(),
        &json!({"name": "Fabrikam Holding", "country": "AT", "tax_id": "AT 1", "org_id": c}),
    )
    .await
    .expect(201);
    let d = app.org("Delta", "reseller", None).await;
    let res = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            &json!({"name": "FABRIKAM gmbh", "country": "DE", "org_id": d, "registration": "associated"}),
        )
        .await
        .expect_problem(409, "customer_already_associated");
    assert!(
        res.body["detail"].as_str().unwrap().contains(&c),
        "names the holder: {}",
        res.text
    );
}

#[actix_web::test]
async fn distributor_sees_its_own_and_its_resellers_customers_as_two_scopes() {
    let app = TestApp::spawn().await;
    let dist = app.org("Dist", "distributor", None).await;
    let res = app.org("Res", "reseller", Some(&dist)).await;
    let other = app.org("Other", "reseller", None).await;
    let own = app.customer(&dist, "Own Customer").await;
    let child = app.customer(&res, "Child Customer").await;
    let foreign = app.customer(&other, "Foreign Customer").await;
    let director = app.user(&dist, "account_manager_director").await;

    let mut both = vec![own.clone(), child.clone()];
    both.sort();
    assert_eq!(
        ids(&app
            .get("/api/v1/customers", &director.token)
            .await
            .expect(200)),
        both
    );
    assert_eq!(
        ids(&app
            .get("/api/v1/customers?scope=mine", &director.token)
            .await
            .expect(200)),
        vec![own.clone()]
    );
    assert_eq!(
        ids(&app
            .get("/api/v1/customers?scope=resellers", &director.token)
            .await
            .expect(200)),
        vec![child.clone()]
    );
    app.get(&format!("/api/v1/customers/{child}"), &director.token)
        .await
        .expect(200);
    app.get(&format!("/api/v1/customers/{foreign}"), &director.token)
        .await
        .expect_problem(404, "not_found");

    let reseller_admin = app.user(&res, "partner_admin").await;
    assert_eq!(
        ids(&app
            .get("/api/v1/customers", &reseller_admin.token)
            .await
            .expect(200)),
        vec![child]
    );
    app.get(&format!("/api/v1/customers/{own}"), &reseller_admin.token)
        .await
        .expect_problem(404, "not_found");
}

#[actix_web::test]
async fn vendor_holds_its_own_customers() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/customers",
            &app.admin(),
            &json!({"name": "Woodgrove Bank", "country": "GB"}),
        )
        .await
        .expect(201);
    assert_eq!(res.body["registration"], "vendor_owned");
    assert_eq!(res.body["org_id"], app.vendor_id().await);
    let partner = app.org("P", "reseller", None).await;
    let admin = app.user(&partner, "partner_admin").await;
    app.get(&format!("/api/v1/customers/{}", res.id()), &admin.token)
        .await
        .expect_problem(404, "not_found");
}
