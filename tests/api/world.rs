//! A shared cast for opportunity tests: the vendor's channel manager and
//! viewer, a distributor with a reseller under it, and an unrelated reseller,
//! each partner with its four roles and a customer.

use prm_tests::{DbProxy, Resp, TestApp, TestDb, TestUser, partner_opportunity};
use serde_json::json;

/// A vendor, a distributor with a reseller under it, and an unrelated reseller,
/// each partner with its four roles, and a customer each.
pub struct World {
    pub app: TestApp,
    pub cm: TestUser,
    pub viewer: TestUser,
    pub dist: Org,
    pub res: Org,
    pub other: Org,
    pub vendor_customer: String,
}

pub struct Org {
    pub id: String,
    pub admin: TestUser,
    pub am1: TestUser,
    pub am2: TestUser,
    pub director: TestUser,
    pub customer: String,
}

pub async fn org(app: &TestApp, name: &str, kind: &str, parent: Option<&str>) -> Org {
    let id = app.org(name, kind, parent).await;
    Org {
        admin: app.user(&id, "partner_admin").await,
        am1: app.user(&id, "account_manager").await,
        am2: app.user(&id, "account_manager").await,
        director: app.user(&id, "account_manager_director").await,
        customer: app.customer(&id, &format!("{name} Customer")).await,
        id,
    }
}

pub async fn world() -> World {
    world_on(TestApp::spawn().await).await
}

/// The same cast on an app whose every statement goes through a counting
/// proxy (`DbProxy::counting`), with every caller's actor cached for the
/// whole test, so that what a request sends is its own work.
pub async fn counted_world() -> (DbProxy, World) {
    let proxy = DbProxy::counting();
    let db = TestDb::migrated();
    let url = proxy.url(&db);
    let app = TestApp::spawn_on(db, |c| {
        c.database_url = url;
        c.auth_cache_ttl = std::time::Duration::from_secs(600);
    })
    .await;
    (proxy, world_on(app).await)
}

async fn world_on(app: TestApp) -> World {
    let vendor = app.vendor_id().await;
    let dist = org(&app, "Dist", "distributor", None).await;
    let res = org(&app, "Res", "reseller", Some(&dist.id)).await;
    let other = org(&app, "Other", "reseller", None).await;
    World {
        cm: app.user(&vendor, "channel_manager").await,
        viewer: app.user(&vendor, "vendor_viewer").await,
        vendor_customer: app.customer(&vendor, "Vendor Customer").await,
        dist,
        res,
        other,
        app,
    }
}

/// The path of one opportunity.
pub fn opp_path(id: &str) -> String {
    format!("/api/v1/opportunities/{id}")
}

/// A vendor draft with a contact, revenue and a product line.
pub async fn draft(w: &World) -> String {
    w.app
        .post(
            "/api/v1/opportunities",
            &w.cm.token,
            &json!({"topic": "Vendor lead", "customer_id": w.vendor_customer,
                    "contact": {"name": "Jo", "email": "jo@c.example", "phone": "+1 555"},
                    "estimated_revenue": {"amount": "50000.00", "currency": "EUR"},
                    "product_lines": ["cloud"]}),
        )
        .await
        .expect(201)
        .id()
}

/// A draft offered to `partner` by the channel manager.
pub async fn delivered_to(w: &World, partner: &str) -> String {
    let id = draft(w).await;
    w.app
        .act(
            &id,
            "distribute",
            &w.cm.token,
            Some(json!({"partner_id": partner})),
        )
        .await
        .expect(200);
    id
}

/// A draft offered to `admin`'s org and accepted by it.
pub async fn accepted_by(w: &World, admin: &TestUser) -> String {
    let id = delivered_to(w, &admin.org_id).await;
    w.app
        .act(&id, "accept", &admin.token, None)
        .await
        .expect(200);
    id
}

/// An opportunity's `allowed_actions`.
pub fn actions(r: &Resp) -> Vec<String> {
    r.body["allowed_actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no allowed_actions: {}", r.text))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// A customer named `name` held by `user`'s org, and the pending
/// opportunity that org creates for it: the customer's id and the answer.
pub async fn own_opportunity(w: &World, user: &TestUser, name: &str) -> (String, Resp) {
    let customer = w
        .app
        .post(
            "/api/v1/customers",
            &user.token,
            &json!({"name": name, "country": "DE"}),
        )
        .await
        .expect(201)
        .id();
    let opp = w
        .app
        .post(
            "/api/v1/opportunities",
            &user.token,
            &partner_opportunity(&customer),
        )
        .await
        .expect(201);
    (customer, opp)
}

/// The vendor's channel manager approves registration `reg`, with no
/// exclusivity date of its own.
pub async fn approve(w: &World, reg: &str) {
    w.app
        .post(
            &format!("/api/v1/deal-registrations/{reg}/approve"),
            &w.cm.token,
            &json!({}),
        )
        .await
        .expect(200);
}

/// A pending opportunity of `user`'s org for a customer named `customer`
/// held by that org, and the registration on it.
pub async fn registered(w: &World, user: &TestUser, customer: &str) -> (String, String) {
    let opp = own_opportunity(w, user, customer).await.1.id();
    let reg = w
        .app
        .post(
            &format!("/api/v1/opportunities/{opp}/deal-registration"),
            &user.token,
            &json!({"product_lines": ["Cloud"], "justification": "we sourced it"}),
        )
        .await
        .expect(201);
    assert_eq!(reg.body["status"], "submitted");
    assert_eq!(reg.body["product_lines"], json!(["cloud"]));
    (opp, reg.id())
}
