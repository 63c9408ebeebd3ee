//! The feed's guarantee (API.md): a client that follows `next_cursor` sees
//! every event, in order, once, whatever order the writers' transactions
//! commit in.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::world::world;
use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use prm_tests::TestApp;
use serde_json::json;

const WRITERS: usize = 8;
const CREATES_PER_WRITER: usize = 15;

/// A transaction held open 1.5 s around `sql`, on its own connection: what
/// commits late in the middle of the writers. Its flag is set, and the
/// instant returned, once it has committed.
fn hold_open(
    app: &TestApp,
    sql: String,
) -> (Arc<AtomicBool>, actix_web::rt::task::JoinHandle<Instant>) {
    let mut conn = app.db.conn();
    let committed = Arc::new(AtomicBool::new(false));
    let flag = committed.clone();
    let held = actix_web::rt::task::spawn_blocking(move || {
        conn.batch_execute(&format!("BEGIN; {sql}")).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        conn.batch_execute("COMMIT").unwrap();
        flag.store(true, Ordering::SeqCst);
        Instant::now()
    });
    (committed, held)
}

/// `WRITERS` clients creating `CREATES_PER_WRITER` opportunities each, in
/// parallel: when each create was answered, and how many have finished.
#[derive(Default)]
struct Writes {
    answered: Mutex<HashMap<String, Instant>>,
    finished: AtomicUsize,
}

impl Writes {
    async fn run(&self, app: &TestApp, token: &str, customer: &str, label: &str) {
        join_all((0..WRITERS).map(|n| async move {
            for i in 0..CREATES_PER_WRITER {
                let id = app
                    .post(
                        "/api/v1/opportunities",
                        token,
                        &json!({"topic": format!("{label} {n}-{i}"), "customer_id": customer}),
                    )
                    .await
                    .expect(201)
                    .id();
                self.answered.lock().unwrap().insert(id, Instant::now());
            }
            self.finished.fetch_add(1, Ordering::SeqCst);
        }))
        .await;
    }

    fn done(&self) -> bool {
        self.finished.load(Ordering::SeqCst) == WRITERS
    }

    /// For each create the reader saw, how long after `since(answered)` it
    /// first showed (a reader quicker than the writer's answer: no wait);
    /// the median and the longest.
    fn latency(
        &self,
        shown: &HashMap<String, Instant>,
        since: impl Fn(Instant) -> Instant,
    ) -> (usize, Duration, Duration) {
        let mut waits: Vec<Duration> = self
            .answered
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(id, at)| {
                shown
                    .get(id)
                    .map(|s| s.saturating_duration_since(since(*at)))
            })
            .collect();
        waits.sort();
        let median = waits.get(waits.len() / 2).copied().unwrap_or_default();
        let max = waits.last().copied().unwrap_or_default();
        (waits.len(), median, max)
    }
}

#[actix_web::test]
async fn a_client_following_the_feed_misses_nothing_whatever_the_commit_order() {
    let w = world().await;
    let app = &w.app;
    let token = app.admin();
    // An event whose transaction takes its place early and commits late,
    // while the writers below commit around it: what a reader that pages by
    // insert order passes for ever.
    let held_id = uuid::Uuid::new_v4().to_string();
    let (held_done, held) = hold_open(
        app,
        format!(
            "INSERT INTO events (id, type, audience, data)
             VALUES ('{held_id}', 'opportunity.created', '{{}}', '{{}}')"
        ),
    );
    let writes = Writes::default();
    let reader = async {
        let mut seen: Vec<String> = Vec::new();
        // When each opportunity's creation first showed in the feed.
        let mut shown: HashMap<String, Instant> = HashMap::new();
        let mut cursor: Option<String> = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_rounds = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/events?after={c}&limit=200"),
                None => "/api/v1/events?limit=200".to_owned(),
            };
            let page = app.get(&path, &token).await.expect(200);
            let items = page.body["items"].as_array().unwrap().clone();
            for e in &items {
                seen.push(e["id"].as_str().unwrap().to_owned());
                if e["type"] == "opportunity.created"
                    && let Some(opp) = e["data"]["opportunity_id"].as_str()
                {
                    shown.entry(opp.to_owned()).or_insert_with(Instant::now);
                }
            }
            if let Some(c) = page.body["next_cursor"].as_str() {
                cursor = Some(c.to_owned());
            }
            let writing = !writes.done() || !held_done.load(Ordering::SeqCst);
            quiet_rounds = if items.is_empty() && !writing {
                quiet_rounds + 1
            } else {
                0
            };
            // Done once the writers and the held transaction are, and
            // the feed has stayed empty for a while after.
            if quiet_rounds >= 25 || Instant::now() > deadline {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        (seen, shown)
    };
    let (_, (seen, shown), held) = futures_util::future::join3(
        writes.run(app, &w.cm.token, &w.vendor_customer, "feed"),
        reader,
        held,
    )
    .await;
    held.unwrap();
    let total = usize::try_from(app.count("SELECT count(*) AS n FROM events")).unwrap();
    let unique: HashSet<String> = seen.iter().cloned().collect();
    let duplicated = seen.len() - unique.len();
    let missed = total - unique.len();
    // From the create's answer to the event in the feed.
    let (measured, median, max) = writes.latency(&shown, |answered| answered);
    println!(
        "feed: {WRITERS} writers, {} events, {missed} missed, {duplicated} duplicated; \
         create-to-feed latency median {median:?}, max {max:?} over {measured} creates",
        total
    );
    assert!(total > WRITERS * CREATES_PER_WRITER, "{total} events");
    assert!(
        unique.contains(&held_id),
        "the late-committing event was passed"
    );
    assert_eq!(missed, 0, "events the client never saw");
    assert_eq!(duplicated, 0, "events the client saw twice");
    assert_eq!(measured, WRITERS * CREATES_PER_WRITER);
    // Behind the held transaction an event waits for nothing: the feed
    // shows what has committed at the next poll.
    assert!(
        median < Duration::from_millis(500),
        "median latency {median:?}"
    );
}

