//! Self-description (API.md): `editable_fields` on every opportunity, the
//! list a `PATCH` is authorized by; `GET /lifecycle`, the status machine
//! as data; and a 412 that names the fields changed since the version sent.

use diesel::connection::SimpleConnection;
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
    // Lists carry the same list as the single read.
    for user in [&w.res.admin, &w.other.admin] {
        let list = w
            .app
            .get("/api/v1/opportunities?limit=200", &user.token)
            .await
            .expect(200);
        let items = list.body["items"].as_array().unwrap();
        assert!(!items.is_empty(), "the partner lists the one it holds");
        for item in items {
            let one = w
                .app
                .get(&opp_path(item["id"].as_str().unwrap()), &user.token)
                .await
                .expect(200);
            assert_eq!(item["editable_fields"], one.body["editable_fields"]);
        }
    }
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
}

/// `GET /lifecycle` as `token` sees it.
async fn lifecycle(w: &World, token: &str) -> Value {
    w.app.get("/api/v1/lifecycle", token).await.expect(200).body
}

/// Names of a JSON list of strings.
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn status_names(list: &[prm_domain::opportunity::Status]) -> Vec<String> {
    list.iter().map(|s| s.as_str().to_owned()).collect()
}

#[actix_web::test]
async fn lifecycle_is_the_domains_table_with_the_served_documents_endpoints_and_bodies() {
    let w = world().await;
    w.app
        .send(w.app.client.get(format!("{}/api/v1/lifecycle", w.app.base)))
        .await
        .expect_problem(401, "missing_token");
    let lc = lifecycle(&w, &w.res.director.token).await;
    assert_eq!(
        lc,
        lifecycle(&w, &w.cm.token).await,
        "the same for everyone"
    );
    let doc = w
        .app
        .send(
            w.app
                .client
                .get(format!("{}/api-docs/openapi.json", w.app.base)),
        )
        .await
        .expect(200)
        .body;

    // Every endpoint is an operation of the served document, and its body
    // is the component schema that operation takes.
    let actions = lc["actions"].as_array().unwrap();
    for a in actions {
        let endpoints = a["endpoints"].as_array().unwrap();
        assert_eq!(a["method"], endpoints[0]["method"]);
        assert_eq!(a["path"], endpoints[0]["path"]);
        assert_eq!(a["body"], endpoints[0]["body"]);
        for e in endpoints {
            let method = e["method"].as_str().unwrap().to_lowercase();
            let path = e["path"].as_str().unwrap();
            let op = &doc["paths"][path][method.as_str()];
            assert!(
                op.is_object(),
                "{} {method} {path} is not in the document",
                a["name"]
            );
            let declared = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|r| r.trim_start_matches("#/components/schemas/").to_owned());
            assert_eq!(
                e["body"].as_str().map(str::to_owned),
                declared,
                "{method} {path}"
            );
            if let Some(body) = declared {
                assert!(
                    doc["components"]["schemas"][&body].is_object(),
                    "{body} is a component schema"
                );
            }
        }
    }
    let body_of = |name: &str| actions.iter().find(|a| a["name"] == name).unwrap()["body"].clone();
    assert_eq!(body_of("decline"), "ReasonBody");
    assert_eq!(body_of("edit"), "UpdateOpportunity");
    assert_eq!(body_of("accept"), Value::Null);

    // Served from the domain's table, row for row.
    let table = prm_domain::lifecycle::table();
    assert_eq!(actions.len(), table.len());
    for (a, d) in actions.iter().zip(&table) {
        assert_eq!(a["name"], d.action.as_str());
        assert_eq!(names(&a["from"]), status_names(&d.from), "{}", d.action);
        assert_eq!(names(&a["to"]), status_names(&d.to), "{}", d.action);
        assert_eq!(a["changes_status"], d.changes_status);
        let who = a["who"].as_array().unwrap();
        assert_eq!(who.len(), d.who.len());
        for (row, w) in who.iter().zip(&d.who) {
            assert_eq!(row["relation"], w.relation.as_str());
            assert_eq!(row["description"], w.relation.description());
            assert_eq!(
                names(&row["roles"]),
                w.roles
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect::<Vec<_>>()
            );
            assert_eq!(names(&row["from"]), status_names(w.from));
        }
    }
    let extend = actions.iter().find(|a| a["name"] == "extend").unwrap();
    assert_eq!(extend["conditions"][0]["code"], "extension_limit_reached");
    assert_eq!(extend["to"], json!(["accepted"]));
    let close = actions.iter().find(|a| a["name"] == "close").unwrap();
    assert_eq!(close["to"], json!(["won", "lost"]));
    let statuses = lc["statuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 11);
    for s in statuses {
        let terminal =
            ["won", "lost", "canceled", "rejected"].contains(&s["name"].as_str().unwrap());
        assert_eq!(s["terminal"], terminal, "{s}");
        assert!(!s["description"].as_str().unwrap().is_empty());
    }
    assert_eq!(lc["relations"].as_array().unwrap().len(), 9);
    assert_eq!(lc["system_transitions"][0]["name"], "expire");
}

