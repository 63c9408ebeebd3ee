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
