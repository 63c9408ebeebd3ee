//! `/dashboard`: figures shaped by the caller's role, computed with the same
//! filters as the opportunity list, so each number matches a list query.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use prm_domain::deal::RegStatus;
use prm_domain::values::{CurrencyCode, Money};
use prm_store::dashboard::{ReasonCount, VendorFigures};
use prm_store::listing::PartnerSummary;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::dto::{MoneyDto, ReasonCodeDto};
use crate::error::ApiError;
use crate::service::dashboard::{self, DashboardRead};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DistributedFigures {
    /// Offers awaiting the caller's org (`?view=distributed`).
    pub count: i64,
    /// Their estimated value, per currency.
    pub value: Vec<MoneyDto>,
    /// The nearest `accept_by`.
    pub next_deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PhaseCounts {
    pub qualify: i64,
    pub develop: i64,
    pub propose: i64,
    pub negotiate: i64,
    pub commit: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManagedFigures {
    /// Accepted with the caller's org as primary partner (`?view=managed`).
    pub count: i64,
    pub by_phase: PhaseCounts,
    /// Accepted ones the caller's org collaborates on
    /// (`?view=collaborating&status=accepted`).
    pub collaborating: i64,
    /// Managed ones expiring within 14 days.
    pub expiring_soon: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosedFigures {
    pub won: i64,
    pub lost: i64,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RegistrationCounts {
    pub submitted: i64,
    pub approved: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    pub expired: i64,
    pub closed: i64,
}

/// What a partner user sees.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"kind": "partner",
    "distributed": {"count": 3, "value": [{"amount": "250000.00", "currency": "EUR"}], "next_deadline": "2026-11-24T12:00:00Z"},
    "managed": {"count": 12, "by_phase": {"qualify": 2, "develop": 5, "propose": 3, "negotiate": 1, "commit": 1},
                "collaborating": 2, "expiring_soon": 1},
    "closed_90d": {"won": 4, "lost": 2}, "win_rate": 0.67,
    "deal_registrations": {"submitted": 1, "approved": 3, "rejected": 0, "withdrawn": 0, "expired": 0, "closed": 2}}))]
pub struct PartnerDashboard {
    #[schema(inline)]
    pub kind: PartnerDashboardKind,
    pub distributed: DistributedFigures,
    pub managed: ManagedFigures,
    /// Won and lost in the last 90 days with the caller's org as primary partner.
    pub closed_90d: ClosedFigures,
    /// won / (won + lost) over the last 90 days; `null` when none closed.
    pub win_rate: Option<f64>,
    pub deal_registrations: RegistrationCounts,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PartnerPipeline)]
pub struct PartnerPipelineDto {
    pub org_id: Uuid,
    pub name: String,
    pub delivered: i64,
    pub accepted: i64,
    /// Estimated value of accepted opportunities, per currency.
    pub pipeline: Vec<MoneyDto>,
    pub won_90d: i64,
    pub lost_90d: i64,
}

/// How often one partner declined or lost with one reason code in the last
/// 90 days.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReasonFigures, example = json!({"partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "partner_name": "Northwind Distribution", "reason_code": "no_capacity", "declined": 2, "lost": 0}))]
pub struct ReasonFiguresDto {
    pub partner_id: Uuid,
    #[schema(example = "Northwind Distribution")]
    pub partner_name: String,
    pub reason_code: ReasonCodeDto,
    /// Offers the partner declined with this code.
    #[schema(minimum = 0)]
    pub declined: i64,
    /// Opportunities lost with this code, the partner being the primary
    /// partner (counted as `lost_90d` counts them).
    #[schema(minimum = 0)]
    pub lost: i64,
}

/// What a vendor user sees.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"kind": "vendor",
    "partners": [{"org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "name": "Northwind Distribution",
                  "delivered": 2, "accepted": 7, "pipeline": [{"amount": "910000.00", "currency": "EUR"}],
                  "won_90d": 3, "lost_90d": 1}],
    "acceptance_rate": 0.82, "median_hours_to_accept": 9.5, "pending_approvals": 4,
    "pending_registrations": 2, "stalled": 1,
    "reasons_90d": [{"partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "partner_name": "Northwind Distribution",
                     "reason_code": "competitor", "declined": 0, "lost": 1},
                    {"partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "partner_name": "Northwind Distribution",
                     "reason_code": "no_capacity", "declined": 2, "lost": 0}]}))]