/// The actions the description lets a caller of `role` holding
/// `relations` take from `status`.
fn predicted(lc: &Value, role: &str, relations: &[&str], status: &str) -> Vec<String> {
    lc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["who"].as_array().unwrap().iter().any(|row| {
                relations.contains(&row["relation"].as_str().unwrap())
                    && names(&row["roles"]).iter().any(|r| r == role)
                    && names(&row["from"]).iter().any(|s| s == status)
            })
        })
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Applied to real callers, the description gives exactly the
/// `allowed_actions` each reads.
#[actix_web::test]
async fn lifecycle_applied_to_a_caller_gives_its_allowed_actions() {
    let w = world().await;
    let lc = lifecycle(&w, &w.cm.token).await;
    let allowed = |r: &Resp| -> Vec<String> { names(&r.body["allowed_actions"]) };

    let d = draft(&w).await;
    let seen = w.app.get(&opp_path(&d), &w.cm.token).await.expect(200);
    assert_eq!(
        allowed(&seen),
        predicted(
            &lc,
            "channel_manager",
            &[
                "vendor_writer",
                "vendor_writer_on_vendor_owned",
                "any_writer"
            ],
            "draft"
        )
    );

    let offered = crate::world::delivered_to(&w, &w.res.id).await;
    let seen = w
        .app
        .get(&opp_path(&offered), &w.res.admin.token)
        .await
        .expect(200);
    let admin_of_primary = [
        "offered_admin",
        "primary_admin_or_owner",
        "holding_partner_admin",
        "any_writer",
    ];
    assert_eq!(
        allowed(&seen),
        predicted(&lc, "partner_admin", &admin_of_primary, "delivered")
    );
    let accepted = w
        .app
        .act(&offered, "accept", &w.res.admin.token, None)
        .await
        .expect(200);
    assert_eq!(
        allowed(&accepted),
        predicted(&lc, "partner_admin", &admin_of_primary, "accepted")
    );
    // The reseller's distributor, on its reseller's accepted opportunity.
    let seen = w
        .app
        .get(&opp_path(&offered), &w.dist.admin.token)
        .await
        .expect(200);
    assert_eq!(
        allowed(&seen),
        predicted(
            &lc,
            "partner_admin",
            &["resellers_distributor", "any_writer"],
            "accepted"
        )
    );
    assert_eq!(allowed(&seen), ["add_note", "add_progress"]);
}

/// A stale `PATCH` of `id` naming `version`: the 412's `changed_fields`,
/// after checking its `current_version`.
async fn changed_since(w: &World, id: &str, version: &str, current: i64) -> Vec<String> {
    let stale = w
        .app
        .patch_if_match(
            &opp_path(id),
            &w.cm.token,
            version,
            &json!({"topic": "Stale"}),
        )
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(stale.body["current_version"], current, "{}", stale.text);
    names(&stale.body["changed_fields"])
}

/// The version an answer carries, as its `ETag` names it.
fn etag(r: &Resp) -> String {
    r.header("ETag").unwrap().to_owned()
}

