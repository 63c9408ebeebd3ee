//! `q` (API.md: text search over topic and customer name), as the
//! statement that serves it at a million opportunities does it
//! (docs/performance.md, "Search at a million"): a vendor's search in
//! creation order walks an index in that order (of the rows holding the
//! term's mark, where it has one) and falls back to the
//! indexes of three-character windows when a page is not met early; a
//! partner's tests the term in the index entries of the rows it may see
//! and reads those that hold it. Whichever way a page is found, it is the
//! same page.

use prm_tests::{TestUser, partner_opportunity};
use serde_json::json;

use crate::world::{World, world};

/// Every id `query` lists for `user`, `limit` at a time.
async fn listed(w: &World, query: &str, user: &TestUser, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/opportunities?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = w.app.get(&path, &user.token).await.expect(200);
        out.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

async fn vendor_lead(w: &World, topic: &str, customer: &str) -> String {
    w.app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": topic, "customer_id": customer}),
        )
        .await
        .expect(201)
        .id()
}

#[actix_web::test]
async fn a_search_lists_the_same_rows_in_order_whether_a_page_is_walked_or_gathered() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    let holdings = w.app.customer(&vendor, "Orion Holdings").await;
    let mut matching = Vec::new();
    for i in 0..9 {
        if i % 3 == 0 {
            matching.push(vendor_lead(&w, "Data platform", &holdings).await);
        } else {
            matching.push(vendor_lead(&w, &format!("ORION rollout {i}"), &w.vendor_customer).await);
        }
        vendor_lead(&w, "Unrelated", &w.vendor_customer).await;
    }
    let newest_first: Vec<String> = matching.iter().rev().cloned().collect();
    // Pages of 2 (3 fetched) are met early by the walk until the last,
    // which falls back; a page of 50 is never met and is gathered.
    for limit in [2, 4, 50] {
        assert_eq!(
            listed(&w, "q=orion", &w.cm, limit).await,
            newest_first,
            "limit {limit}"
        );
        assert_eq!(
            listed(&w, "q=Orion&sort=created_at", &w.cm, limit).await,
            matching,
            "oldest first, limit {limit}"
        );
    }
    // Another filter, or another order, never walks: the same rows.
    assert_eq!(
        listed(&w, "q=orion&status=draft", &w.cm, 2).await,
        newest_first
    );
    let mut by_update = listed(&w, "q=orion&sort=-updated_at", &w.cm, 2).await;
    by_update.sort();
    let mut expected = matching.clone();
    expected.sort();
    assert_eq!(by_update, expected);
    // A term is found in the topic or in the name, never across the two.
    assert!(listed(&w, "q=platform%20orion", &w.cm, 50).await.is_empty());
    assert!(listed(&w, "q=zzqx", &w.cm, 2).await.is_empty());
}

#[actix_web::test]
async fn a_search_follows_renamed_customers_and_edited_topics() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    let account = w.app.customer(&vendor, "Vega Traders").await;
    let lead = vendor_lead(&w, "Storage refresh", &account).await;
    let mine: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..2 {
            ids.push(
                w.app
                    .post(
                        "/api/v1/opportunities",
                        &w.other.admin.token,
                        &partner_opportunity(&w.other.customer),
                    )
                    .await
                    .expect(201)
                    .id(),
            );
        }
        ids.reverse();
        ids
    };
    assert_eq!(
        listed(&w, "q=vega", &w.cm, 2).await,
        std::slice::from_ref(&lead)
    );
    assert_eq!(
        listed(&w, "q=other%20customer", &w.other.admin, 1).await,
        mine
    );

    // Customers are renamed by hand-run SQL (no endpoint renames one): the
    // search follows all the same.
    w.app.sql(&format!(
        "UPDATE customers SET name = 'Lyra Partners' WHERE id = '{account}'; \
         UPDATE customers SET name = 'Sirius GmbH' WHERE id = '{}'",
        w.other.customer
    ));
    assert!(listed(&w, "q=vega", &w.cm, 2).await.is_empty());
    assert_eq!(
        listed(&w, "q=LYRA", &w.cm, 2).await,
        std::slice::from_ref(&lead)
    );
    assert!(
        listed(&w, "q=other%20customer", &w.other.admin, 1)
            .await
            .is_empty()
    );
    assert_eq!(listed(&w, "q=sirius", &w.other.admin, 1).await, mine);
    assert_eq!(listed(&w, "q=sirius", &w.cm, 1).await, mine);

    w.app
        .patch(
            &format!("/api/v1/opportunities/{lead}"),
            &w.cm.token,
            &json!({"topic": "Backup appliance"}),
        )
        .await
        .expect(200);
    assert!(listed(&w, "q=storage", &w.cm, 2).await.is_empty());
    assert_eq!(listed(&w, "q=backup%20APPLIANCE", &w.cm, 2).await, [lead]);
}

