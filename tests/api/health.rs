use prm_api::startup::Application;
use prm_store::pool::build_pool;
use prm_tests::{TestApp, TestDb, test_config};

#[actix_web::test]
async fn healthz_answers_without_a_database_and_readyz_checks_it() {
    let app = TestApp::spawn().await;
    let res = app
        .send(app.client.get(format!("{}/healthz", app.base)))
        .await
        .expect(200);
    assert_eq!(res.body["status"], "ok");
    let res = app
        .send(app.client.get(format!("{}/readyz", app.base)))
        .await
        .expect(200);
    assert_eq!(res.body["status"], "ready");
}

#[actix_web::test]
async fn readyz_is_503_while_migrations_are_pending() {
    // An empty database: reachable, but not migrated.
    let db = TestDb::empty();
    let config = test_config(&db.url);
    let app = Application::build(&config, build_pool(&db.url, &config.pool)).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let res = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    handle.stop(false).await;
}

#[actix_web::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    let mut config = test_config("postgres://postgres@127.0.0.1:1/none");
    config.pool.checkout_timeout = std::time::Duration::from_millis(300);
    let app = Application::build(&config, build_pool(&config.database_url, &config.pool)).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let res = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "service_unavailable");
    assert!(
        !body.to_string().contains("127.0.0.1:1"),
        "no connection details leak: {body}"
    );
    handle.stop(false).await;
}
