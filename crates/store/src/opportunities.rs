//! Opportunities: rows, forms, visibility-filtered queries and status events.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use prm_domain::opportunity::OpportunityFacts;
use uuid::Uuid;

use crate::StoreError;
use crate::schema::{customers, opportunities, opportunity_collaborators, opportunity_events};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = opportunities, check_for_backend(diesel::pg::Pg))]
pub struct Opportunity {
    pub id: Uuid,
    pub reference_no: i64,
    pub topic: String,
    pub customer_id: Uuid,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_title: Option<String>,
    pub currency: Option<String>,
    pub estimated_revenue: Option<BigDecimal>,
    pub expected_close_date: Option<NaiveDate>,
    pub customer_situation: Option<String>,
    pub customer_need: Option<String>,
    pub proposed_solution: Option<String>,
    pub country: Option<String>,
    pub industry: Option<String>,
    pub product_lines: Vec<String>,
    pub marketing_task_id: Option<Uuid>,
    pub origin: String,
    pub status: String,
    pub owner_org_id: Uuid,
    pub owner_user_id: Uuid,
    pub primary_partner_id: Option<Uuid>,
    pub pipeline_phase: Option<String>,
    pub win_probability: Option<i16>,
    pub accept_by: Option<DateTime<Utc>>,
    pub expires_on: Option<NaiveDate>,
    pub extension_count: i32,
    pub close_reason: Option<String>,
    pub actual_revenue: Option<BigDecimal>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_user_id: Uuid,
    /// Automatic assignments so far, for the re-assignment limit.
    pub auto_assignments: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = opportunities)]
pub struct NewOpportunity {
    pub id: Uuid,
    pub topic: String,
    pub customer_id: Uuid,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_title: Option<String>,
    pub currency: Option<String>,
    pub estimated_revenue: Option<BigDecimal>,
    pub expected_close_date: Option<NaiveDate>,
    pub customer_situation: Option<String>,
    pub customer_need: Option<String>,
    pub proposed_solution: Option<String>,
    pub country: Option<String>,
    pub industry: Option<String>,
    pub product_lines: Vec<String>,
    pub marketing_task_id: Option<Uuid>,
    pub origin: String,
    pub status: String,
    pub owner_org_id: Uuid,
    pub owner_user_id: Uuid,
    pub primary_partner_id: Option<Uuid>,
    pub accept_by: Option<DateTime<Utc>>,
    pub expires_on: Option<NaiveDate>,
    pub created_by_user_id: Uuid,
}

/// A field edit. Outer `None` leaves a column alone; `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = opportunities)]
pub struct OpportunityChanges {
    pub topic: Option<String>,
    pub contact_name: Option<Option<String>>,
    pub contact_email: Option<Option<String>>,
    pub contact_phone: Option<Option<String>>,
    pub contact_title: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub estimated_revenue: Option<Option<BigDecimal>>,
    pub expected_close_date: Option<Option<NaiveDate>>,
    pub customer_situation: Option<Option<String>>,
    pub customer_need: Option<Option<String>>,
    pub proposed_solution: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub industry: Option<Option<String>>,
    pub product_lines: Option<Vec<String>>,
    pub marketing_task_id: Option<Option<Uuid>>,
}

/// A change of lifecycle state. Outer `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = opportunities)]
pub struct StateChanges {
    pub status: Option<String>,
    pub currency: Option<Option<String>>,
    pub primary_partner_id: Option<Option<Uuid>>,
    pub owner_org_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub accept_by: Option<Option<DateTime<Utc>>>,
    pub expires_on: Option<Option<NaiveDate>>,
    pub extension_count: Option<i32>,
    pub close_reason: Option<Option<String>>,
    pub actual_revenue: Option<Option<BigDecimal>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub pipeline_phase: Option<Option<String>>,
    pub win_probability: Option<Option<i16>>,
}

/// An opportunity with what a response shows beside it.
#[derive(Debug, Clone)]
pub struct OpportunityView {
    pub row: Opportunity,
    pub customer_name: String,
    pub collaborator_ids: Vec<Uuid>,
}

impl Opportunity {
    /// The facts the domain rules decide on.
    pub fn facts(&self, collaborators: &[Uuid]) -> Result<OpportunityFacts, StoreError> {
        Ok(OpportunityFacts {
            status: self.status.parse().map_err(StoreError::Corrupt)?,
            origin: self.origin.parse().map_err(StoreError::Corrupt)?,
            owner_org_id: self.owner_org_id.into(),
            owner_user_id: self.owner_user_id.into(),
            creator_user_id: self.created_by_user_id.into(),
            primary_partner_id: self.primary_partner_id.map(Into::into),
            collaborator_ids: collaborators.iter().copied().map(Into::into).collect(),
        })
    }