/// The indexes of windows a search reads take a new topic or customer name at
/// once: with GIN's default fast update, new entries wait in a pending
/// list that every search scans whole until a vacuum merges it (after the
/// bench's creates, a rare term's search ran at a sixth of its rate).
#[actix_web::test]
async fn the_search_indexes_keep_no_pending_entries() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    let account = w.app.customer(&vendor, "Pending Works").await;
    for i in 0..3 {
        vendor_lead(&w, &format!("Quasar rollout {i}"), &account).await;
    }
    w.app.sql("CREATE EXTENSION IF NOT EXISTS pgstattuple");
    for index in ["opportunities_topic_grams", "customers_name_grams"] {
        let pending = w.app.count(&format!(
            "SELECT pending_tuples::bigint AS n FROM pgstatginindex('{index}')"
        ));
        assert_eq!(pending, 0, "{index} holds entries in its pending list");
    }
    assert_eq!(listed(&w, "q=quasar", &w.cm, 50).await.len(), 3);
}

/// The windows of a term are every three characters of it, digits,
/// punctuation and spaces included, so a term whose selective part is no
/// word (`12-3`) is found by it, a `%` or `_` in it is a character like any
/// other, and a term too short to have a window is still found.
#[actix_web::test]
async fn a_search_finds_terms_of_digits_and_punctuation_and_short_ones() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    let a = w.app.customer(&vendor, "Quill 12-3 AG").await;
    let b = w.app.customer(&vendor, "Quill 12-34 AG").await;
    let c = w.app.customer(&vendor, "Quill 1-23 AG").await;
    let at_a = vendor_lead(&w, "Rollout", &a).await;
    let at_b = vendor_lead(&w, "Rollout", &b).await;
    let at_c = vendor_lead(&w, "Rollout", &c).await;
    let percent = vendor_lead(&w, "Offer at 50% off_site", &w.vendor_customer).await;
    vendor_lead(&w, "Offer at 50 offxsite", &w.vendor_customer).await;
    for limit in [1, 50] {
        assert_eq!(
            listed(&w, "q=12-3", &w.cm, limit).await,
            [at_b.clone(), at_a.clone()]
        );
        assert_eq!(
            listed(&w, "q=2-3", &w.cm, limit).await,
            [at_b.clone(), at_a.clone()]
        );
        assert_eq!(
            listed(&w, "q=1-23", &w.cm, limit).await,
            std::slice::from_ref(&at_c)
        );
        assert_eq!(
            listed(&w, "q=50%25", &w.cm, limit).await,
            std::slice::from_ref(&percent)
        );
        assert_eq!(
            listed(&w, "q=F_S", &w.cm, limit).await,
            std::slice::from_ref(&percent)
        );
        // `-3` has no window of three: every row is a candidate, and the
        // pattern alone decides.
        let short = listed(&w, "q=-3", &w.cm, limit).await;
        assert!(short.contains(&at_a) && short.contains(&at_b), "{short:?}");
        assert!(!short.contains(&at_c), "{short:?}");
        // Another filter never walks, and finds the same rows.
        assert_eq!(
            listed(&w, "q=12-3&status=draft", &w.cm, limit).await,
            [at_b.clone(), at_a.clone()]
        );
    }
    // A partner's search tests each row it may see by itself: there too
    // `%`, `_` and `\` are characters like any other.
    let partner_lead = |topic: &'static str| {
        let mut body = partner_opportunity(&w.other.customer);
        body["topic"] = json!(topic);
        body
    };
    let mut literal = Vec::new();
    for topic in ["Offer at 50% off_site", "Offer at 50 offxsite", "Path a\\b"] {
        literal.push(
            w.app
                .post(
                    "/api/v1/opportunities",
                    &w.other.admin.token,
                    &partner_lead(topic),
                )
                .await
                .expect(201)
                .id(),
        );
    }
    for limit in [1, 50] {
        assert_eq!(
            listed(&w, "q=50%25%20OFF_s", &w.other.admin, limit).await,
            std::slice::from_ref(&literal[0])
        );
        assert_eq!(
            listed(&w, "q=A%5Cb", &w.other.admin, limit).await,
            std::slice::from_ref(&literal[2])
        );
        assert!(
            listed(&w, "q=a%5C%5Cb", &w.other.admin, limit)
                .await
                .is_empty()
        );
    }
}

