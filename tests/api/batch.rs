//! `POST /opportunities/batch` (API.md, "Bulk"): up to 100 actions, each
//! run as its own request would run and answered with the status and body
//! that request would have had.

use serde_json::{Value, json};

use crate::world::{delivered_to, draft, opp_path, world};

async fn batch(w: &crate::world::World, token: &str, items: Value) -> prm_tests::Resp {
    w.app
        .post(
            "/api/v1/opportunities/batch",
            token,
            &json!({ "items": items }),
        )
        .await
}

#[actix_web::test]
async fn each_batch_item_answers_as_its_own_request_would() {
    let w = world().await;
    let (a, b, c, twin) = (
        draft(&w).await,
        draft(&w).await,
        draft(&w).await,
        draft(&w).await,
    );
    let offered = delivered_to(&w, &w.res.id).await;
    // What the single requests answer, on a twin where they would change it.
    let single_422 = w
        .app
        .act(&twin, "cancel", &w.cm.token, Some(json!({})))
        .await
        .expect_problem(422, "validation_failed");
    let single_403 = w
        .app
        .act(&offered, "accept", &w.cm.token, None)
        .await
        .expect_problem(403, "forbidden");
    let stale = w.app.get(&opp_path(&c), &w.cm.token).await.expect(200);
    w.app
        .patch(
            &opp_path(&c),
            &w.cm.token,
            &json!({"topic": "Changed meanwhile"}),
        )
        .await
        .expect(200);
    let missing = uuid::Uuid::now_v7().to_string();
    let res = batch(
        &w,
        &w.cm.token,
        json!([
            {"id": a, "action": "distribute", "body": {"partner_id": w.res.id}},
            {"id": twin, "action": "cancel", "body": {}},
            {"id": offered, "action": "accept"},
            {"id": c, "action": "cancel", "body": {"reason_code": "duplicate"},
             "if_match": stale.header("etag").unwrap()},
            {"id": missing, "action": "approve"},
            {"id": b, "action": "cancel", "body": {"reason_code": "duplicate"}},
        ]),
    )
    .await
    .expect(200);
    let items = res.body["items"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 422, 403, 412, 404, 200], "{}", res.text);
    // Successes carry the opportunity as a GET shows it, with its ETag.
    let got = w.app.get(&opp_path(&a), &w.cm.token).await.expect(200);
    assert_eq!(items[0]["opportunity"], got.body);
    assert_eq!(items[0]["etag"].as_str(), got.header("etag"));
    assert_eq!(items[0]["opportunity"]["status"], "delivered");
    assert!(items[0]["problem"].is_null());
    // Failures carry exactly the problem their own request answered.
    assert_eq!(items[1]["problem"], single_422.body);
    assert_eq!(items[2]["problem"], single_403.body);
    assert_eq!(items[3]["problem"]["code"], "version_mismatch");
    assert_eq!(items[3]["problem"]["changed_fields"], json!(["topic"]));
    assert_eq!(items[4]["problem"]["code"], "not_found");
    // A failed item changed nothing; the others are done.
    for (id, status) in [
        (&twin, "draft"),
        (&c, "draft"),
        (&offered, "delivered"),
        (&b, "canceled"),
    ] {
        let now = w.app.get(&opp_path(id), &w.cm.token).await.expect(200);
        assert_eq!(now.body["status"], status, "{id}");
    }
}

#[actix_web::test]
async fn batch_items_run_in_order_each_with_its_own_authorization() {
    let w = world().await;
    let a = draft(&w).await;
    // The vendor distributes, then cancels what it just distributed.
    let res = batch(
        &w,
        &w.cm.token,
        json!([
            {"id": a, "action": "distribute", "body": {"partner_id": w.res.id}},
            {"id": a, "action": "cancel", "body": {"reason": "entered twice"}},
        ]),
    )
    .await
    .expect(200);
    assert_eq!(res.body["items"][1]["opportunity"]["status"], "canceled");
    assert_eq!(
        res.body["items"][1]["opportunity"]["close_reason"],
        Value::Null
    );
    // A partner's batch is the partner's: it cannot act for the vendor, and
    // an opportunity it cannot see is a 404 as for its own request.
    let b = delivered_to(&w, &w.res.id).await;
    let hidden = draft(&w).await;
    let res = batch(
        &w,
        &w.res.admin.token,
        json!([
            {"id": b, "action": "accept"},
            {"id": b, "action": "cancel", "body": {"reason": "mine now"}},
            {"id": hidden, "action": "accept"},
        ]),
    )
    .await
    .expect(200);
    let statuses: Vec<u64> = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 403, 404], "{}", res.text);
    // A read-only role's items are each a 403.
    let res = batch(
        &w,
        &w.res.director.token,
        json!([{"id": b, "action": "return", "body": {"reason": "x"}}]),
    )
    .await
    .expect(200);
    assert_eq!(res.body["items"][0]["status"], 403);
}

#[actix_web::test]
async fn a_batch_holds_1_to_100_well_formed_items() {
    let w = world().await;
    let a = draft(&w).await;
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"id": a, "action": "approve"}))
        .collect();
    for (items, field) in [
        (json!([]), "items"),
        (Value::Array(many), "items"),
        (json!([{"id": a, "action": "launch"}]), "items[0].action"),
        (json!([{"id": "nope", "action": "approve"}]), "items[0].id"),
    ] {
        let res = batch(&w, &w.cm.token, items)
            .await
            .expect_problem(422, "validation_failed");
        assert!(
            res.error_fields().contains(&field.to_owned()),
            "{field}: {}",
            res.text
        );
    }
}

#[actix_web::test]
async fn a_keyed_batch_is_replayed_not_run_again() {
    let w = world().await;
    let a = draft(&w).await;
    let send = || {
        w.app.send(
            w.app
                .client
                .post(format!("{}/api/v1/opportunities/batch", w.app.base))
                .bearer_auth(&w.cm.token)
                .header("Idempotency-Key", "batch-1")
                .json(&json!({"items": [{"id": a, "action": "distribute",
                                         "body": {"partner_id": w.res.id}}]})),
        )
    };
    let first = send().await.expect(200);
    let again = send().await.expect(200);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    let now = w.app.get(&opp_path(&a), &w.cm.token).await.expect(200);
    assert_eq!(
        now.body["version"],
        first.body["items"][0]["opportunity"]["version"]
    );
}
