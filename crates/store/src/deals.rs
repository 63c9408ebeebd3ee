//! Deal registrations: rows and the look-ups conflict checks need.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::customers::Customer;
use crate::schema::{customers, deal_registrations, orgs};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = deal_registrations, check_for_backend(diesel::pg::Pg))]
pub struct Registration {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    pub org_id: Uuid,
    pub customer_id: Uuid,
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
    pub status: String,
    pub exclusive_until: Option<NaiveDate>,
    pub decision_reason: Option<String>,
    pub conflict_ids: Vec<Uuid>,
    pub submitted_by_user_id: Uuid,
    pub decided_by_user_id: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = deal_registrations)]
pub struct NewRegistration {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    pub org_id: Uuid,
    pub customer_id: Uuid,
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
    pub status: String,
    pub conflict_ids: Vec<Uuid>,
    pub submitted_by_user_id: Uuid,
}

/// A decision or status change.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = deal_registrations)]
pub struct RegistrationChanges {
    pub status: Option<String>,
    pub exclusive_until: Option<Option<NaiveDate>>,
    pub decision_reason: Option<Option<String>>,
    pub decided_by_user_id: Option<Option<Uuid>>,
    pub decided_at: Option<Option<DateTime<Utc>>>,
}

impl Registration {
    pub fn insert(conn: &mut PgConnection, new: &NewRegistration) -> QueryResult<Registration> {
        diesel::insert_into(deal_registrations::table)
            .values(new)
            .returning(Registration::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Registration>> {
        deal_registrations::table
            .find(id)
            .select(Registration::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_for_update(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Registration>> {
        deal_registrations::table
            .find(id)
            .select(Registration::as_select())
            .for_update()
            .first(conn)
            .optional()
    }

    /// The newest registration of an opportunity.
    pub fn latest_for(
        conn: &mut PgConnection,
        opportunity: Uuid,
    ) -> QueryResult<Option<Registration>> {
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity))
            .order((
                deal_registrations::created_at.desc(),
                deal_registrations::id.desc(),
            ))
            .select(Registration::as_select())
            .first(conn)
            .optional()
    }

    /// Active (submitted or approved) registrations of an opportunity, locked.
    pub fn active_for_update(
        conn: &mut PgConnection,
        opportunity: Uuid,
    ) -> QueryResult<Vec<Registration>> {
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity))
            .filter(deal_registrations::status.eq_any(["submitted", "approved"]))
            .select(Registration::as_select())
            .for_update()
            .load(conn)
    }

    /// A page in id order; `orgs` restricts to those orgs' registrations.
    pub fn list(
        conn: &mut PgConnection,
        orgs: Option<&[Uuid]>,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Registration>> {
        let mut q = deal_registrations::table
            .select(Registration::as_select())
            .into_boxed();
        if let Some(orgs) = orgs {
            q = q.filter(deal_registrations::org_id.eq_any(orgs.to_vec()));
        }
        if let Some(s) = status {
            q = q.filter(deal_registrations::status.eq(s.to_owned()));
        }
        if let Some(after) = after {
            q = q.filter(deal_registrations::id.gt(after));
        }
        q.order(deal_registrations::id.asc())
            .limit(limit)
            .load(conn)
    }

    /// Counts by status for the given orgs (`None`: all).
    pub fn count_by_status(
        conn: &mut PgConnection,
        orgs: Option<&[Uuid]>,
    ) -> QueryResult<Vec<(String, i64)>> {
        let mut q = deal_registrations::table
            .group_by(deal_registrations::status)
            .select((deal_registrations::status, diesel::dsl::count_star()))
            .into_boxed();
        if let Some(orgs) = orgs {
            q = q.filter(deal_registrations::org_id.eq_any(orgs.to_vec()));
        }
        q.load(conn)
    }

    pub fn update(
        conn: &mut PgConnection,
        id: Uuid,
        changes: &RegistrationChanges,
    ) -> QueryResult<Registration> {
        diesel::update(deal_registrations::table.find(id))
            .set((
                changes,
                deal_registrations::version.eq(deal_registrations::version + 1),
                deal_registrations::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Registration::as_returning())
            .get_result(conn)
    }
}

/// Every active registration with a shared product line, with its customer
/// and its org's name: the candidates for conflicts and exclusivity.
pub fn active_with_lines(
    conn: &mut PgConnection,
    product_lines: &[String],
) -> QueryResult<Vec<(Registration, Customer, String)>> {
    deal_registrations::table
        .inner_join(customers::table)
        .inner_join(orgs::table.on(orgs::id.eq(deal_registrations::org_id)))
        .filter(deal_registrations::status.eq_any(["submitted", "approved"]))
        .filter(deal_registrations::product_lines.overlaps_with(product_lines.to_vec()))
        .select((Registration::as_select(), Customer::as_select(), orgs::name))
        .load(conn)
}

/// Serializes registration approvals: two approvals for the same customer
/// can never both pass the exclusivity check.
pub fn lock_approvals(conn: &mut PgConnection) -> QueryResult<()> {
    // "prm-deal" as a 64-bit key.
    crate::pool::advisory_xact_lock(conn, 0x7072_6d2d_6465_616c)
}

/// Closes the approved registrations of an opportunity that closed.
pub fn close_for_opportunity(
    conn: &mut PgConnection,
    opportunity: Uuid,
) -> QueryResult<Vec<Registration>> {
    diesel::update(
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity))
            .filter(deal_registrations::status.eq("approved")),
    )
    .set((
        deal_registrations::status.eq("closed"),
        deal_registrations::version.eq(deal_registrations::version + 1),
        deal_registrations::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Registration::as_returning())
    .get_results(conn)
}

/// Withdraws the submitted registrations of an opportunity that ended
/// without closing (canceled, rejected, withdrawn, returned).
pub fn end_for_opportunity(
    conn: &mut PgConnection,
    opportunity: Uuid,
) -> QueryResult<Vec<Registration>> {
    diesel::update(
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity))
            .filter(deal_registrations::status.eq_any(["submitted", "approved"])),
    )
    .set((
        deal_registrations::status.eq("withdrawn"),
        deal_registrations::version.eq(deal_registrations::version + 1),
        deal_registrations::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Registration::as_returning())
    .get_results(conn)
}