/// The windows a term asks the index for are a subset of its windows (so
/// no match is missed): every one that holds a mark (a digit or a
/// punctuation mark: few texts hold each) where the term has any, else a
/// cover of its characters, every third window and the last.
#[actix_web::test]
async fn a_term_asks_the_index_for_its_marked_windows_or_a_cover() {
    let w = world().await;
    let outside = |term: &str| {
        format!(
            "SELECT count(*) AS n FROM unnest(search_term_grams('{term}')) g \
             WHERE g <> ALL(search_grams('{term}'))"
        )
    };
    let asked =
        |term: &str| format!("SELECT cardinality(search_term_grams('{term}'))::bigint AS n");
    let asked_but = |term: &str, windows: &str| {
        format!(
            "SELECT count(*) AS n FROM unnest(search_term_grams('{term}')) g \
             WHERE g <> ALL(ARRAY[{windows}])"
        )
    };
    // Marked: `m 1`, ` 12`, `12-`, `2-3`, and none of `fabrikam`'s own.
    assert_eq!(w.app.count(&asked("fabrikam 12-3")), 4);
    assert_eq!(
        w.app
            .count(&asked_but("fabrikam 12-3", "'m 1', ' 12', '12-', '2-3'")),
        0
    );
    assert_eq!(w.app.count(&asked_but("50% off", "'50%', '0% ', '% o'")), 0);
    assert_eq!(w.app.count(&asked("50% off")), 3);
    // A single marked window is asked alone.
    assert_eq!(w.app.count(&asked_but("fabrikam 1", "'m 1'")), 0);
    assert_eq!(w.app.count(&asked("fabrikam 1")), 1);
    // Letters and spaces alone: the cover, f-a-b r-i-k and the last, k-a-m.
    assert_eq!(
        w.app.count(&asked_but("fabrikam", "'fab', 'rik', 'kam'")),
        0
    );
    for (term, windows) in [
        ("fabrikam", 3),
        ("abc", 1),
        ("abcd", 2),
        ("abcdef", 2),
        ("abcdefg", 3),
        ("ab", 0),
        ("a b c d", 3),
    ] {
        assert_eq!(w.app.count(&asked(term)), windows, "{term}");
    }
    for term in [
        "fabrikam 12-3",
        "50% off",
        "fabrikam 1",
        "fabrikam",
        "a b c d",
        "12-3",
    ] {
        assert_eq!(
            w.app.count(&outside(term)),
            0,
            "{term}: no window outside the term's"
        );
    }
}

/// A partner-created opportunity of `user`'s org named `topic`.
async fn brought(w: &World, user: &TestUser, customer: &str, topic: &str) -> String {
    let mut body = partner_opportunity(customer);
    body["topic"] = json!(topic);
    w.app
        .post("/api/v1/opportunities", &user.token, &body)
        .await
        .expect(201)
        .id()
}

/// A vendor lead named `topic` for `customer`, distributed to `partner`
/// with `collaborators`.
async fn offered(
    w: &World,
    partner: &str,
    topic: &str,
    customer: &str,
    collaborators: &[&str],
) -> String {
    let id = vendor_lead(w, topic, customer).await;
    let mut body = json!({"partner_id": partner});
    if !collaborators.is_empty() {
        body["collaborator_ids"] = json!(collaborators);
    }
    w.app
        .act(&id, "distribute", &w.cm.token, Some(body))
        .await
        .expect(200);
    id
}

