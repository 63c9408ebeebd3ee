//! A shared cast for opportunity tests: the vendor's channel manager and
//! viewer, a distributor with a reseller under it, and an unrelated reseller,
//! each partner with its four roles and a customer.

use prm_tests::{TestApp, TestUser};

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
    let app = TestApp::spawn().await;
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
