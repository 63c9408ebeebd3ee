//! Aggregates for the vendor dashboard.

use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Numeric, Text};
use uuid::Uuid;

use crate::prepared::prepared;

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
}

pub fn vendor_figures(conn: &mut PgConnection) -> QueryResult<VendorFigures> {
    let now = chrono::Utc::now();
    let recent = now - chrono::Duration::days(i64::from(RECENT_DAYS));
    let stalled = now - chrono::Duration::days(i64::from(STALLED_DAYS));
    let partners = prepared(
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
    let values = prepared(
        "SELECT primary_partner_id AS org_id, currency, sum(estimated_revenue) AS value
         FROM opportunities
         WHERE status = 'accepted' AND primary_partner_id IS NOT NULL AND currency IS NOT NULL
         GROUP BY primary_partner_id, currency ORDER BY currency",
    )
    .load::<PartnerValue>(conn)?;
    let rates: Rates = prepared(
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
    Ok(VendorFigures {
        partners,
        values,
        accepted_90d: rates.accepted,
        refused_90d: rates.refused,
        median_hours_to_accept: rates.median_hours,
        pending_approvals: rates.pending_approvals,
        pending_registrations: rates.pending_registrations,
        stalled: rates.stalled,
    })
}