/// Rule (visibility, DOMAIN.md): a partner's search lists exactly the rows
/// its unfiltered list shows that hold the term, whichever way each is its
/// own: brought in by the org or by a reseller under it, offered to either
/// (delivered or accepted), worked as a collaborator, or matched by the
/// customer's name; never a vendor draft, another partner's offer or a
/// declined one. The statement narrows a partner's search by the arms of
/// its visibility first (store::listing::SeenHolding): an arm missing
/// there would lose rows here.
#[actix_web::test]
async fn a_partners_search_lists_what_its_list_shows_by_every_arm_of_its_visibility() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    let at_vendor = w.vendor_customer.as_str();
    let own = brought(&w, &w.dist.am1, &w.dist.customer, "Zephyrine own").await;
    let resellers = brought(&w, &w.res.admin, &w.res.customer, "Zephyrine resold").await;
    let to_dist = offered(&w, &w.dist.id, "Zephyrine offer", at_vendor, &[]).await;
    let to_res = offered(&w, &w.res.id, "Zephyrine for res", at_vendor, &[]).await;
    w.app
        .act(&to_res, "accept", &w.res.admin.token, None)
        .await
        .expect(200);
    let helping = offered(
        &w,
        &w.other.id,
        "Zephyrine together",
        at_vendor,
        &[&w.dist.id],
    )
    .await;
    let named = w.app.customer(&vendor, "Zephyrine Werke").await;
    let by_name = offered(&w, &w.dist.id, "Rollout", &named, &[]).await;
    // Rows the distributor may not see.
    vendor_lead(&w, "Zephyrine draft", at_vendor).await;
    offered(&w, &w.other.id, "Zephyrine elsewhere", at_vendor, &[]).await;
    brought(&w, &w.other.admin, &w.other.customer, "Zephyrine other's").await;
    let declined = offered(&w, &w.dist.id, "Zephyrine declined", at_vendor, &[]).await;
    w.app
        .act(
            &declined,
            "decline",
            &w.dist.admin.token,
            Some(json!({"reason": "busy"})),
        )
        .await
        .expect(200);
    // And one the distributor sees that does not hold the term.
    brought(&w, &w.dist.admin, &w.dist.customer, "Unrelated").await;

    let mut expected = vec![own.clone(), resellers, to_dist, to_res, helping, by_name];
    expected.sort();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let everything = listed(&w, "sort=-created_at", &w.dist.admin, 50).await;
    let seen: Vec<String> = everything
        .iter()
        .filter(|id| expected.contains(id) || *id == &declined)
        .cloned()
        .collect();
    assert_eq!(sorted(seen), expected, "the oracle: the unfiltered list");
    for limit in [1, 50] {
        assert_eq!(
            sorted(listed(&w, "q=zephyrine", &w.dist.admin, limit).await),
            expected
        );
    }
    // An account manager's search keeps to what it owns.
    assert_eq!(
        listed(&w, "q=ZEPHYRINE", &w.dist.am1, 50).await,
        std::slice::from_ref(&own)
    );
    // The vendor's search finds every one of them.
    assert_eq!(listed(&w, "q=zephyrine", &w.cm, 50).await.len(), 10);
}

/// Whether the marks' list (migration search_marks) is exactly every
/// opportunity's marks, each with the opportunity's text: the rows a
/// vendor's search walks for a term with a mark.
fn marks_mismatched(w: &World) -> i64 {
    w.app.count(
        "SELECT count(*) AS n FROM (\
           (SELECT m, o.id, o.search_text FROM opportunities o, \
                   unnest(search_text_marks(o.search_text)) AS m \
            EXCEPT SELECT mark, opportunity_id, search_text FROM opportunity_marks) \
           UNION ALL \
           (SELECT mark, opportunity_id, search_text FROM opportunity_marks \
            EXCEPT SELECT m, o.id, o.search_text FROM opportunities o, \
                   unnest(search_text_marks(o.search_text)) AS m)) d",
    )
}

