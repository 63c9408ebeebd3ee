//! Aggregates for the vendor dashboard.

use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Numeric, Text};
use prm_domain::reason::ReasonCode;
use uuid::Uuid;

/// Days a closed outcome counts as recent; days without change that make an
/// accepted opportunity stalled.
pub const RECENT_DAYS: i32 = 90;
pub const STALLED_DAYS: i32 = 30;

#[derive(Debug, Clone, QueryableByName)]
pub struct PartnerPipeline {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
    #[diesel(sql_type = BigInt)]
    pub won_90d: i64,
    #[diesel(sql_type = BigInt)]
    pub lost_90d: i64,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct PartnerValue {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text, deserialize_as = crate::stored::Text<prm_domain::values::CurrencyCode>)]
    pub currency: prm_domain::values::CurrencyCode,
    #[diesel(sql_type = Numeric)]
    pub value: BigDecimal,
}

/// How often one partner declined or lost with one reason code.
#[derive(Debug, Clone, QueryableByName)]
pub struct ReasonCount {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text, deserialize_as = crate::stored::Text<ReasonCode>)]
    pub reason_code: ReasonCode,
    #[diesel(sql_type = BigInt)]
    pub declined: i64,
    #[diesel(sql_type = BigInt)]
    pub lost: i64,
}

#[derive(Debug, Clone, QueryableByName)]
struct Rates {
    #[diesel(sql_type = BigInt)]
    accepted: i64,
    #[diesel(sql_type = BigInt)]
    refused: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median_hours: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pending_approvals: i64,
    #[diesel(sql_type = BigInt)]
    pending_registrations: i64,
    #[diesel(sql_type = BigInt)]
    stalled: i64,
}

#[derive(Debug, Clone)]
pub struct VendorFigures {
    pub partners: Vec<PartnerPipeline>,
    pub values: Vec<PartnerValue>,
    /// Offers accepted / answered (accepted, declined, expired) in 90 days.
    pub accepted_90d: i64,
    pub refused_90d: i64,
    pub median_hours_to_accept: Option<f64>,
    pub pending_approvals: i64,
    pub pending_registrations: i64,
    pub stalled: i64,
    /// Declines and losses of the last 90 days by partner and reason code,
    /// by partner name, then code.
    pub reasons: Vec<ReasonCount>,
}

/// Declines (by the declining partner, from its status events) and losses
/// (by the primary partner, as `lost_90d` counts them) since `since`, per
/// partner and reason code, in one statement. Each side is a range scan of
/// its partial index, which holds every column read here
/// (`opportunity_events_declines`, `opportunities_lost`).
pub fn reasons_since(
    conn: &mut PgConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> QueryResult<Vec<ReasonCount>> {
    crate::prepared!(
        "SELECT o.id AS org_id, o.name, r.reason_code,
                count(*) FILTER (WHERE r.declined) AS declined,
                count(*) FILTER (WHERE NOT r.declined) AS lost
         FROM (SELECT e.partner_org_id AS org_id, e.reason_code, true AS declined
                 FROM opportunity_events e
                WHERE e.action = 'decline' AND e.created_at >= $1
                  AND e.reason_code IS NOT NULL
               UNION ALL
               SELECT p.primary_partner_id, p.close_reason_code, false
                 FROM opportunities p
                WHERE p.status = 'lost' AND p.closed_at >= $1
                  AND p.close_reason_code IS NOT NULL) r
         JOIN orgs o ON o.id = r.org_id
         GROUP BY o.id, o.name, r.reason_code
         ORDER BY o.name, o.id, r.reason_code",
    )
    .bind(since)
    .load(conn)
}

pub fn vendor_figures(conn: &mut PgConnection) -> QueryResult<VendorFigures> {
    let now = chrono::Utc::now();
    let recent = now - chrono::Duration::days(i64::from(RECENT_DAYS));
    let stalled = now - chrono::Duration::days(i64::from(STALLED_DAYS));
    let partners = crate::prepared!(
        "SELECT o.id AS org_id, o.name,
                count(p.id) FILTER (WHERE p.status = 'delivered') AS delivered,
                count(p.id) FILTER (WHERE p.status = 'accepted') AS accepted,
                count(p.id) FILTER (WHERE p.status = 'won'
                    AND p.closed_at >= $1) AS won_90d,
                count(p.id) FILTER (WHERE p.status = 'lost'
                    AND p.closed_at >= $1) AS lost_90d
         FROM orgs o LEFT JOIN opportunities p ON p.primary_partner_id = o.id
         WHERE o.kind <> 'vendor'
         GROUP BY o.id, o.name ORDER BY o.name, o.id",
    )
    .bind(recent)
    .load::<PartnerPipeline>(conn)?;
    let values = crate::prepared!(
        "SELECT primary_partner_id AS org_id, currency, sum(estimated_revenue) AS value
         FROM opportunities
         WHERE status = 'accepted' AND primary_partner_id IS NOT NULL AND currency IS NOT NULL
         GROUP BY primary_partner_id, currency ORDER BY currency",
    )
    .load::<PartnerValue>(conn)?;
    let rates: Rates = crate::prepared!(
        "SELECT
           (SELECT count(*) FROM opportunity_events WHERE action = 'accept'
              AND created_at >= $1) AS accepted,
           (SELECT count(*) FROM opportunity_events WHERE action IN ('decline', 'expire')
              AND created_at >= $1) AS refused,
           (SELECT percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM a.created_at - d.created_at) / 3600.0)
              FROM opportunity_events a
              JOIN LATERAL (SELECT e.created_at FROM opportunity_events e
                            WHERE e.opportunity_id = a.opportunity_id AND e.action = 'distribute'
                              AND e.to_status = 'delivered' AND e.created_at <= a.created_at
                            ORDER BY e.created_at DESC LIMIT 1) d ON true
              WHERE a.action = 'accept'
                AND a.created_at >= $1)::double precision
              AS median_hours,
           (SELECT count(*) FROM opportunities WHERE status = 'pending_approval') AS pending_approvals,
           (SELECT count(*) FROM deal_registrations WHERE status = 'submitted') AS pending_registrations,
           (SELECT count(*) FROM opportunities WHERE status = 'accepted'
              AND updated_at < $2) AS stalled",
    )
    .bind(recent)
    .bind(stalled)
    .get_result(conn)?;
    let reasons = reasons_since(conn, recent)?;
    Ok(VendorFigures {
        partners,
        values,
        accepted_90d: rates.accepted,
        refused_90d: rates.refused,
        median_hours_to_accept: rates.median_hours,
        pending_approvals: rates.pending_approvals,
        pending_registrations: rates.pending_registrations,
        stalled: rates.stalled,
        reasons,
    })
}
