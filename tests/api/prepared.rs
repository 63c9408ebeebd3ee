//! A list's statement is prepared once per connection, whatever its sort,
//! filter, cursor or caller (issue 17). A statement that Diesel cannot keep
//! prepared goes out as the unnamed statement, and Postgres parses and plans
//! it on every call: the close-date and revenue sorts were sent that way,
//! and ran at 0.28 of the database's rate for the same SQL prepared. So
//! were the insert of every create and the update of every lifecycle change
//! and edit, which Diesel never keeps prepared: 0.4 ms of planning a create,
//! 0.57 ms an accept, each longer than running the statement.

use prm_tests::{DbProxy, Resp, TestUser};
use serde_json::json;

use crate::world::{World, accepted_by, counted_world, delivered_to, draft, opp_path};

const SORTS: [&str; 8] = [
    "-created_at",
    "created_at",
    "-updated_at",
    "updated_at",
    "expected_close_date",
    "-expected_close_date",
    "-estimated_revenue",
    "estimated_revenue",
];

/// The unnamed statements one list request sent, and its next cursor.
async fn unnamed(
    w: &World,
    proxy: &DbProxy,
    user: &TestUser,
    query: &str,
) -> (u64, Option<String>) {
    let at = proxy.unnamed_parses();
    let page = w
        .app
        .get(&format!("/api/v1/opportunities?{query}"), &user.token)
        .await
        .expect(200);
    let cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    (proxy.unnamed_parses() - at, cursor)
}

#[actix_web::test]
async fn every_list_shape_is_sent_as_a_prepared_statement() {
    let (proxy, w) = counted_world().await;
    // Enough rows for a second page at limit=1, for both callers.
    for _ in 0..2 {
        delivered_to(&w, &w.dist.id).await;
        accepted_by(&w, &w.dist.admin).await;
    }
    let dist = w.dist.id.clone();
    let callers: [(&str, &TestUser, Vec<String>); 2] = [
        (
            "channel manager",
            &w.cm,
            vec![
                String::new(),
                "status=accepted&".into(),
                format!("partner_id={dist}&"),
                "q=Customer&".into(),
            ],
        ),
        (
            "distributor admin",
            &w.dist.admin,
            vec![
                String::new(),
                "view=managed&".into(),
                format!("partner_id={dist}&"),
                "q=Customer&".into(),
            ],
        ),
    ];
    let mut prepared_anew = Vec::new();
    let mut pages = 0;
    for (who, user, filters) in &callers {
        for filter in filters {
            for sort in SORTS {
                let first = format!("{filter}sort={sort}&limit=1");
                // Each shape twice: a statement kept prepared is parsed at
                // most once per connection, and the first call may be it.
                let _ = unnamed(&w, &proxy, user, &first).await;
                let (sent, cursor) = unnamed(&w, &proxy, user, &first).await;
                pages += 1;
                if sent > 0 {
                    prepared_anew.push(format!("{who}: {first} ({sent})"));
                }
                let Some(cursor) = cursor else { continue };
                let next = format!("{first}&cursor={cursor}");
                let _ = unnamed(&w, &proxy, user, &next).await;
                let (sent, _) = unnamed(&w, &proxy, user, &next).await;
                pages += 1;
                if sent > 0 {
                    prepared_anew.push(format!(
                        "{who}: {filter}sort={sort}, after a cursor ({sent})"
                    ));
                }
            }
        }
    }
    assert!(
        pages >= 64 + 32,
        "too few shapes had a second page: {pages} pages"
    );
    assert!(
        prepared_anew.is_empty(),
        "list statements parsed anew on every call (unnamed statements):\n{}",
        prepared_anew.join("\n")
    );
}

/// The writes that sent an unnamed statement, and how many each sent.
struct Anew<'p> {
    proxy: &'p DbProxy,
    found: Vec<String>,
}

impl Anew<'_> {
    /// Sends `write`, which must answer `status`, and notes what it sent
    /// that Postgres parses and plans on every call.
    async fn check(&mut self, what: &str, status: u16, write: impl Future<Output = Resp>) {
        let at = self.proxy.unnamed_parses();
        write.await.expect(status);
        let sent = self.proxy.unnamed_parses() - at;
        if sent > 0 {
            self.found.push(format!("{what}: {sent}"));
        }
    }
}

#[actix_web::test]
async fn a_create_every_lifecycle_change_and_an_edit_are_sent_as_prepared_statements() {
    let (proxy, w) = counted_world().await;
    // Each statement's first call on a connection may prepare it (a named
    // Parse); only an unnamed one is parsed and planned again every time.
    let declined = delivered_to(&w, &w.other.id).await;
    let closed = delivered_to(&w, &w.other.id).await;
    let returned = delivered_to(&w, &w.other.id).await;
    let mut anew = Anew {
        proxy: &proxy,
        found: Vec::new(),
    };
    let create = json!({"topic": "Prepared lead", "customer_id": w.vendor_customer,
                        "external_ref": "CRM-1"});
    anew.check(
        "create (no contact, no revenue, a reference)",
        201,
        w.app.post("/api/v1/opportunities", &w.cm.token, &create),
    )
    .await;
    let customer = json!({"name": "Prepared Customer", "country": "DE", "external_ref": "ACC-9"});
    anew.check(
        "a customer, with a reference",
        201,
        w.app.post("/api/v1/customers", &w.cm.token, &customer),
    )
    .await;
    let id = draft(&w).await;
    let edit = json!({"topic": "Renamed lead"});
    anew.check("edit", 200, w.app.patch(&opp_path(&id), &w.cm.token, &edit))
        .await;
    let close = json!({"outcome": "won", "reason": "signed",
                       "actual_revenue": {"amount": "48000", "currency": "EUR"}});
    let actions = [
        (
            "distribute",
            &id,
            &w.cm,
            Some(json!({"partner_id": w.other.id})),
        ),
        (
            "decline",
            &declined,
            &w.other.admin,
            Some(json!({"reason": "no capacity"})),
        ),
        ("accept", &closed, &w.other.admin, None),
        ("accept", &returned, &w.other.admin, None),
        (
            "return",
            &returned,
            &w.other.admin,
            Some(json!({"reason": "not ours"})),
        ),
    ];
    for (action, on, user, body) in actions {
        anew.check(action, 200, w.app.act(on, action, &user.token, body))
            .await;
    }
    let progress = json!({"development_phase": "propose", "win_probability": 60});
    let progress_path = format!("{}/progress", opp_path(&closed));
    anew.check(
        "progress",
        201,
        w.app.post(&progress_path, &w.other.admin.token, &progress),
    )
    .await;
    let collaborator = json!({"org_id": w.res.id});
    let collaborators_path = format!("{}/collaborators", opp_path(&closed));
    anew.check(
        "a collaborator added",
        200,
        w.app.post(&collaborators_path, &w.cm.token, &collaborator),
    )
    .await;
    anew.check(
        "close",
        200,
        w.app
            .act(&closed, "close", &w.other.admin.token, Some(close)),
    )
    .await;
    assert!(
        anew.found.is_empty(),
        "writes parsed and planned anew on every call (unnamed statements):\n{}",
        anew.found.join("\n")
    );
}