/// Every page of every size of a vendor's search for `term`, newest and
/// oldest first, is the rows that hold it, in order.
async fn pages_are(w: &World, term: &str, newest_first: &[&String]) {
    let newest_first: Vec<String> = newest_first.iter().map(|id| (*id).clone()).collect();
    let mut oldest_first = newest_first.clone();
    oldest_first.reverse();
    for limit in [1, 2, 50] {
        assert_eq!(
            listed(w, &format!("q={term}"), &w.cm, limit).await,
            newest_first,
            "{term:?}, limit {limit}"
        );
        assert_eq!(
            listed(w, &format!("q={term}&sort=created_at"), &w.cm, limit).await,
            oldest_first,
            "{term:?} oldest first, limit {limit}"
        );
    }
}

/// A vendor's search for a term with a mark (a three-character window
/// holding a digit or a punctuation mark) walks the rows holding that
/// mark instead of every row (migration search_marks). That list follows
/// every write of the text: a new opportunity, an edited topic, a renamed
/// customer, an opportunity moved to another customer, a deleted one; and
/// each page is the one testing every row gives.
#[actix_web::test]
async fn a_search_by_a_mark_walks_rows_that_follow_every_write_of_the_text() {
    let w = world().await;
    let vendor = w.app.vendor_id().await;
    // The mark a term's walk follows: of those with the most digits and
    // punctuation, the last; none for letters and spaces alone, nor across
    // the topic and the name.
    let mark = |term: &str| {
        format!(
            "SELECT count(*) AS n FROM (SELECT search_walk_mark('{term}') AS m) k \
             WHERE m IS NOT DISTINCT FROM "
        )
    };
    assert_eq!(w.app.count(&(mark("fabrikam 12-3") + "'2-3'")), 1);
    assert_eq!(w.app.count(&(mark("fabrikam 1") + "'m 1'")), 1);
    assert_eq!(w.app.count(&(mark("fabrikam") + "NULL")), 1);
    assert_eq!(w.app.count(&(mark("ab\u{1f}cd") + "NULL")), 1);
    assert_eq!(
        w.app.count(
            "SELECT count(*) AS n FROM unnest(search_text_marks(E'rollout 7-1\\x1fvega 2')) m \
             WHERE m IN ('t 7', ' 7-', '7-1', 'a 2')"
        ),
        4
    );
    assert_eq!(
        w.app
            .count("SELECT cardinality(search_text_marks(E'rollout 7-1\\x1fvega 2'))::bigint AS n"),
        4
    );

    let orion = w.app.customer(&vendor, "Orion 7-11 Ltd").await;
    let vega = w.app.customer(&vendor, "Vega 7-12 GmbH").await;
    let in_topic = vendor_lead(&w, "Rollout 7-1", &w.vendor_customer).await;
    let by_orion = vendor_lead(&w, "Storage", &orion).await;
    let by_vega = vendor_lead(&w, "Storage", &vega).await;
    let unmarked = vendor_lead(&w, "Backup", &w.vendor_customer).await;
    for _ in 0..3 {
        vendor_lead(&w, "Rollout 8-2", &w.vendor_customer).await;
    }
    assert_eq!(marks_mismatched(&w), 0, "after creates");

    pages_are(&w, "7-1", &[&by_vega, &by_orion, &in_topic]).await;
    pages_are(&w, "N%207-11", &[&by_orion]).await;
    pages_are(&w, "a%207-1", &[&by_vega]).await;

    // An edited topic, a renamed customer, a row moved to another customer.
    w.app
        .patch(
            &format!("/api/v1/opportunities/{in_topic}"),
            &w.cm.token,
            &json!({"topic": "Rollout 9-1"}),
        )
        .await
        .expect(200);
    w.app.sql(&format!(
        "UPDATE customers SET name = 'Orion 9-11 Ltd' WHERE id = '{orion}'; \
         UPDATE opportunities SET customer_id = '{vega}' WHERE id = '{unmarked}'"
    ));
    assert_eq!(marks_mismatched(&w), 0, "after the text's edits");
    pages_are(&w, "7-1", &[&unmarked, &by_vega]).await;
    pages_are(&w, "9-1", &[&by_orion, &in_topic]).await;
    pages_are(&w, "N%207-11", &[]).await;

    // A deleted row (hand-run SQL: no endpoint deletes one) leaves no mark:
    // a copy of one, with an id and a reference of its own, then deleted.
    let copy = uuid::Uuid::new_v4();
    let copy_marks =
        format!("SELECT count(*) AS n FROM opportunity_marks WHERE opportunity_id = '{copy}'");
    w.app.sql(&format!(
        "INSERT INTO opportunities SELECT (jsonb_populate_record(o, jsonb_build_object(\
           'id', '{copy}', 'reference_no', nextval('opportunity_reference_seq')))).* \
         FROM opportunities o WHERE id = '{by_vega}'"
    ));
    // `vega 7-12 gmbh`: `a 7`, ` 7-`, `7-1`, `-12`, `12 `, `2 g`.
    assert_eq!(w.app.count(&copy_marks), 6);
    w.app
        .sql(&format!("DELETE FROM opportunities WHERE id = '{copy}'"));
    assert_eq!(w.app.count(&copy_marks), 0);
    assert_eq!(marks_mismatched(&w), 0, "after a delete");
}

