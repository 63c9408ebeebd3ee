//! The database queue on its own, against a real database: who runs when,
//! and what happens to jobs that wait too long, lose their request or panic.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::ResponseError;
use diesel::RunQueryDsl;
use futures_util::future::join_all;
use prm_api::error::ApiError;
use prm_api::queue::{DbQueue, Kind};
use prm_store::pool::{PoolSettings, build_pool};
use prm_tests::TestDb;

/// A queue over `connections` connections to a fresh database, `reads` of
/// them for reads, jobs waiting at most `timeout`.
fn queue(db: &TestDb, connections: u32, reads: usize, timeout: Duration) -> DbQueue {
    let pool = build_pool(
        &db.url,
        &PoolSettings {
            max_size: connections,
            checkout_timeout: Duration::from_secs(5),
            ..PoolSettings::default()
        },
    );
    DbQueue::start(pool, reads, timeout).unwrap()
}

/// Runs one statement, so every job really uses its connection.
fn touch(conn: &mut prm_store::PgConnection) {
    diesel::sql_query("SELECT 1").execute(conn).unwrap();
}

/// What the jobs of one test did, in the order they did it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn entries(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }

    /// A job that writes `name` to the log.
    fn recording(
        &self,
        name: &'static str,
    ) -> impl FnOnce(&mut prm_store::PgConnection) -> Result<(), ApiError> + Send + 'static {
        let log = self.clone();
        move |conn| {
            touch(conn);
            log.0.lock().unwrap().push(name);
            Ok(())
        }
    }

    /// A job that signals when it has started, then holds its thread (and
    /// its connection) until `release` is sent, then writes `name`.
    fn holding(
        &self,
        name: &'static str,
    ) -> (
        impl FnOnce(&mut prm_store::PgConnection) -> Result<(), ApiError> + Send + 'static,
        mpsc::Receiver<()>,
        mpsc::Sender<()>,
    ) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let record = self.recording(name);
        let job = move |conn: &mut prm_store::PgConnection| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            record(conn)
        };
        (job, started, release)
    }
}

