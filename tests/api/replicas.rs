//! Many replicas answer as one (API.md): a user deactivated through one
//! replica is refused by another within a second, though the other had
//! the user in its cache, because Postgres announces the change to every
//! replica as it commits.

use std::time::{Duration, Instant};

use prm_api::startup::{Application, prepare_database};
use prm_tests::TestApp;

/// A second replica of `app`: the same configuration and database, its own
/// port and caches.
fn replica(app: &TestApp) -> String {
    let mut config = app.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let pool = prepare_database(&config).expect("the database is there");
    let server = Application::build(&config, pool).expect("a replica builds");
    let base = format!("http://127.0.0.1:{}", server.port());
    actix_web::rt::spawn(server.run_until_stopped());
    base
}

#[actix_web::test]
async fn a_user_deactivated_through_one_replica_is_refused_by_another_within_a_second() {
    let app = TestApp::spawn().await;
    let other = replica(&app);
    let org = app.org("P", "reseller", None).await;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let user = app.user(&org, "account_manager").await;
        // The other replica has the user cached (for PRM_AUTH_CACHE_MS, 5 s).
        let me = |base: String, token: String| {
            let client = app.client.clone();
            async move {
                client
                    .get(format!("{base}/api/v1/me"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(me(other.clone(), user.token.clone()).await, 200);
        app.deactivate(&user).await;
        let changed = Instant::now();
        loop {
            let status = me(other.clone(), user.token.clone()).await;
            if status == 403 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "still let in after 1 s"
            );
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(changed.elapsed());
    }
    eprintln!("deactivation seen by the other replica after {latencies:?}");
}

/// When the notification connection drops, what was announced meanwhile
/// is lost, so a listener that comes back forgets every cached actor: a
/// change that no notification reached is refused at the reconnect (the
/// listener finds a closed connection at its next poll, a silent one at its
/// next 2 s check), well within `PRM_AUTH_CACHE_MS` (a minute here); one
/// made after it is back is seen within a second again.
#[actix_web::test]
async fn a_dropped_notification_connection_is_replaced_and_forgets_what_it_missed() {
    let app = TestApp::spawn_with(|c| c.auth_cache_ttl = Duration::from_secs(60)).await;
    let org = app.org("P", "reseller", None).await;
    let listener_sql = "FROM pg_stat_activity \
         WHERE application_name = 'prm-listen-prm_actors' AND datname = current_database()";
    let me = |user: &prm_tests::TestUser| {
        let (app, token) = (&app, user.token.clone());
        async move { app.get("/api/v1/me", &token).await.status }
    };
    let wait_for_refusal = |user: prm_tests::TestUser, limit: Duration| {
        let app = &app;
        async move {
            let changed = Instant::now();
            loop {
                let status = app.get("/api/v1/me", &user.token).await.status;
                if status == 403 {
                    return changed.elapsed();
                }
                assert_eq!(status, 200);
                assert!(changed.elapsed() < limit, "still let in after {limit:?}");
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let first = app.user(&org, "account_manager").await;
    let second = app.user(&org, "account_manager").await;
    // The users' creation is announced too: let it clear the cache before
    // they are cached.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(me(&first).await, 200);
    assert_eq!(me(&second).await, 200);
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n {listener_sql}")),
        1
    );

    // A change no notification reaches, as if announced while the
    // connection was down: the cache keeps serving the user.
    app.sql(&format!(
        "ALTER TABLE users DISABLE TRIGGER users_notify_actors; \
         UPDATE users SET active = false WHERE id = '{}'; \
         ALTER TABLE users ENABLE TRIGGER users_notify_actors;",
        first.id
    ));
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(me(&first).await, 200, "the cache holds the user");

    app.sql(&format!("SELECT pg_terminate_backend(pid) {listener_sql}"));
    let missed = wait_for_refusal(first, Duration::from_secs(4)).await;
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n {listener_sql}")),
        1,
        "listening again"
    );

    // Announced, but made behind this replica's back: only the listener
    // can tell it.
    app.sql(&format!(
        "UPDATE users SET active = false WHERE id = '{}'",
        second.id
    ));
    let heard = wait_for_refusal(second, Duration::from_secs(1)).await;
    eprintln!(
        "connection dropped: the missed change refused after {missed:?}; a change after it came back: {heard:?}"
    );
}
