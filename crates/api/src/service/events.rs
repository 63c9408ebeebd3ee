//! Writes outbox events for every change, in the change's transaction, with
//! the audience the domain's notification rule gives.

use std::collections::HashMap;

use prm_domain::OrgId;
use prm_domain::events::{EventType, change_audience, with_parents};
use prm_domain::ids::{CustomerId, OpportunityId, UserId};
use prm_domain::opportunity::OpportunityFacts;
use prm_store::PgConnection;
use prm_store::deals::Registration;
use prm_store::opportunities::Opportunity;
use prm_store::outbox::{NewEventRow, parents, write};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

fn parent_map(conn: &mut PgConnection, orgs: &[OrgId]) -> Result<HashMap<OrgId, OrgId>, ApiError> {
    let ids: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
    Ok(parents(conn, &ids)?
        .into_iter()
        .map(|(o, p)| (o.into(), p.into()))
        .collect())
}

fn involved(f: &OpportunityFacts) -> Vec<OrgId> {
    let mut v = vec![f.owner_org_id];
    v.extend(f.primary_partner_id);
    v.extend(f.collaborator_ids.iter().copied());
    v
}

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
    opportunity_after(conn, kind, before, &view.row, &after, extra)
}

/// Records an opportunity event from the state the caller already read
/// after its change.
pub fn opportunity_after(
    conn: &mut PgConnection,
    kind: EventType,
    before: Option<&OpportunityFacts>,
    row: &Opportunity,
    after: &OpportunityFacts,
    extra: Value,
) -> Result<(), ApiError> {
    let mut orgs = involved(after);
    if let Some(b) = before {
        orgs.extend(involved(b));
    }
    let parents = parent_map(conn, &orgs)?;
    let audience = change_audience(before, after, &|o| parents.get(&o).copied());
    let mut data = json!({
        "opportunity_id": row.id,
        "reference": prm_domain::opportunity::reference(row.reference_no),
        "status": row.status.as_str(),
        "previous_status": before.map(|b| b.status.as_str()),
        "primary_partner_id": row.primary_partner_id,
        "version": row.version,
    });
    merge(&mut data, extra);
    emit(conn, kind, Some(row.id), &audience, data)
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
            EventType::NoteAdded,
            Some(opportunity),
            &audience,
            data,
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
    let org = r.org_id;
    let parents = parent_map(conn, &[org])?;
    let audience = with_parents(vec![org], &|o| parents.get(&o).copied());
    let data = json!({
        "deal_registration_id": r.id,
        "opportunity_id": r.opportunity_id,
        "org_id": r.org_id,
        "status": r.status.as_str(),
        "product_lines": r.product_lines,
        "exclusive_until": r.exclusive_until,
    });
    emit(conn, kind, Some(r.opportunity_id), &audience, data)
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
    for (customer, holder) in customers {
        emit(
            conn,
            EventType::CustomerRevealed,
            None,
            &[revealing_org],
            json!({"customer_id": customer, "holder_org_id": holder,
                   "revealed_by_user_id": revealed_by, "revealing_org_id": revealing_org.0}),
        )?;
    }
    Ok(())
}

fn emit(
    conn: &mut PgConnection,
    kind: EventType,
    opportunity: Option<OpportunityId>,
    audience: &[OrgId],
    data: Value,
) -> Result<(), ApiError> {
    write(
        conn,
        &NewEventRow {
            id: Uuid::now_v7(),
            type_: kind.as_str().to_owned(),
            opportunity_id: opportunity.map(Into::into),
            audience: audience.iter().map(|o| o.0).collect(),
            data,
        },
    )?;
    Ok(())
}