async fn wait_until_started(started: &mpsc::Receiver<()>) {
    for _ in 0..500 {
        if started.try_recv().is_ok() {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the holding job never started");
}

/// Reads run in the order they arrived; a write waiting behind them takes a
/// connection reads may not use, ahead of them.
#[actix_web::test]
async fn database_jobs_run_first_come_first_served_and_writes_pass_reads_waiting_for_a_read_slot() {
    let db = TestDb::empty();
    let q = queue(&db, 2, 1, Duration::from_secs(5));
    let log = Log::default();
    let (hold, started, release) = log.holding("held read");
    let held = q.run(Kind::Read, hold);
    let rest = async {
        wait_until_started(&started).await;
        // join_all polls in order, so the jobs are queued in this order.
        let queued = join_all(vec![
            Box::pin(q.run(Kind::Read, log.recording("read 1"))),
            Box::pin(q.run(Kind::Read, log.recording("read 2"))),
            Box::pin(q.run(Kind::Write, log.recording("write"))),
            Box::pin(q.run(Kind::Read, log.recording("read 3"))),
        ]);
        let releaser = async {
            // Long enough for the write to finish on the other connection.
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
            // The three reads wait for the read slot; the write has run.
            assert_eq!(q.waiting(), (3, 0));
            release.send(()).unwrap();
        };
        futures_util::future::join(queued, releaser).await.0
    };
    let (held, rest) = futures_util::future::join(held, rest).await;
    held.unwrap();
    assert!(rest.iter().all(Result::is_ok));
    assert_eq!(
        log.entries(),
        vec!["write", "held read", "read 1", "read 2", "read 3"]
    );
}

/// A job still queued when its wait runs out answers 503 and never runs;
/// the queue goes on with the next one.
#[actix_web::test]
async fn a_database_job_that_waits_past_the_timeout_answers_503_and_never_runs() {
    let db = TestDb::empty();
    let q = queue(&db, 1, 1, Duration::from_millis(200));
    let log = Log::default();
    let (hold, started, release) = log.holding("held");
    let held = q.run(Kind::Write, hold);
    let late = async {
        wait_until_started(&started).await;
        let late = q.run(Kind::Write, log.recording("late")).await;
        release.send(()).unwrap();
        late
    };
    let (held, late) = futures_util::future::join(held, late).await;
    held.unwrap();
    match late {
        Err(e @ ApiError::Unavailable(_)) => assert_eq!(e.status_code().as_u16(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    q.run(Kind::Write, log.recording("next")).await.unwrap();
    assert_eq!(log.entries(), vec!["held", "next"]);
}

/// Once a job has started it finishes even if its request goes away: a
/// write the client stopped waiting for is still whole.
#[actix_web::test]
async fn a_started_database_job_finishes_when_its_request_goes_away() {
    let db = TestDb::empty();
    let q = queue(&db, 1, 1, Duration::from_secs(5));
    let log = Log::default();
    let (hold, started, release) = log.holding("abandoned");
    let abandoned =
        actix_web::rt::time::timeout(Duration::from_millis(100), q.run(Kind::Write, hold));
    assert!(abandoned.await.is_err(), "the request should have given up");
    wait_until_started(&started).await;
    release.send(()).unwrap();
    // The queue's one thread finishes the abandoned job before this one.
    q.run(Kind::Write, log.recording("after")).await.unwrap();
    assert_eq!(log.entries(), vec!["abandoned", "after"]);
}

/// A job whose request went away before it started never runs.
#[actix_web::test]
async fn a_queued_database_job_is_dropped_with_its_request() {
    let db = TestDb::empty();
    let q = queue(&db, 1, 1, Duration::from_secs(5));
    let log = Log::default();
    let (hold, started, release) = log.holding("held");
    let held = q.run(Kind::Write, hold);
    let rest = async {
        wait_until_started(&started).await;
        let gone = actix_web::rt::time::timeout(
            Duration::from_millis(50),
            q.run(Kind::Write, log.recording("gone")),
        );
        assert!(gone.await.is_err());
        release.send(()).unwrap();
        q.run(Kind::Write, log.recording("next")).await
    };
    let (held, next) = futures_util::future::join(held, rest).await;
    held.unwrap();
    next.unwrap();
    assert_eq!(log.entries(), vec!["held", "next"]);
}

/// A panicking job answers 500; its thread lives on to run the next job.
#[actix_web::test]
async fn a_panicking_database_job_answers_500_and_its_thread_serves_the_next() {
    let db = TestDb::empty();
    let q = queue(&db, 1, 1, Duration::from_secs(5));
    let outcome = q
        .run(Kind::Read, |conn| -> Result<(), ApiError> {
            touch(conn);
            panic!("a bug in a handler");
        })
        .await;
    match outcome {
        Err(e @ ApiError::Internal(_)) => assert_eq!(e.status_code().as_u16(), 500),
        other => panic!("expected 500, got {other:?}"),
    }
    let log = Log::default();
    q.run(Kind::Read, log.recording("next")).await.unwrap();
    assert_eq!(log.entries(), vec!["next"]);
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Dropping the queue lets its threads finish and exit: an app that stops
/// leaves no database threads behind.
#[actix_web::test]
async fn dropping_the_database_queue_stops_its_threads() {
    let db = TestDb::empty();
    let q = queue(&db, 3, 1, Duration::from_secs(5));
    // This queue's own threads: other tests of this process run queues too.
    let prefix = q.thread_prefix().to_owned();
    let log = Log::default();
    q.run(Kind::Write, log.recording("one")).await.unwrap();
    assert_eq!(threads_named(&prefix), 3);
    drop(q);
    for _ in 0..200 {
        if threads_named(&prefix) == 0 {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} queue threads still running", threads_named(&prefix));
}
