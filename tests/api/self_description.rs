//! Self-description (API.md): `editable_fields` on every opportunity, the
//! list a `PATCH` is authorized by.

use prm_tests::{Resp, TestUser};
use serde_json::{Value, json};

use crate::world::{World, accepted_by, draft, opp_path, own_opportunity, world};

/// An opportunity's `editable_fields`.
fn editable(r: &Resp) -> Vec<String> {
    r.body["editable_fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no editable_fields: {}", r.text))
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

/// A value to set `field` to, as an edit body gives it.
fn sample(field: &str) -> Value {
    match field {
        "topic" => json!("Renamed"),
        "contact" => json!({"name": "Ann Lee", "email": "ann@c.example"}),
        "estimated_revenue" => json!({"amount": "75000.00", "currency": "EUR"}),
        "expected_close_date" => json!("2027-12-31"),
        "customer_situation" | "customer_need" | "proposed_solution" => json!("Written"),
        "country" => json!("AT"),
        "industry" => json!("energy"),
        "product_lines" => json!(["security"]),
        other => panic!("no sample for `{other}`"),
    }
}

/// Every field `user` may edit on `id`, one `PATCH` each, succeeds, and
/// the answer shows the new value.
async fn each_listed_field_is_editable(w: &World, id: &str, user: &TestUser) {
    let listed = editable(&w.app.get(&opp_path(id), &user.token).await.expect(200));
    assert_eq!(listed.len(), 10, "{listed:?}");
    for field in &listed {
        let res = w
            .app
            .patch(&opp_path(id), &user.token, &json!({ field: sample(field) }))
            .await
            .expect(200);
        assert_eq!(editable(&res), listed, "the answer carries the list too");
        if field != "contact" {
            assert_eq!(res.body[field.as_str()], sample(field), "{field}");
        }
    }
}

#[actix_web::test]
async fn editable_fields_each_listed_field_can_be_patched() {
    let w = world().await;
    let d = draft(&w).await;
    each_listed_field_is_editable(&w, &d, &w.cm).await;
    // The creating partner's owner, while pending approval.
    let (_, own) = own_opportunity(&w, &w.res.am1, "Fabrikam").await;
    each_listed_field_is_editable(&w, &own.id(), &w.res.am1).await;
    // The primary partner's admin, while accepted.
    let accepted = accepted_by(&w, &w.res.admin).await;
    each_listed_field_is_editable(&w, &accepted, &w.res.admin).await;
}

#[actix_web::test]
async fn editable_fields_a_caller_with_none_cannot_patch() {
    let w = world().await;
    // A collaborator reads the opportunity but changes no field of it.
    let id = draft(&w).await;
    let shared = w
        .app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": w.res.id, "collaborator_ids": [w.other.id]})),
        )
        .await
        .expect(200);
    assert_eq!(editable(&shared).len(), 10, "the vendor writer still edits");
    let seen = w
        .app
        .get(&opp_path(&id), &w.other.admin.token)
        .await
        .expect(200);
    assert!(editable(&seen).is_empty(), "{}", seen.text);
    w.app
        .patch(
            &opp_path(&id),
            &w.other.admin.token,
            &json!({"topic": "Mine"}),
        )
        .await
        .expect_problem(403, "forbidden");
    // Read-only roles: the same.
    let viewer = w.app.get(&opp_path(&id), &w.viewer.token).await.expect(200);
    assert!(editable(&viewer).is_empty());
    w.app
        .patch(&opp_path(&id), &w.viewer.token, &json!({"topic": "Mine"}))
        .await
        .expect(403);
    // A status nobody edits in: the vendor writer's list is empty, and its
    // edit is the 409 it always was.
    let canceled = w
        .app
        .act(
            &id,
            "cancel",
            &w.cm.token,
            Some(json!({"reason": "customer chose another vendor"})),
        )
        .await
        .expect(200);
    assert!(editable(&canceled).is_empty(), "{}", canceled.text);
    w.app
        .patch(&opp_path(&id), &w.cm.token, &json!({"topic": "Late"}))
        .await
        .expect_problem(409, "invalid_transition");
    // Lists carry the same list as the single read.
    let list = w
        .app
        .get("/api/v1/opportunities?limit=200", &w.res.admin.token)
        .await
        .expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert!(!items.is_empty(), "the partner lists the one it holds");
    for item in items {
        let one = w
            .app
            .get(&opp_path(item["id"].as_str().unwrap()), &w.res.admin.token)
            .await
            .expect(200);
        assert_eq!(item["editable_fields"], one.body["editable_fields"]);
    }
}