pub struct VendorDashboard {
    #[schema(inline)]
    pub kind: VendorDashboardKind,
    pub partners: Vec<PartnerPipelineDto>,
    /// Offers accepted / offers answered or expired, last 90 days; `null` when none.
    pub acceptance_rate: Option<f64>,
    /// Median hours from delivery to acceptance, last 90 days.
    pub median_hours_to_accept: Option<f64>,
    pub pending_approvals: i64,
    pub pending_registrations: i64,
    /// Accepted opportunities unchanged for 30 days.
    pub stalled: i64,
    /// Declines and losses of the last 90 days (the window of `won_90d` and
    /// `lost_90d`) by partner and reason code: one row per partner and code
    /// that has any, sorted by partner name, then code.
    pub reasons_90d: Vec<ReasonFiguresDto>,
}

/// Always `partner`: the dashboard's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerDashboardKind {
    Partner,
}

/// Always `vendor`: the dashboard's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VendorDashboardKind {
    Vendor,
}

/// The dashboard: `kind` tells which shape it is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("partner" = "#/components/schemas/PartnerDashboard"),
    ("vendor" = "#/components/schemas/VendorDashboard")
)))]
pub enum Dashboard {
    Partner(PartnerDashboard),
    Vendor(VendorDashboard),
}

fn money(rows: Vec<(CurrencyCode, bigdecimal::BigDecimal)>) -> Vec<MoneyDto> {
    rows.into_iter()
        .map(|(c, v)| MoneyDto::from_money(&Money::from_parts(v, c)))
        .collect()
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (a + b > 0).then(|| a as f64 / (a + b) as f64)
}

fn partner(s: PartnerSummary) -> PartnerDashboard {
    let mut regs = RegistrationCounts::default();
    for (status, n) in s.registrations() {
        match status {
            RegStatus::Submitted => regs.submitted = n,
            RegStatus::Approved => regs.approved = n,
            RegStatus::Rejected => regs.rejected = n,
            RegStatus::Withdrawn => regs.withdrawn = n,
            RegStatus::Expired => regs.expired = n,
            RegStatus::Closed => regs.closed = n,
        }
    }
    PartnerDashboard {
        kind: PartnerDashboardKind::Partner,
        distributed: DistributedFigures {
            count: s.distributed,
            value: money(s.offer_currencies.into_iter().zip(s.offer_values).collect()),
            next_deadline: s.next_deadline,
        },
        managed: ManagedFigures {
            count: s.managed,
            by_phase: PhaseCounts {
                qualify: s.qualify,
                develop: s.develop,
                propose: s.propose,
                negotiate: s.negotiate,
                commit: s.commit,
            },
            collaborating: s.collaborating,
            expiring_soon: s.expiring,
        },
        closed_90d: ClosedFigures {
            won: s.won,
            lost: s.lost,
        },
        win_rate: ratio(s.won, s.lost),
        deal_registrations: regs,
    }
}

fn vendor(f: VendorFigures) -> VendorDashboard {
    let partners = f
        .partners
        .into_iter()
        .map(|p| {
            let values: Vec<_> = f
                .values
                .iter()
                .filter(|v| v.org_id == p.org_id)
                .map(|v| (v.currency, v.value.clone()))
                .collect();
            PartnerPipelineDto {
                pipeline: money(values),
                org_id: p.org_id,
                name: p.name,
                delivered: p.delivered,
                accepted: p.accepted,
                won_90d: p.won_90d,
                lost_90d: p.lost_90d,
            }
        })
        .collect();
    VendorDashboard {
        kind: VendorDashboardKind::Vendor,
        partners,
        acceptance_rate: ratio(f.accepted_90d, f.refused_90d),
        median_hours_to_accept: f.median_hours_to_accept,
        pending_approvals: f.pending_approvals,
        pending_registrations: f.pending_registrations,
        stalled: f.stalled,
        reasons_90d: f.reasons.into_iter().map(reason_figures).collect(),
    }
}

fn reason_figures(r: ReasonCount) -> ReasonFiguresDto {
    ReasonFiguresDto {
        partner_id: r.org_id,
        partner_name: r.name,
        reason_code: r.reason_code.into(),
        declined: r.declined,
        lost: r.lost,
    }
}

/// The caller's dashboard: partner roles get their org's pipeline (account
/// managers: what they own); vendor roles get the program overview.
#[utoipa::path(
    operation_id = "get_dashboard",tag = "dashboard", responses((status = 200, body = Dashboard)))]
#[get("")]
pub async fn get(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let d = state.run(caller, dashboard::get).await?;
    let d = match d {
        DashboardRead::Partner(f) => Dashboard::Partner(partner(f)),
        DashboardRead::Vendor(f) => Dashboard::Vendor(vendor(f)),
    };
    Ok(HttpResponse::Ok().json(d))
}
