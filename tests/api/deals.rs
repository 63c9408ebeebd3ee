//! Deal registration: register, conflicts, approve with exclusivity (even
//! under parallel approvals), reject, withdraw, close with the opportunity.

use crate::world::{registered, world};
use prm_tests::partner_opportunity;
use serde_json::json;

fn reg_path(id: &str, action: &str) -> String {
    format!("/api/v1/deal-registrations/{id}/{action}")
}

#[actix_web::test]
async fn creating_org_registers_conflicts_are_listed_and_approval_is_exclusive() {
    let w = world().await;
    let (_, first) = registered(&w, &w.res.am1, "Fabrikam GmbH").await;
    let (_, second) = registered(&w, &w.other.admin, "FABRIKAM").await;
    let seen = w
        .app
        .get(&format!("/api/v1/deal-registrations/{second}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(
        seen.body["conflicts"],
        json!([first]),
        "the vendor sees the conflict"
    );
    let partner_view = w
        .app
        .get(
            &format!("/api/v1/deal-registrations/{second}"),
            &w.other.admin.token,
        )
        .await
        .expect(200);
    assert!(
        partner_view.body.get("conflicts").is_none(),
        "partners do not learn other orgs' registrations"
    );
    w.app
        .get(
            &format!("/api/v1/deal-registrations/{first}"),
            &w.other.admin.token,
        )
        .await
        .expect_problem(404, "not_found");

    let res = w
        .app
        .post(
            &reg_path(&first, "approve"),
            &w.cm.token,
            &json!({"exclusive_until": "2099-04-30"}),
        )
        .await
        .expect(200);
    assert_eq!(res.body["status"], "approved");
    assert_eq!(res.body["exclusive_until"], "2099-04-30");
    let res = w
        .app
        .post(&reg_path(&second, "approve"), &w.cm.token, &json!({}))
        .await;
    let res = res.expect_problem(409, "registration_exclusivity");
    assert!(
        res.body["detail"].as_str().unwrap().contains(&w.res.id),
        "names the holder: {}",
        res.text
    );
    w.app
        .post(
            &reg_path(&second, "reject"),
            &w.cm.token,
            &json!({"reason": "Res holds it"}),
        )
        .await
        .expect(200);
}

#[actix_web::test]
async fn two_parallel_approvals_for_one_customer_never_both_succeed() {
    let w = world().await;
    for round in 0..5 {
        let name = format!("Contested {round} GmbH");
        let (_, a) = registered(&w, &w.res.admin, &name).await;
        let (_, b) = registered(&w, &w.other.admin, &name).await;
        let app = &w.app;
        let (ra, rb) = futures_join(
            app.post(&reg_path(&a, "approve"), &w.cm.token, &json!({})),
            app.post(&reg_path(&b, "approve"), &w.cm.token, &json!({})),
        )
        .await;
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            ra.text,
            rb.text
        );
    }
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (a, b) = (Box::pin(a), Box::pin(b));
    match futures_util::future::select(a, b).await {
        futures_util::future::Either::Left((ra, b)) => (ra, b.await),
        futures_util::future::Either::Right((rb, a)) => (a.await, rb),
    }
}

#[actix_web::test]
async fn only_the_creating_org_registers_and_only_once() {
    let w = world().await;
    let opp = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.res.am1.token,
            &partner_opportunity(&w.res.customer),
        )
        .await
        .expect(201)
        .id();
    let body = json!({"product_lines": ["cloud"]});
    let p = format!("/api/v1/opportunities/{opp}/deal-registration");
    w.app
        .post(&p, &w.res.director.token, &body)
        .await
        .expect_problem(403, "forbidden");
    w.app
        .post(&p, &w.other.admin.token, &body)
        .await
        .expect_problem(404, "not_found");
    w.app.post(&p, &w.res.am1.token, &body).await.expect(201);
    w.app
        .post(&p, &w.res.am1.token, &body)
        .await
        .expect_problem(409, "registration_exists");
    let got = w.app.get(&p, &w.res.director.token).await.expect(200);
    assert_eq!(got.body["status"], "submitted");
    w.app
        .post(&p, &w.res.am1.token, &json!({"product_lines": []}))
        .await
        .expect_problem(422, "validation_failed");
    // A vendor-created opportunity takes no registration.
    let vendor_opp = w
        .app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "v", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    w.app
        .post(
            &format!("/api/v1/opportunities/{vendor_opp}/deal-registration"),
            &w.cm.token,
            &body,
        )
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn registering_org_withdraws_and_the_registration_closes_with_the_opportunity() {
    let w = world().await;
    let (_, a) = registered(&w, &w.res.am1, "Alpha GmbH").await;
    w.app
        .post(&reg_path(&a, "withdraw"), &w.other.admin.token, &json!({}))
        .await
        .expect_problem(404, "not_found");
    w.app
        .post(&reg_path(&a, "withdraw"), &w.cm.token, &json!({}))
        .await
        .expect_problem(403, "forbidden");
    let res = w
        .app
        .post(&reg_path(&a, "withdraw"), &w.res.am1.token, &json!({}))
        .await
        .expect(200);
    assert_eq!(res.body["status"], "withdrawn");
    w.app
        .post(&reg_path(&a, "approve"), &w.cm.token, &json!({}))
        .await
        .expect_problem(409, "invalid_transition");

    let (opp, b) = registered(&w, &w.res.am1, "Beta GmbH").await;
    w.app
        .post(&reg_path(&b, "approve"), &w.cm.token, &json!({}))
        .await
        .expect(200);
    w.app
        .act(&opp, "approve", &w.cm.token, None)
        .await
        .expect(200);
    w.app
        .act(
            &opp,
            "close",
            &w.res.am1.token,
            Some(json!({"outcome": "lost", "reason": "budget cut"})),
        )
        .await
        .expect(200);
    let reg = w
        .app
        .get(&format!("/api/v1/deal-registrations/{b}"), &w.cm.token)
        .await
        .expect(200);
    assert_eq!(reg.body["status"], "closed");
    let mine = w
        .app
        .get(
            "/api/v1/deal-registrations?status=closed",
            &w.dist.director.token,
        )
        .await
        .expect(200);
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        1,
        "a distributor sees its reseller's"
    );
}
