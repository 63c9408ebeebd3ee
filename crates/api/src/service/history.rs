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
use prm_store::activity::NewFieldChanges;
use prm_store::journal::Journal;
use prm_store::opportunities::{Details, Opportunity, OpportunityView, StateChanges};
use prm_store::versions;
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

/// Records in `journal` what changed from `before` to `after`, if
/// anything, and returns the changes (none when nothing changed).
pub fn record(
    journal: &mut Journal,
    actor: &Actor,
    id: OpportunityId,
    facts: &OpportunityFacts,
    before: &Details,
    after: &Details,
) -> Vec<Change> {
    let changes = changes(before, after);
    if !changes.is_empty() {
        journal.field_changes(NewFieldChanges {
            id: Uuid::now_v7(),
            opportunity_id: id,
            actor_user_id: Some(actor.user_id),
            actor_org_id: Some(actor.org_id),
            status: facts.status,
            changes: stored(&changes),
        });
    }
    changes
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
    field(
        "close_reason_code",
        json!(before.close_reason_code.as_ref().map(|v| v.as_str())),
        c.close_reason_code
            .as_ref()
            .map(|v| json!(v.as_ref().map(|v| v.as_str()))),
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

/// Every field of an opportunity a change can touch, as its representation
/// names them, in the representation's order (`version` and `updated_at`
/// change with each of them).
pub const CHANGEABLE: [&str; 22] = [
    "topic",
    "status",
    "contact",
    "estimated_revenue",
    "expected_close_date",
    "customer_situation",
    "customer_need",
    "proposed_solution",
    "country",
    "industry",
    "product_lines",
    "owner_org_id",
    "owner_user_id",
    "primary_partner_id",
    "collaborator_ids",
    "pipeline_phase",
    "win_probability",
    "accept_by",
    "expires_on",
    "extension_count",
    "close_reason",
    "actual_revenue",
];

/// The fields of the opportunity, as its representation names them, that
/// differ between two reads of it, in the representation's order.
pub fn changed_fields(before: &OpportunityView, after: &OpportunityView) -> Vec<&'static str> {
    let (b, a) = (&before.row, &after.row);
    let mut changed: Vec<&'static str> = Vec::new();
    for (column, _, _) in b.details.changes(&a.details) {
        changed.extend(field_of_column(column).map(|f| f.as_str()));
        // The currency is the actual revenue's too.
        if column == "currency" && (b.actual_revenue.is_some() || a.actual_revenue.is_some()) {
            changed.push("actual_revenue");
        }
    }
    for (field, differs) in [
        ("status", b.status != a.status),
        ("owner_org_id", b.owner_org_id != a.owner_org_id),
        ("owner_user_id", b.owner_user_id != a.owner_user_id),
        (
            "primary_partner_id",
            b.primary_partner_id != a.primary_partner_id,
        ),
        (
            "collaborator_ids",
            before.collaborator_ids != after.collaborator_ids,
        ),
        ("pipeline_phase", b.pipeline_phase != a.pipeline_phase),
        ("win_probability", b.win_probability != a.win_probability),
        ("accept_by", b.accept_by != a.accept_by),
        ("expires_on", b.expires_on != a.expires_on),
        ("extension_count", b.extension_count != a.extension_count),
        ("close_reason", b.close_reason != a.close_reason),
        ("actual_revenue", b.actual_revenue != a.actual_revenue),
    ] {
        if differs {
            changed.push(field);
        }
    }
    in_representation_order(changed)
}

fn in_representation_order(mut fields: Vec<&'static str>) -> Vec<&'static str> {
    fields.sort_by_key(|f| CHANGEABLE.iter().position(|c| c == f));
    fields.dedup();
    fields
}

/// Records in `journal` which fields the version of `after` changed,
/// compared with `before` (its read under the row lock, before the change),
/// when the change bumped it. Every change that bumps an opportunity's
/// version ends with this, on the view its own update returned.
pub fn record_version(journal: &mut Journal, before: &OpportunityView, after: &OpportunityView) {
    if after.row.version != before.row.version {
        journal.version(
            after.row.id,
            after.row.version,
            &changed_fields(before, after),
        );
    }
}

/// The fields of the opportunity changed after version `sent` up to
/// `current`, in the representation's order. When the history does not
/// cover every version in between (no version sent, one it never had, or
/// versions older than the history), every field that can change.
pub fn changed_since(
    conn: &mut PgConnection,
    id: OpportunityId,
    sent: Option<i32>,
    current: i32,
) -> Result<Vec<String>, ApiError> {
    let every = || CHANGEABLE.iter().map(|f| (*f).to_owned()).collect();
    let Some(sent) = sent.filter(|s| (1..current).contains(s)) else {
        return Ok(every());
    };
    let versions = versions::between(conn, id, sent, current)?;
    if versions.len() != usize::try_from(current - sent).unwrap_or(usize::MAX) {
        return Ok(every());
    }
    let mut fields: Vec<String> = Vec::new();
    for (_, changed) in versions {
        for f in changed {
            if !fields.contains(&f) {
                fields.push(f);
            }
        }
    }
    fields.sort_by_key(|f| {
        CHANGEABLE
            .iter()
            .position(|c| c == f)
            .unwrap_or(CHANGEABLE.len())
    });
    Ok(fields)
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