    pub fn insert(conn: &mut PgConnection, new: &NewOpportunity) -> QueryResult<Opportunity> {
        diesel::insert_into(opportunities::table)
            .values(new)
            .returning(Opportunity::as_returning())
            .get_result(conn)
    }

    /// Loads the row with its collaborators and locks it until the
    /// transaction ends, so a change decided on it cannot race another.
    pub fn find_for_update(
        conn: &mut PgConnection,
        id: Uuid,
    ) -> QueryResult<Option<(Opportunity, Vec<Uuid>)>> {
        opportunities::table
            .find(id)
            .select((Opportunity::as_select(), opportunities::collaborator_ids))
            .for_update()
            .first(conn)
            .optional()
    }

    /// Applies a lifecycle change and bumps the version.
    pub fn change_state(
        conn: &mut PgConnection,
        id: Uuid,
        changes: &StateChanges,
    ) -> QueryResult<Opportunity> {
        diesel::update(opportunities::table.find(id))
            .set((
                changes,
                opportunities::version.eq(opportunities::version + 1),
                opportunities::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Opportunity::as_returning())
            .get_result(conn)
    }

    /// Applies a field edit and bumps the version.
    pub fn update(
        conn: &mut PgConnection,
        id: Uuid,
        changes: &OpportunityChanges,
    ) -> QueryResult<Opportunity> {
        diesel::update(opportunities::table.find(id))
            .set((
                changes,
                opportunities::version.eq(opportunities::version + 1),
                opportunities::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Opportunity::as_returning())
            .get_result(conn)
    }
}

/// Replaces the collaborating orgs of an opportunity.
pub fn set_collaborators(conn: &mut PgConnection, id: Uuid, orgs: &[Uuid]) -> QueryResult<()> {
    diesel::delete(
        opportunity_collaborators::table.filter(opportunity_collaborators::opportunity_id.eq(id)),
    )
    .execute(conn)?;
    add_collaborators(conn, id, orgs)
}

/// Adds collaborating orgs; ones already there stay.
pub fn add_collaborators(conn: &mut PgConnection, id: Uuid, orgs: &[Uuid]) -> QueryResult<()> {
    let rows: Vec<_> = orgs
        .iter()
        .map(|o| {
            (
                opportunity_collaborators::opportunity_id.eq(id),
                opportunity_collaborators::org_id.eq(*o),
            )
        })
        .collect();
    diesel::insert_into(opportunity_collaborators::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|_| ())
}

/// Removes one collaborating org; returns whether it was there.
pub fn remove_collaborator(conn: &mut PgConnection, id: Uuid, org: Uuid) -> QueryResult<bool> {
    diesel::delete(
        opportunity_collaborators::table
            .filter(opportunity_collaborators::opportunity_id.eq(id))
            .filter(opportunity_collaborators::org_id.eq(org)),
    )
    .execute(conn)
    .map(|n| n > 0)
}

/// One opportunity with its customer name and collaborators, in one statement.
pub fn find_view(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<OpportunityView>> {
    let row: Option<(Opportunity, String, Vec<Uuid>)> = opportunities::table
        .inner_join(customers::table)
        .filter(opportunities::id.eq(id))
        .select((
            Opportunity::as_select(),
            customers::name,
            opportunities::collaborator_ids,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(row, customer_name, collaborator_ids)| OpportunityView {
            row,
            customer_name,
            collaborator_ids,
        }),
    )
}

#[derive(Debug, Insertable)]
#[diesel(table_name = opportunity_events)]
pub struct NewEvent<'a> {
    pub id: Uuid,
    pub opportunity_id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor_org_id: Option<Uuid>,
    pub partner_org_id: Option<Uuid>,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub reason: Option<&'a str>,
}

/// Records a status event; call inside the transaction that made the change.
pub fn record_event(conn: &mut PgConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(opportunity_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Sets what only later lifecycle steps normally set: collaborators, phase
/// and probability, close reason and actual revenue. Used by demo seeding.
pub fn seed_details(
    conn: &mut PgConnection,
    id: Uuid,
    collaborator_ids: &[Uuid],
    phase: Option<(&str, i16)>,
    closed: Option<(&str, BigDecimal)>,
) -> QueryResult<()> {
    for org in collaborator_ids {
        diesel::insert_into(opportunity_collaborators::table)
            .values((
                opportunity_collaborators::opportunity_id.eq(id),
                opportunity_collaborators::org_id.eq(org),
            ))
            .execute(conn)?;
    }
    if let Some((p, w)) = phase {
        diesel::update(opportunities::table.find(id))
            .set((
                opportunities::pipeline_phase.eq(p),
                opportunities::win_probability.eq(w),
            ))
            .execute(conn)?;
    }
    if let Some((reason, actual)) = closed {
        diesel::update(opportunities::table.find(id))
            .set((
                opportunities::close_reason.eq(reason),
                opportunities::actual_revenue.eq(actual),
                opportunities::closed_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