/// The search's functions of text are loops (migrations search_marks and
/// search_functions_compiled); each gives, as a set, what its definition
/// as a statement over every three-character window gives: every window
/// (`search_grams`); a term's marked ones, else every third and the last
/// (`search_term_grams`); a text's marks, never across the unit separator
/// (`search_text_marks`); and the mark a walk follows (`search_walk_mark`).
#[actix_web::test]
async fn the_search_functions_give_what_their_definitions_say() {
    let w = world().await;
    let texts = [
        "",
        "a",
        "ab",
        "abc",
        "aaaaaa",
        "fabrikam",
        "fabrikam 1",
        "fabrikam 12-3",
        "50% off",
        "a\\b",
        "  9",
        "a a a 1 1 1",
        "ÄÖÜ straße 12",
        "ünïcödé-9 ✓✓ 日本語 1",
        "cloud migration for stores\u{1f}fabrikam 123-45 gmbh",
        "rollout 7-1\u{1f}vega 2",
    ];
    let values = texts
        .iter()
        .map(|t| format!("({})", sql_text(t)))
        .collect::<Vec<_>>()
        .join(", ");
    let sorted = |expr: &str| format!("ARRAY(SELECT DISTINCT x FROM unnest({expr}) x ORDER BY 1)");
    let windows = "SELECT substr(t, i, 3) AS g, i FROM generate_series(1, char_length(t) - 2) AS i";
    let marked = "g ~ '[^[:alpha:][:space:]]'";
    let differing = w.app.count(&format!(
        "SELECT count(*) AS n FROM (VALUES {values}) AS v(t) WHERE \
           {grams} IS DISTINCT FROM ARRAY(SELECT DISTINCT g FROM ({windows}) w ORDER BY 1) \
           OR {term} IS DISTINCT FROM coalesce( \
                nullif(ARRAY(SELECT DISTINCT g FROM ({windows}) w WHERE {marked} ORDER BY 1), '{{}}'), \
                ARRAY(SELECT DISTINCT g FROM ({windows}) w \
                       WHERE i % 3 = 1 OR i = char_length(t) - 2 ORDER BY 1)) \
           OR {marks} IS DISTINCT FROM ARRAY(SELECT DISTINCT g FROM ({windows}) w \
                WHERE {marked} AND strpos(g, E'\\x1f') = 0 ORDER BY 1) \
           OR search_walk_mark(t) IS DISTINCT FROM (SELECT g FROM ({windows}) w \
                WHERE {marked} AND strpos(g, E'\\x1f') = 0 \
                ORDER BY char_length(regexp_replace(g, '[[:alpha:][:space:]]', '', 'g')) DESC, i DESC \
                LIMIT 1)",
        grams = sorted("search_grams(t)"),
        term = sorted("search_term_grams(t)"),
        marks = sorted("search_text_marks(t)"),
    ));
    assert_eq!(differing, 0);
    // And the statement above tells them apart: a window too many differs.
    assert_eq!(
        w.app.count(&format!(
            "SELECT count(*) AS n FROM (VALUES ('fabrikam 1')) AS v(t) \
             WHERE {} IS DISTINCT FROM ARRAY(SELECT DISTINCT g FROM ({windows}) w ORDER BY 1)",
            sorted("search_grams(t || 'x')")
        )),
        1
    );
}

/// `t` as a SQL string literal (an escape string, so that a control
/// character is written as itself).
fn sql_text(t: &str) -> String {
    format!("E'{}'", t.replace('\\', "\\\\").replace('\'', "\\'"))
}
