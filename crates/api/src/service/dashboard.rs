//! The dashboard use case: figures shaped by the caller's role, computed
//! with the same filters as the opportunity list, so each number matches a
//! list query.

use chrono::{Duration, Utc};
use prm_domain::Actor;
use prm_domain::opportunity as rules;
use prm_store::PgConnection;
use prm_store::dashboard::{RECENT_DAYS, VendorFigures, vendor_figures};
use prm_store::listing::{self, Me, PartnerSummary};

use crate::error::ApiError;

/// Days ahead within which a managed opportunity counts as expiring soon.
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// What the caller's role sees: a partner its pipeline (an account
/// manager's: what it owns) and its org scope's deal registrations by
/// status.
#[derive(Debug, Clone)]
pub enum DashboardRead {
    Partner(PartnerSummary),
    Vendor(VendorFigures),
}

/// The caller's dashboard: partner roles get their org's pipeline; vendor
/// roles the program overview.
pub fn get(conn: &mut PgConnection, actor: &Actor) -> Result<DashboardRead, ApiError> {
    if actor.is_vendor() {
        return Ok(DashboardRead::Vendor(vendor_figures(conn)?));
    }
    let me = Me {
        org: actor.org_id.0,
        user: actor.user_id.0,
    };
    let now = Utc::now();
    let scope = crate::service::partner_scope(actor).unwrap_or_default();
    // One statement for the counts, the offers' value by currency and the
    // org scope's deal registrations by status.
    let summary = listing::partner_summary(
        conn,
        &rules::visibility(actor),
        me,
        &scope,
        (now + Duration::days(EXPIRING_SOON_DAYS)).date_naive(),
        now - Duration::days(i64::from(RECENT_DAYS)),
    )?;
    Ok(DashboardRead::Partner(summary))
}
