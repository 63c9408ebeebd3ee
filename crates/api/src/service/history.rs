//! Field history (DOMAIN.md): what each change to an opportunity's
//! description changed, field by field, recorded in the change's
//! transaction, and shown to each reader as it may see it (in the timeline
//! as `kind: "change"`, in `opportunity.updated` as `changes`).

use bigdecimal::BigDecimal;
use prm_domain::Actor;
use prm_domain::ids::OpportunityId;
use prm_domain::opportunity::{CONTACT_DETAIL_FIELDS, OpportunityFacts};
use prm_domain::values::{CurrencyCode, Money};
use prm_store::PgConnection;
use prm_store::activity::FieldChanges;
use prm_store::opportunities::{Details, Opportunity, StateChanges};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

/// Records what changed from `before` to `after`, if anything, and returns
/// the changes as recorded (`[{"field", "old", "new"}]`, empty when none).
pub fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    facts: &OpportunityFacts,
    before: &Details,
    after: &Details,
) -> Result<Vec<Value>, ApiError> {
    let changes = changes(before, after);
    if !changes.is_empty() {
        FieldChanges::insert(
            conn,
            FieldChanges {
                id: Uuid::now_v7(),
                opportunity_id: id,
                actor_user_id: Some(actor.user_id),
                actor_org_id: Some(actor.org_id),
                status: facts.status,
                changes: Value::Array(changes.clone()),
                created_at: chrono::Utc::now(),
            },
        )?;
    }
    Ok(changes)
}

/// The fields that differ, as the API names them: `contact.email` for the
/// contact's, and the estimated revenue as one money value (amount and
/// currency together, as a request gives it).
pub fn changes(before: &Details, after: &Details) -> Vec<Value> {
    let mut out = Vec::new();
    let mut money_done = false;
    for (column, old, new) in before.changes(after) {
        if column == "currency" || column == "estimated_revenue" {
            if !money_done {
                money_done = true;
                out.push(entry("estimated_revenue", money(before), money(after)));
            }
            continue;
        }
        let field = match column.strip_prefix("contact_") {
            Some(part) => format!("contact.{part}"),
            None => column.to_owned(),
        };
        out.push(entry(&field, old, new));
    }
    out
}

fn entry(field: &str, old: Value, new: Value) -> Value {
    json!({"field": field, "old": old, "new": new})
}

fn money(d: &Details) -> Value {
    money_of(d.estimated_revenue.as_ref(), d.currency)
}

/// Money as the API writes it, or `null`.
fn money_of(amount: Option<&BigDecimal>, currency: Option<CurrencyCode>) -> Value {
    match (amount, currency) {
        (Some(amount), Some(currency)) => {
            let m = Money::from_parts(amount.clone(), currency);
            json!({"amount": m.amount_string(), "currency": currency.as_str()})
        }
        _ => Value::Null,
    }
}

/// What an action changes beside the status, from the row before it and
/// the changes it writes: the deadlines, the extension count and the close
/// fields (who holds the opportunity is the status change itself).
pub fn side_effects(before: &Opportunity, c: &StateChanges) -> Vec<Value> {
    let mut out = Vec::new();
    let mut field = |name: &str, old: Value, new: Option<Value>| {
        if let Some(new) = new
            && new != old
        {
            out.push(entry(name, old, new));
        }
    };
    field(
        "accept_by",
        json!(before.accept_by),
        c.accept_by.map(|v| json!(v)),
    );
    field(
        "expires_on",
        json!(before.expires_on),
        c.expires_on.map(|v| json!(v)),
    );
    field(
        "extension_count",
        json!(before.extension_count),
        c.extension_count.map(|v| json!(v)),
    );
    field(
        "close_reason",
        json!(before.close_reason),
        c.close_reason.as_ref().map(|v| json!(v)),
    );
    let currency = c.currency.unwrap_or(before.details.currency);
    field(
        "actual_revenue",
        money_of(before.actual_revenue.as_ref(), before.details.currency),
        c.actual_revenue
            .as_ref()
            .map(|v| money_of(v.as_ref(), currency)),
    );
    out
}

/// Recorded changes as a reader sees them: each with `withheld`, and the
/// contact details the reader may not see with no values.
pub fn as_seen(changes: &[Value], contact_visible: bool) -> Vec<Value> {
    changes
        .iter()
        .map(|c| {
            let field = c["field"].as_str().unwrap_or_default();
            if !contact_visible && CONTACT_DETAIL_FIELDS.contains(&field) {
                json!({"field": field, "old": null, "new": null, "withheld": true})
            } else {
                json!({"field": field, "old": c["old"], "new": c["new"], "withheld": false})
            }
        })
        .collect()
}
