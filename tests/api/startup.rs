//! Start-up: database creation, migrations under an advisory lock, the
//! bootstrap admin and demo seeding.

use prm_api::seed;
use prm_api::startup::prepare_database;
use prm_tests::{ADMIN, TestApp, TestDb, test_config};

#[actix_web::test]
async fn serve_creates_a_missing_database_and_migrates_it() {
    let db = TestDb::absent();
    assert!(!db.exists());
    prepare_database(&test_config(&db.url)).unwrap();
    assert!(db.exists());
    let mut conn = db.conn();
    assert!(prm_store::migrate::is_migrated(&mut conn).unwrap());
    assert_eq!(
        db.count("SELECT count(*) AS n FROM orgs WHERE kind = 'vendor'"),
        1
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) AS n FROM users WHERE subject = '{ADMIN}' AND role = 'vendor_admin'"
        )),
        1
    );
}

#[actix_web::test]
async fn replicas_starting_together_migrate_and_bootstrap_once() {
    let db = TestDb::empty();
    let config = test_config(&db.url);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = config.clone();
            std::thread::spawn(move || prepare_database(&c).map(|_| ()).map_err(|e| e.to_string()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(
        db.count("SELECT count(*) AS n FROM orgs WHERE kind = 'vendor'"),
        1
    );
    assert_eq!(db.count("SELECT count(*) AS n FROM users"), 1);
}

#[actix_web::test]
async fn unreachable_postgres_is_reported_in_one_line_naming_database_url() {
    let config = test_config("postgres://postgres:hunter2@127.0.0.1:1/prm");
    let err = prepare_database(&config).unwrap_err().to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(!err.contains("hunter2"), "password is redacted: {err}");
}

#[actix_web::test]
async fn demo_seed_is_idempotent_and_every_demo_token_works() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.conn();
    assert!(seed::seed(&mut conn, &app.config).unwrap());
    assert!(
        !seed::seed(&mut conn, &app.config).unwrap(),
        "second run seeds nothing"
    );
    let statuses = app.count("SELECT count(DISTINCT status) AS n FROM opportunities");
    assert!(
        statuses >= 8,
        "demo data shows many statuses, got {statuses}"
    );
    let users = seed::demo_users(&app.config);
    assert_eq!(users.len(), 15);
    for u in users {
        let me = app
            .get("/api/v1/me", &app.token(&u.subject))
            .await
            .expect(200);
        assert_eq!(me.body["user"]["role"], u.role);
        assert_eq!(me.body["org"]["name"], u.org);
        let token = app.token(&u.subject);
        let list = app.get("/api/v1/opportunities", &token).await.expect(200);
        let d = app.get("/api/v1/dashboard", &token).await.expect(200);
        if u.role == "partner_admin" {
            assert!(
                !list.body["items"].as_array().unwrap().is_empty(),
                "{} sees work",
                u.subject
            );
            assert!(
                d.body["managed"]["count"].as_i64().unwrap()
                    + d.body["distributed"]["count"].as_i64().unwrap()
                    > 0
            );
        }
    }
}