/// The worker numbers committed events too, so a feed read rarely finds
/// little to do; what it numbered reads back in the same order.
#[actix_web::test]
async fn the_worker_gives_committed_events_their_feed_positions() {
    let w = world().await;
    let app = &w.app;
    app.tick();
    let mut created = Vec::new();
    for i in 0..3 {
        let id = app
            .post(
                "/api/v1/opportunities",
                &w.cm.token,
                &json!({"topic": format!("numbered {i}"), "customer_id": w.vendor_customer}),
            )
            .await
            .expect(201)
            .id();
        created.push(id);
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE feed_position IS NULL"),
        3
    );
    assert_eq!(app.tick().sequenced, 3);
    assert_eq!(app.tick().sequenced, 0);
    let page = app
        .get("/api/v1/events?limit=200", &app.admin())
        .await
        .expect(200);
    let fed: Vec<String> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["opportunity_id"].as_str())
        .filter(|id| created.iter().any(|c| c == id))
        .map(str::to_owned)
        .collect();
    assert_eq!(fed, created);
}

/// `updated_since` (API.md, "Reading changes without missing any"): a client
/// that polls with the largest `updated_at` it has seen misses no change,
/// though a change made early (its `updated_at` is its transaction's start)
/// commits after many later ones.
#[actix_web::test]
async fn a_client_polling_updated_since_misses_no_change_whatever_the_commit_order() {
    let w = world().await;
    let app = &w.app;
    let cm = w.cm.token.clone();
    let held_id = app
        .post(
            "/api/v1/opportunities",
            &cm,
            &json!({"topic": "held", "customer_id": w.vendor_customer}),
        )
        .await
        .expect(201)
        .id();
    let (held_done, held) = hold_open(
        app,
        format!(
            "UPDATE opportunities SET topic = 'held change', updated_at = now(),
             version = version + 1 WHERE id = '{held_id}'"
        ),
    );
    let writes = Writes::default();
    let reader = async {
        // Every (id, updated_at) the client was shown, and when each id
        // first showed.
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut shown: HashMap<String, Instant> = HashMap::new();
        let mut since = "1970-01-01T00:00:00Z".to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_rounds = 0;
        loop {
            let mut cursor: Option<String> = None;
            let mut new = 0;
            loop {
                let mut path = format!(
                    "/api/v1/opportunities?updated_since={since}&sort=updated_at&limit=200"
                );
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = app.get(&path, &cm).await.expect(200);
                for o in page.body["items"].as_array().unwrap() {
                    let (id, at) = (o["id"].as_str().unwrap(), o["updated_at"].as_str().unwrap());
                    if seen.insert((id.to_owned(), at.to_owned())) {
                        new += 1;
                    }
                    shown.entry(id.to_owned()).or_insert_with(Instant::now);
                    if at > since.as_str() {
                        since = at.to_owned();
                    }
                }
                match page.body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            let writing = !writes.done() || !held_done.load(Ordering::SeqCst);
            quiet_rounds = if new == 0 && !writing {
                quiet_rounds + 1
            } else {
                0
            };
            if quiet_rounds >= 50 || Instant::now() > deadline {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        (seen, shown)
    };
    let (_, (seen, shown), held) = futures_util::future::join3(
        writes.run(app, &cm, &w.vendor_customer, "sync"),
        reader,
        held,
    )
    .await;
    let held_committed = held.unwrap();
    // Each row's last change, as a GET shows it now.
    let mut missed = Vec::new();
    let ids: Vec<String> = writes
        .answered
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .chain([held_id.clone()])
        .collect();
    for id in &ids {
        let now = app
            .get(&format!("/api/v1/opportunities/{id}"), &cm)
            .await
            .expect(200);
        let at = now.body["updated_at"].as_str().unwrap().to_owned();
        if !seen.contains(&(id.clone(), at)) {
            missed.push(id.clone());
        }
    }
    // A row changed while an older transaction is still open is held back
    // until that one ends: the wait counts from the later of its create's
    // answer and the held transaction's commit.
    let (_, median, max) = writes.latency(&shown, |answered| answered.max(held_committed));
    println!(
        "updated_since: {WRITERS} writers, {} rows, {} missed; latency after the create's answer \
         or the held commit, median {median:?}, max {max:?}",
        ids.len(),
        missed.len()
    );
    assert!(
        !missed.contains(&held_id),
        "the late-committing change was passed"
    );
    assert_eq!(missed, Vec::<String>::new(), "changes the client never saw");
    assert!(
        median < Duration::from_millis(500),
        "median latency {median:?}"
    );
}
