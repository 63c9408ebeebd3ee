//! Deal registrations: rows and the look-ups conflict checks need.

use crate::stored::{Key, Text};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use prm_domain::deal::RegStatus;
use prm_domain::ids::{CustomerId, OpportunityId, OrgId, UserId};
use uuid::Uuid;

use crate::customers::Customer;
use crate::schema::{customers, deal_registrations, orgs};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = deal_registrations, check_for_backend(diesel::pg::Pg))]
pub struct Registration {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = Uuid)]
    pub customer_id: CustomerId,
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
    #[diesel(deserialize_as = Text<RegStatus>)]
    pub status: RegStatus,
    pub exclusive_until: Option<NaiveDate>,
    pub decision_reason: Option<String>,
    pub conflict_ids: Vec<Uuid>,
    #[diesel(deserialize_as = Uuid)]
    pub submitted_by_user_id: UserId,
    #[diesel(deserialize_as = Key<Option<UserId>>)]
    pub decided_by_user_id: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = deal_registrations, treat_none_as_default_value = false)]
pub struct NewRegistration {
    pub id: Uuid,
    #[diesel(serialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(serialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(serialize_as = Uuid)]
    pub customer_id: CustomerId,
    pub product_lines: Vec<String>,
    pub justification: Option<String>,
    #[diesel(serialize_as = Text<RegStatus>)]
    pub status: RegStatus,
    pub conflict_ids: Vec<Uuid>,
    #[diesel(serialize_as = Uuid)]
    pub submitted_by_user_id: UserId,
}

/// A decision or status change.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = deal_registrations)]
pub struct RegistrationChanges {
    #[diesel(serialize_as = Text<RegStatus>)]
    pub status: Option<RegStatus>,
    pub exclusive_until: Option<Option<NaiveDate>>,
    pub decision_reason: Option<Option<String>>,
    #[diesel(serialize_as = Key<Option<UserId>>)]
    pub decided_by_user_id: Option<Option<UserId>>,
    pub decided_at: Option<Option<DateTime<Utc>>>,
}

impl Registration {
    pub fn insert(conn: &mut PgConnection, new: NewRegistration) -> QueryResult<Registration> {
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
        opportunity: OpportunityId,
    ) -> QueryResult<Option<Registration>> {
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity.0))
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
        opportunity: OpportunityId,
    ) -> QueryResult<Vec<Registration>> {
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity.0))
            .filter(
                deal_registrations::status
                    .eq_any([Text(RegStatus::Submitted), Text(RegStatus::Approved)]),
            )
            .select(Registration::as_select())
            .for_update()
            .load(conn)
    }

    /// A page in id order; `orgs` restricts to those orgs' registrations.
    pub fn list(
        conn: &mut PgConnection,
        orgs: Option<&[Uuid]>,
        status: Option<RegStatus>,
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
            q = q.filter(deal_registrations::status.eq(Text(s)));
        }
        if let Some(after) = after {
            q = q.filter(deal_registrations::id.gt(after));
        }
        q.order(deal_registrations::id.asc())
            .limit(limit)
            .load(conn)
    }

    pub fn update(
        conn: &mut PgConnection,
        id: Uuid,
        changes: RegistrationChanges,
    ) -> QueryResult<Registration> {
        crate::prepared::update(deal_registrations::table.find(id))
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
        .filter(
            deal_registrations::status
                .eq_any([Text(RegStatus::Submitted), Text(RegStatus::Approved)]),
        )
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
    opportunity: OpportunityId,
) -> QueryResult<Vec<Registration>> {
    crate::prepared::update(
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity.0))
            .filter(deal_registrations::status.eq(Text(RegStatus::Approved))),
    )
    .set((
        deal_registrations::status.eq(Text(RegStatus::Closed)),
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
    opportunity: OpportunityId,
) -> QueryResult<Vec<Registration>> {
    crate::prepared::update(
        deal_registrations::table
            .filter(deal_registrations::opportunity_id.eq(opportunity.0))
            .filter(
                deal_registrations::status
                    .eq_any([Text(RegStatus::Submitted), Text(RegStatus::Approved)]),
            ),
    )
    .set((
        deal_registrations::status.eq(Text(RegStatus::Withdrawn)),
        deal_registrations::version.eq(deal_registrations::version + 1),
        deal_registrations::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Registration::as_returning())
    .get_results(conn)
}
