//! A list's statement is prepared once per connection, whatever its sort,
//! filter, cursor or caller (issue 17). A statement that Diesel cannot keep
//! prepared goes out as the unnamed statement, and Postgres parses and plans
//! it on every call: the close-date and revenue sorts were sent that way,
//! and ran at 0.28 of the database's rate for the same SQL prepared.

use prm_tests::{DbProxy, TestUser};

use crate::world::{World, accepted_by, counted_world, delivered_to};

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
