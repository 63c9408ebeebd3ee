//! Field history (DOMAIN.md): what each change to an opportunity's
//! description changed, field by field, recorded in the change's
//! transaction, and shown to each reader as it may see it (in the timeline
//! as `kind: "change"`, in `opportunity.updated` as `changes`).

use bigdecimal::BigDecimal;
use prm_domain::Actor;
use prm_domain::ids::OpportunityId;
use prm_domain::lifecycle::Field;
use prm_domain::opportunity::{CONTACT_DETAIL_FIELDS, OpportunityFacts};
use prm_domain::values::{CurrencyCode, Money};
use prm_store::PgConnection;
use prm_store::activity::{FieldChanges, NewFieldChanges};
use prm_store::opportunities::{Details, Opportunity, StateChanges};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

/// One field's change as recorded: the field as the API names it, its old
/// and new value.
#[derive(Debug, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// A change as one reader sees it: with no values where it may not see them.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub field: String,
    pub old: Value,
    pub new: Value,
    pub withheld: bool,
}

/// Records what changed from `before` to `after`, if anything, and returns
/// the changes (none when nothing changed).
pub fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    facts: &OpportunityFacts,
    before: &Details,
    after: &Details,
) -> Result<Vec<Change>, ApiError> {
    let changes = changes(before, after);
    if !changes.is_empty() {
        FieldChanges::insert(
            conn,
            NewFieldChanges {
                id: Uuid::now_v7(),
                opportunity_id: id,
                actor_user_id: Some(actor.user_id),
                actor_org_id: Some(actor.org_id),
                status: facts.status,
                changes: stored(&changes),
            },
        )?;
    }
    Ok(changes)
}

/// Changes as they are stored: a JSON array of `{field, old, new}`.
pub fn stored(changes: &[Change]) -> Value {
    json!(changes)
}

/// Stored changes read back.
pub fn recorded(changes: &Value) -> Result<Vec<Change>, ApiError> {
    Vec::<Change>::deserialize(changes)
        .map_err(|e| ApiError::Internal(format!("stored field changes: {e}")))
}

/// The fields that differ, as the API names them: `contact.email` for the
/// contact's, and the estimated revenue as one money value (amount and
/// currency together, as a request gives it).
fn changes(before: &Details, after: &Details) -> Vec<Change> {
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

/// The field of the API a column of the description is written to: the
/// contact's columns are `contact`, the currency belongs to the estimated
/// revenue; `None` for a column no edit sets (the marketing task).
pub fn field_of_column(column: &str) -> Option<Field> {
    match column {
        "currency" => Some(Field::EstimatedRevenue),
        c if c.starts_with("contact_") => Some(Field::Contact),
        c => c.parse().ok(),
    }
}

fn entry(field: &str, old: Value, new: Value) -> Change {
    Change {
        field: field.to_owned(),
        old,
        new,
    }
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
pub fn side_effects(before: &Opportunity, c: &StateChanges) -> Vec<Change> {
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

/// Changes as a reader sees them: the contact details it may not see
/// withheld, with no values.
pub fn as_seen(changes: &[Change], contact_visible: bool) -> Vec<Seen> {
    changes
        .iter()
        .map(|c| {
            let withheld = !contact_visible && CONTACT_DETAIL_FIELDS.contains(&c.field.as_str());
            let value = |v: &Value| if withheld { Value::Null } else { v.clone() };
            Seen {
                field: c.field.clone(),
                old: value(&c.old),
                new: value(&c.new),
                withheld,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Every column an edit sets is one of the fields `editable_fields`
    /// lists, and every such field is set through some column: an edit is
    /// authorized by the same names the caller reads.
    #[test]
    fn every_column_an_edit_sets_is_an_editable_field() {
        let text = || Some("x".to_owned());
        let after = Details {
            topic: "t".to_owned(),
            contact_name: text(),
            contact_email: text(),
            contact_phone: text(),
            contact_title: text(),
            currency: "EUR".parse().ok(),
            estimated_revenue: Some(BigDecimal::from(1)),
            expected_close_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 1),
            customer_situation: text(),
            customer_need: text(),
            proposed_solution: text(),
            country: text(),
            industry: text(),
            product_lines: vec!["cloud".to_owned()],
            marketing_task_id: Some(Uuid::nil()),
        };
        let columns: Vec<&str> = Details::default()
            .changes(&after)
            .into_iter()
            .map(|(c, _, _)| c)
            .collect();
        assert_eq!(columns.len(), 15, "every column differs: {columns:?}");
        let fields: HashSet<Field> = columns.iter().filter_map(|c| field_of_column(c)).collect();
        assert_eq!(fields, Field::ALL.into_iter().collect());
        assert_eq!(field_of_column("marketing_task_id"), None);
    }
}
