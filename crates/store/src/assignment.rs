//! What the partner ranking reads: every partner org with its profile, load,
//! history and earlier answer to one opportunity; and the worker's queues.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use prm_domain::deal::RegStatus;
use prm_domain::ids::{OpportunityId, OrgId};
use prm_domain::opportunity::Status;
use prm_domain::org::Tier;
use uuid::Uuid;

use crate::stored::Text as Stored;

use crate::schema::{deal_registrations, opportunities, orgs};

#[derive(Debug, Clone, QueryableByName)]
pub struct PartnerRow {
    #[diesel(sql_type = SqlUuid, deserialize_as = Uuid)]
    pub id: OrgId,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Bool)]
    pub accepting: bool,
    #[diesel(sql_type = Array<Text>)]
    pub countries: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub industries: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub product_lines: Vec<String>,
    #[diesel(sql_type = Text, deserialize_as = Stored<Tier>)]
    pub tier: Tier,
    #[diesel(sql_type = Integer)]
    pub capacity: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_assigned_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pub open: i64,
    #[diesel(sql_type = BigInt)]
    pub offered: i64,
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
    #[diesel(sql_type = BigInt)]
    pub won: i64,
    #[diesel(sql_type = BigInt)]
    pub closed: i64,
    /// `decline`, `return` or `expire`: its last answer to this opportunity.
    #[diesel(sql_type = Nullable<Text>)]
    pub past: Option<String>,
}

/// Every partner org with what ranking it for `opportunity` needs.
pub fn partners_for(
    conn: &mut PgConnection,
    opportunity: OpportunityId,
) -> QueryResult<Vec<PartnerRow>> {
    crate::prepared!(
        "SELECT o.id, o.name, o.active, o.accepting, o.countries, o.industries, o.product_lines,
                o.tier, o.capacity, o.last_assigned_at,
                (SELECT count(*) FROM opportunities p
                  WHERE p.primary_partner_id = o.id AND p.status IN ('delivered', 'accepted')) AS open,
                (SELECT count(*) FROM opportunity_events e
                  WHERE e.partner_org_id = o.id AND e.to_status = 'delivered') AS offered,
                (SELECT count(*) FROM opportunity_events e
                  WHERE e.actor_org_id = o.id AND e.action = 'accept') AS accepted,
                (SELECT count(*) FROM opportunities p
                  WHERE p.primary_partner_id = o.id AND p.status = 'won') AS won,
                (SELECT count(*) FROM opportunities p
                  WHERE p.primary_partner_id = o.id AND p.status IN ('won', 'lost')) AS closed,
                (SELECT e.action FROM opportunity_events e
                  WHERE e.opportunity_id = $1 AND e.partner_org_id = o.id
                    AND e.action IN ('decline', 'return', 'expire')
                  ORDER BY e.created_at DESC, e.id DESC LIMIT 1) AS past
         FROM orgs o
         WHERE o.kind <> 'vendor'
         ORDER BY o.id",
    )
    .bind(opportunity.0)
    .load(conn)
}

/// Notes when a partner was last offered an opportunity (ranking tie-break).
pub fn mark_assigned(conn: &mut PgConnection, org: OrgId) -> QueryResult<()> {
    crate::prepared::update(orgs::table.find(org.0))
        .set(orgs::last_assigned_at.eq(Some(Utc::now())))
        .execute(conn)
        .map(|_| ())
}

/// Offers past their deadline, locked; ones another worker holds are skipped.
pub fn lock_overdue_offers(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<OpportunityId>> {
    opportunities::table
        .filter(opportunities::status.eq(Stored(Status::Delivered)))
        .filter(opportunities::accept_by.lt(now))
        .order(opportunities::accept_by.asc())
        .limit(limit)
        .select(opportunities::id)
        .for_update()
        .skip_locked()
        .load::<Uuid>(conn)
        .map(crate::stored::ids)
}

/// Opportunities awaiting automatic re-assignment, locked, skipping held ones.
pub fn lock_pending_reassignments(
    conn: &mut PgConnection,
    limit: i64,
) -> QueryResult<Vec<OpportunityId>> {
    opportunities::table
        .filter(opportunities::reassign_pending.eq(true))
        .order(opportunities::updated_at.asc())
        .limit(limit)
        .select(opportunities::id)
        .for_update()
        .skip_locked()
        .load::<Uuid>(conn)
        .map(crate::stored::ids)
}

/// Clears the automatic re-assignment mark (a transition sets it with its
/// own update: `StateChanges::reassign_pending`).
pub fn clear_reassign(conn: &mut PgConnection, id: OpportunityId) -> QueryResult<()> {
    crate::prepared::update(opportunities::table.find(id.0))
        .set(opportunities::reassign_pending.eq(false))
        .execute(conn)
        .map(|_| ())
}

/// Approved registrations whose exclusivity ended before `today`, locked.
pub fn lock_lapsed_registrations(
    conn: &mut PgConnection,
    today: NaiveDate,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    deal_registrations::table
        .filter(deal_registrations::status.eq(Stored(RegStatus::Approved)))
        .filter(deal_registrations::exclusive_until.lt(today))
        .order(deal_registrations::exclusive_until.asc())
        .limit(limit)
        .select(deal_registrations::id)
        .for_update()
        .skip_locked()
        .load(conn)
}

/// Locks a partner org's row until the transaction ends and reads its
/// capacity: every path that offers it an opportunity takes this lock
/// first, so concurrent offers to it are counted one after another.
pub fn lock_partner(conn: &mut PgConnection, org: OrgId) -> QueryResult<Option<i32>> {
    orgs::table
        .find(org.0)
        .select(orgs::capacity)
        .for_update()
        .first(conn)
        .optional()
}

/// The delivered or accepted opportunities a partner holds as primary.
/// Taken in its own statement after [`lock_partner`], it sees every offer
/// committed before the lock was granted.
pub fn open_offers(conn: &mut PgConnection, org: OrgId) -> QueryResult<i64> {
    opportunities::table
        .filter(opportunities::primary_partner_id.eq(org.0))
        .filter(opportunities::status.eq_any([Stored(Status::Delivered), Stored(Status::Accepted)]))
        .count()
        .get_result(conn)
}
