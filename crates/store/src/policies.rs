//! The vendor's policy: one row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::policy::{Policy, Weights};
use prm_domain::reason::ReasonCode;
use uuid::Uuid;

use crate::schema::policies;
use crate::stored::Texts;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policies, check_for_backend(diesel::pg::Pg))]
pub struct PolicyRow {
    pub acceptance_window_hours: i32,
    pub auto_reassign: bool,
    pub max_auto_reassignments: i32,
    pub max_extensions: i32,
    pub max_extension_days: i32,
    pub registration_exclusivity_days: i32,
    pub opportunity_validity_days: i32,
    pub weight_country: i32,
    pub weight_industry: i32,
    pub weight_product_lines: i32,
    pub weight_tier: i32,
    pub weight_capacity: i32,
    pub weight_history: i32,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    #[diesel(deserialize_as = Texts<ReasonCode>)]
    pub reason_codes: Vec<ReasonCode>,
}

correlated!(
    /// The vendor org's id.
    VendorOrg: diesel::sql_types::Nullable<diesel::sql_types::Uuid> =
        "(SELECT o.id FROM orgs o WHERE o.kind = 'vendor' LIMIT 1)"
);

fn n(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn i(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl PolicyRow {
    pub fn policy(&self) -> Policy {
        Policy {
            acceptance_window_hours: n(self.acceptance_window_hours),
            auto_reassign: self.auto_reassign,
            max_auto_reassignments: n(self.max_auto_reassignments),
            max_extensions: n(self.max_extensions),
            max_extension_days: n(self.max_extension_days),
            registration_exclusivity_days: n(self.registration_exclusivity_days),
            opportunity_validity_days: n(self.opportunity_validity_days),
            weights: Weights {
                country: n(self.weight_country),
                industry: n(self.weight_industry),
                product_lines: n(self.weight_product_lines),
                tier: n(self.weight_tier),
                capacity: n(self.weight_capacity),
                history: n(self.weight_history),
            },
            reason_codes: self.reason_codes.clone(),
        }
    }

    pub fn load(conn: &mut PgConnection) -> QueryResult<PolicyRow> {
        policies::table.select(PolicyRow::as_select()).first(conn)
    }

    /// The policy and the vendor org's id, in one statement: what every
    /// lifecycle transition is decided with.
    pub fn load_with_vendor(conn: &mut PgConnection) -> QueryResult<(PolicyRow, Option<Uuid>)> {
        policies::table
            .select((PolicyRow::as_select(), VendorOrg))
            .first(conn)
    }

    pub fn load_for_update(conn: &mut PgConnection) -> QueryResult<PolicyRow> {
        policies::table
            .select(PolicyRow::as_select())
            .for_update()
            .first(conn)
    }

    /// Replaces the policy and bumps the version.
    pub fn save(conn: &mut PgConnection, p: &Policy) -> QueryResult<PolicyRow> {
        let w = p.weights;
        crate::prepared::update(policies::table)
            .set((
                policies::acceptance_window_hours.eq(i(p.acceptance_window_hours)),
                policies::auto_reassign.eq(p.auto_reassign),
                policies::max_auto_reassignments.eq(i(p.max_auto_reassignments)),
                policies::max_extensions.eq(i(p.max_extensions)),
                policies::max_extension_days.eq(i(p.max_extension_days)),
                policies::registration_exclusivity_days.eq(i(p.registration_exclusivity_days)),
                policies::opportunity_validity_days.eq(i(p.opportunity_validity_days)),
                policies::weight_country.eq(i(w.country)),
                policies::weight_industry.eq(i(w.industry)),
                policies::weight_product_lines.eq(i(w.product_lines)),
                policies::weight_tier.eq(i(w.tier)),
                policies::weight_capacity.eq(i(w.capacity)),
                policies::weight_history.eq(i(w.history)),
                policies::reason_codes.eq(Texts(p.reason_codes.clone())),
                policies::version.eq(policies::version + 1),
                policies::updated_at.eq(diesel::dsl::now),
            ))
            .returning(PolicyRow::as_returning())
            .get_result(conn)
    }
}
