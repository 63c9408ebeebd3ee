//! What a change records beside itself, written in one statement at its
//! end: the opportunity's status event, an edit's field history, the fields
//! its new version changed, and the outbox events with the webhook
//! deliveries fanned out from them.
//!
//! Each was its own statement before (five round trips for an accept); the
//! rows are gathered here as the use case decides them and sent once, in the
//! change's transaction, so the outbox stays exactly as transactional as
//! the change.

use diesel::prelude::*;
use prm_domain::ids::OpportunityId;
use serde_json::{Value, json};

use crate::activity::NewFieldChanges;
use crate::opportunities::NewEvent;
use crate::outbox::NewEventRow;

/// Rows to write with a change; empty parts write nothing.
#[derive(Debug, Default)]
#[must_use = "a journal is written only by `write`"]
pub struct Journal {
    status_events: Vec<Value>,
    field_changes: Vec<Value>,
    versions: Vec<Value>,
    events: Vec<Value>,
}

impl Journal {
    pub fn new() -> Self {
        Self::default()
    }

    /// The opportunity's status event (its timeline's entry for the change).
    pub fn status_event(&mut self, e: NewEvent<'_>) {
        self.status_events.push(json!({
            "id": e.id,
            "opportunity_id": e.opportunity_id.0,
            "actor_user_id": e.actor_user_id.map(|u| u.0),
            "actor_org_id": e.actor_org_id.map(|o| o.0),
            "partner_org_id": e.partner_org_id.map(|o| o.0),
            "action": e.action,
            "from_status": e.from_status.map(|s| s.as_str()),
            "to_status": e.to_status.as_str(),
            "reason": e.reason,
            "changes": e.changes,
            "reason_code": e.reason_code.as_ref().map(|c| c.as_str()),
        }));
    }

    /// What an edit changed, field by field (the field history).
    pub fn field_changes(&mut self, c: NewFieldChanges) {
        self.field_changes.push(json!({
            "id": c.id,
            "opportunity_id": c.opportunity_id.0,
            "actor_user_id": c.actor_user_id.map(|u| u.0),
            "actor_org_id": c.actor_org_id.map(|o| o.0),
            "status": c.status.as_str(),
            "changes": c.changes,
        }));
    }

    /// That `version` of the opportunity changed `fields` (for a 412's
    /// `changed_fields`).
    pub fn version(&mut self, id: OpportunityId, version: i32, fields: &[&str]) {
        self.versions.push(json!({
            "opportunity_id": id.0,
            "version": version,
            "fields": fields,
        }));
    }

    /// An outbox event, queued for every active webhook that may receive it.
    pub fn event(&mut self, e: &NewEventRow) {
        self.events.push(json!({
            "id": e.id,
            "type": e.type_,
            "opportunity_id": e.opportunity_id,
            "audience": e.audience,
            "with_distributors": e.with_distributors,
            "data": e.data,
        }));
    }

    pub fn is_empty(&self) -> bool {
        self.status_events.is_empty()
            && self.field_changes.is_empty()
            && self.versions.is_empty()
            && self.events.is_empty()
    }

    /// Writes every row gathered, in one statement. Call inside the
    /// transaction of the change.
    ///
    /// An event's audience gains each listed org's distributor when the
    /// event asks for it (DOMAIN.md: a distributor sees what its resellers
    /// see), read here rather than in a statement of its own. Deliveries go
    /// to the vendor's active webhooks and to those of active orgs in the
    /// audience, filtered by the webhook's event types.
    pub fn write(self, conn: &mut PgConnection) -> QueryResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        crate::prepared!(
            "WITH status_events AS (
               INSERT INTO opportunity_events (id, opportunity_id, actor_user_id, actor_org_id,
                 partner_org_id, action, from_status, to_status, reason, changes, reason_code)
               SELECT r.id, r.opportunity_id, r.actor_user_id, r.actor_org_id, r.partner_org_id,
                 r.action, r.from_status, r.to_status, r.reason, r.changes, r.reason_code
               FROM jsonb_to_recordset($1) AS r(id uuid, opportunity_id uuid, actor_user_id uuid,
                 actor_org_id uuid, partner_org_id uuid, action text, from_status text,
                 to_status text, reason text, changes jsonb, reason_code text)
             ), field_changes AS (
               INSERT INTO opportunity_changes (id, opportunity_id, actor_user_id, actor_org_id,
                 status, changes)
               SELECT r.id, r.opportunity_id, r.actor_user_id, r.actor_org_id, r.status, r.changes
               FROM jsonb_to_recordset($2) AS r(id uuid, opportunity_id uuid, actor_user_id uuid,
                 actor_org_id uuid, status text, changes jsonb)
             ), versions AS (
               INSERT INTO opportunity_versions (opportunity_id, version, fields)
               SELECT r.opportunity_id, r.version, r.fields
               FROM jsonb_to_recordset($3) AS r(opportunity_id uuid, version int, fields text[])
             ), written AS (
               INSERT INTO events (id, type, opportunity_id, audience, data)
               SELECT r.id, r.type, r.opportunity_id,
                 CASE WHEN r.with_distributors
                   THEN ARRAY(SELECT DISTINCT a FROM unnest(r.audience || ARRAY(
                          SELECT g.parent_id FROM orgs g
                          WHERE g.id = ANY(r.audience) AND g.parent_id IS NOT NULL)) AS a)
                   ELSE r.audience END,
                 r.data
               FROM jsonb_to_recordset($4) AS r(id uuid, type text, opportunity_id uuid,
                 audience uuid[], with_distributors boolean, data jsonb)
               RETURNING id, type, audience
             )
             INSERT INTO webhook_deliveries (id, webhook_id, event_id)
             SELECT gen_random_uuid(), w.id, e.id
             FROM written e
             JOIN webhooks w ON w.active AND (cardinality(w.event_types) = 0 OR e.type = ANY(w.event_types))
             JOIN orgs o ON o.id = w.org_id AND o.active
             WHERE o.kind = 'vendor' OR w.org_id = ANY(e.audience)",
        )
        .bind(Value::Array(self.status_events))
        .bind(Value::Array(self.field_changes))
        .bind(Value::Array(self.versions))
        .bind(Value::Array(self.events))
        .execute(conn)
        .map(|_| ())
    }
}
