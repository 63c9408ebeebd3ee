//! Writes outbox events for every change, in the change's transaction, with
//! the audience the domain's notification rule gives.

use prm_domain::OrgId;
use prm_domain::events::{EventType, change_audience};
use prm_domain::ids::{CustomerId, OpportunityId, UserId};
use prm_domain::opportunity::OpportunityFacts;
use prm_store::PgConnection;
use prm_store::deals::Registration;
use prm_store::journal::Journal;
use prm_store::opportunities::Opportunity;
use prm_store::outbox::NewEventRow;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

/// Records an opportunity event for whoever could see it before or after,
/// reading the opportunity as it is now.
pub fn opportunity(
    conn: &mut PgConnection,
    kind: EventType,
    before: Option<&OpportunityFacts>,
    id: OpportunityId,
    extra: Value,
) -> Result<(), ApiError> {
    let view = prm_store::opportunities::find_view(conn, id, None)?.ok_or(ApiError::NotFound)?;
    let after = view.facts();
    opportunity_after(conn, Journal::new(), kind, before, &view.row, &after, extra)
}

/// Records an opportunity event from the state the caller already read
/// after its change, with what the change's `journal` already holds (its
/// status event, its version), in one statement.
pub fn opportunity_after(
    conn: &mut PgConnection,
    mut journal: Journal,
    kind: EventType,
    before: Option<&OpportunityFacts>,
    row: &Opportunity,
    after: &OpportunityFacts,
    extra: Value,
) -> Result<(), ApiError> {
    let audience = change_audience(before, after);
    let mut data = json!({
        "opportunity_id": row.id,
        "reference": prm_domain::opportunity::reference(row.reference_no),
        "status": row.status.as_str(),
        "previous_status": before.map(|b| b.status.as_str()),
        "primary_partner_id": row.primary_partner_id,
        "version": row.version,
    });
    merge(&mut data, extra);
    journal.event(&event(kind, Some(row.id), &audience, true, data));
    Ok(journal.write(conn)?)
}

/// Records a note event: an internal note reaches only its author's org.
pub fn note(
    conn: &mut PgConnection,
    opportunity: OpportunityId,
    author_org: OrgId,
    author_is_vendor: bool,
    internal: bool,
    data: Value,
) -> Result<(), ApiError> {
    if internal {
        let audience = if author_is_vendor {
            vec![]
        } else {
            vec![author_org]
        };
        emit(
            conn,
            event(
                EventType::NoteAdded,
                Some(opportunity),
                &audience,
                false,
                data,
            ),
        )
    } else {
        self::opportunity(conn, EventType::NoteAdded, None, opportunity, data)
    }
}

/// Records a deal-registration event for the registering org (and its
/// distributor); the vendor sees every event.
pub fn registration(
    conn: &mut PgConnection,
    kind: EventType,
    r: &Registration,
) -> Result<(), ApiError> {
    emit(conn, registration_event(kind, r))
}

/// [`registration`]'s event, for a change that writes it with its own.
pub fn registration_event(kind: EventType, r: &Registration) -> NewEventRow {
    let data = json!({
        "deal_registration_id": r.id,
        "opportunity_id": r.opportunity_id,
        "org_id": r.org_id,
        "status": r.status.as_str(),
        "product_lines": r.product_lines,
        "exclusive_until": r.exclusive_until,
    });
    event(kind, Some(r.opportunity_id), &[r.org_id], true, data)
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

/// Records a reveal of masked customer names: the vendor and the revealing
/// org read it.
pub fn reveal(
    conn: &mut PgConnection,
    revealing_org: OrgId,
    revealed_by: UserId,
    customers: &[(CustomerId, OrgId)],
) -> Result<(), ApiError> {
    let mut journal = Journal::new();
    for (customer, holder) in customers {
        journal.event(&event(
            EventType::CustomerRevealed,
            None,
            &[revealing_org],
            false,
            json!({"customer_id": customer, "holder_org_id": holder,
                   "revealed_by_user_id": revealed_by, "revealing_org_id": revealing_org.0}),
        ));
    }
    Ok(journal.write(conn)?)
}

fn emit(conn: &mut PgConnection, event: NewEventRow) -> Result<(), ApiError> {
    Ok(prm_store::outbox::write(conn, &event)?)
}

/// An event for `audience` (and, `with_distributors`, the distributor above
/// each of its orgs); the vendor reads every event.
fn event(
    kind: EventType,
    opportunity: Option<OpportunityId>,
    audience: &[OrgId],
    with_distributors: bool,
    data: Value,
) -> NewEventRow {
    NewEventRow {
        id: Uuid::now_v7(),
        type_: kind.as_str().to_owned(),
        opportunity_id: opportunity.map(Into::into),
        audience: audience.iter().map(|o| o.0).collect(),
        with_distributors,
        data,
    }
}