#[actix_web::test]
async fn a_412_names_the_fields_changed_since_the_sent_version() {
    let w = world().await;
    let id = draft(&w).await;
    // An edit: v1 → v2.
    w.app
        .patch_if_match(
            &opp_path(&id),
            &w.cm.token,
            "\"1\"",
            &json!({"topic": "Renamed"}),
        )
        .await
        .expect(200);
    assert_eq!(changed_since(&w, &id, "\"1\"", 2).await, ["topic"]);

    // An action, stale: refused with the same names, whichever write it is.
    let stale = w
        .app
        .act_if_match(
            &id,
            "distribute",
            &w.cm.token,
            Some("\"1\""),
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(names(&stale.body["changed_fields"]), ["topic"]);
    // An action: its status and what it changed beside it.
    let offered = w
        .app
        .act_if_match(
            &id,
            "distribute",
            &w.cm.token,
            Some("\"2\""),
            Some(json!({"partner_id": w.res.id})),
        )
        .await
        .expect(200);
    assert_eq!(etag(&offered), "\"3\"");
    let distributed = ["status", "primary_partner_id", "accept_by"];
    assert_eq!(changed_since(&w, &id, "\"2\"", 3).await, distributed);
    assert_eq!(
        changed_since(&w, &id, "\"1\"", 3).await,
        ["topic", "status", "primary_partner_id", "accept_by"],
        "every version since the one sent, in the representation's order"
    );
    // The oldest of several versions sent counts.
    assert_eq!(changed_since(&w, &id, "\"2\", \"1\"", 3).await.len(), 4);
    let stale = w
        .app
        .act_if_match(&id, "accept", &w.res.admin.token, Some("\"2\""), None)
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(names(&stale.body["changed_fields"]), distributed);

    w.app
        .act_if_match(&id, "accept", &w.res.admin.token, Some("\"3\""), None)
        .await
        .expect(200);
    assert_eq!(
        changed_since(&w, &id, "\"3\"", 4).await,
        [
            "status",
            "owner_org_id",
            "owner_user_id",
            "accept_by",
            "expires_on"
        ]
    );
    // Owner assignment.
    let assigned = w
        .app
        .act_if_match(
            &id,
            "assign-owner",
            &w.res.admin.token,
            Some("\"4\""),
            Some(json!({"user_id": w.res.am1.id})),
        )
        .await
        .expect(200);
    assert_eq!(etag(&assigned), "\"5\"");
    assert_eq!(changed_since(&w, &id, "\"4\"", 5).await, ["owner_user_id"]);
    // Progress.
    w.app
        .post(
            &format!("{}/progress", opp_path(&id)),
            &w.res.admin.token,
            &json!({"development_phase": "propose", "win_probability": 60}),
        )
        .await
        .expect(201);
    assert_eq!(
        changed_since(&w, &id, "\"5\"", 6).await,
        ["pipeline_phase", "win_probability"]
    );
    // Collaborators, added and removed; the removal checks If-Match too.
    w.app
        .send(
            w.app
                .client
                .post(format!("{}{}/collaborators", w.app.base, opp_path(&id)))
                .bearer_auth(&w.cm.token)
                .header("If-Match", "\"6\"")
                .json(&json!({"org_id": w.other.id})),
        )
        .await
        .expect(200);
    let removal = w
        .app
        .send(
            w.app
                .client
                .delete(format!(
                    "{}{}/collaborators/{}",
                    w.app.base,
                    opp_path(&id),
                    w.other.id
                ))
                .bearer_auth(&w.cm.token)
                .header("If-Match", "\"6\""),
        )
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(names(&removal.body["changed_fields"]), ["collaborator_ids"]);
    // An action that keeps the status names only what it changed.
    let expiry = w
        .app
        .get(&opp_path(&id), &w.cm.token)
        .await
        .expect(200)
        .body["expires_on"]
        .as_str()
        .unwrap()
        .parse::<chrono::NaiveDate>()
        .unwrap();
    w.app
        .act_if_match(
            &id,
            "extend",
            &w.cm.token,
            Some("\"7\""),
            Some(json!({"expires_on": (expiry + chrono::Days::new(5)).to_string()})),
        )
        .await
        .expect(200);
    assert_eq!(
        changed_since(&w, &id, "\"7\"", 8).await,
        ["expires_on", "extension_count"]
    );
    // An edit that changes nothing made a version that changed nothing.
    w.app
        .patch_if_match(
            &opp_path(&id),
            &w.cm.token,
            "\"8\"",
            &json!({"topic": "Renamed"}),
        )
        .await
        .expect(200);
    assert!(changed_since(&w, &id, "\"8\"", 9).await.is_empty());

    // Every version bumped so far recorded what it changed.
    assert_eq!(
        w.app.count(
            "SELECT count(*) AS n FROM opportunities o WHERE o.version - 1 <> \
             (SELECT count(*) FROM opportunity_versions v WHERE v.opportunity_id = o.id)"
        ),
        0
    );
    // What cannot be known is said as every field that can change: a
    // version the opportunity never had, one without a tag's quotes, and
    // versions whose history is not kept (made here as an older release
    // made them, without it).
    let every = changed_since(&w, &id, "\"99\"", 9).await;
    assert_eq!(every.len(), 22, "{every:?}");
    assert!(every.contains(&"collaborator_ids".to_owned()));
    assert_eq!(changed_since(&w, &id, "9", 9).await, every);
    w.app
        .db
        .conn()
        .batch_execute(&format!(
            "UPDATE opportunities SET version = version + 1 WHERE id = '{id}'"
        ))
        .unwrap();
    assert_eq!(changed_since(&w, &id, "\"9\"", 10).await, every);

    // Other resources answer a 412 without the names.
    let org = format!("/api/v1/orgs/{}", w.res.id);
    let stale = w
        .app
        .patch_if_match(&org, &w.app.admin(), "\"99\"", &json!({"name": "Renamed"}))
        .await
        .expect_problem(412, "version_mismatch");
    assert!(stale.body.get("changed_fields").is_none(), "{}", stale.text);
}
