//! `/users`: vendor admin for any org, partner admin for its own.

use prm_tests::TestApp;
use serde_json::json;

fn body(subject: &str, org: &str, role: &str) -> serde_json::Value {
    json!({"subject": subject, "org_id": org, "role": role, "name": "New User",
           "email": format!("{subject}@x.example")})
}

#[actix_web::test]
async fn partner_admin_creates_users_in_its_own_org_only() {
    let app = TestApp::spawn().await;
    let org = app.org("Own", "distributor", None).await;
    let reseller = app.org("Child", "reseller", Some(&org)).await;
    let other = app.org("Other", "reseller", None).await;
    let admin = app.user(&org, "partner_admin").await;
    let res = app
        .post(
            "/api/v1/users",
            &admin.token,
            &body("am-1", &org, "account_manager"),
        )
        .await
        .expect(201);
    assert_eq!(res.body["role"], "account_manager");
    assert_eq!(res.body["active"], true);
    for target in [&other, &reseller] {
        let res = app
            .post(
                "/api/v1/users",
                &admin.token,
                &body("intruder", target, "partner_admin"),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec!["org_id"]);
    }
}

#[actix_web::test]
async fn user_roles_must_fit_the_org_kind() {
    let app = TestApp::spawn().await;
    let org = app.org("P", "reseller", None).await;
    let vendor = app.vendor_id().await;
    let res = app
        .post(
            "/api/v1/users",
            &app.admin(),
            &body("bad-1", &org, "channel_manager"),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["role"]);
    app.post(
        "/api/v1/users",
        &app.admin(),
        &body("bad-2", &vendor, "partner_admin"),
    )
    .await
    .expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn only_admins_create_users() {
    let app = TestApp::spawn().await;
    let vendor = app.vendor_id().await;
    let org = app.org("P", "reseller", None).await;
    for (o, role) in [
        (&vendor, "channel_manager"),
        (&vendor, "vendor_viewer"),
        (&org, "account_manager"),
        (&org, "account_manager_director"),
    ] {
        let u = app.user(o, role).await;
        app.post(
            "/api/v1/users",
            &u.token,
            &body(
                &format!("x-{role}"),
                o,
                if o == &vendor {
                    "vendor_viewer"
                } else {
                    "account_manager"
                },
            ),
        )
        .await
        .expect_problem(403, "forbidden");
    }
}

#[actix_web::test]
async fn partner_users_list_only_their_own_orgs_users() {
    let app = TestApp::spawn().await;
    let org = app.org("Mine", "reseller", None).await;
    let other = app.org("Theirs", "reseller", None).await;
    let am = app.user(&org, "account_manager").await;
    app.user(&org, "account_manager_director").await;
    let foreign = app.user(&other, "partner_admin").await;
    let list = app.get("/api/v1/users", &am.token).await.expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|u| u["org_id"] == org));
    let asked = app
        .get(&format!("/api/v1/users?org_id={other}"), &am.token)
        .await
        .expect(200);
    assert!(asked.body["items"].as_array().unwrap().is_empty());
    app.get(&format!("/api/v1/users/{}", foreign.id), &am.token)
        .await
        .expect_problem(404, "not_found");
    let all = app.get("/api/v1/users", &app.admin()).await.expect(200);
    assert_eq!(
        all.body["items"].as_array().unwrap().len(),
        4,
        "admin + 3 partner users"
    );
}

#[actix_web::test]
async fn admins_cannot_deactivate_themselves() {
    let app = TestApp::spawn().await;
    let me = app.get("/api/v1/me", &app.admin()).await.expect(200);
    let id = me.body["user"]["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/users/{id}"),
        &app.admin(),
        &json!({"active": false}),
    )
    .await
    .expect_problem(422, "validation_failed");
}
