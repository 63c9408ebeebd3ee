//! Opportunity use cases: create, read, list and edit, and the reads every
//! other use case on an opportunity starts from (locked, visible).

use chrono::NaiveDate;
use prm_domain::error::one_per_field;
use prm_domain::events::EventType;
use prm_domain::ids::{CustomerId, OpportunityId};
use prm_domain::opportunity::{
    self as rules, Action, CreateRequest, OpportunityFacts, Origin, contact_details_visible,
};
use prm_domain::values::{Money, labels};
use prm_domain::{Actor, FieldError};
use prm_store::PgConnection;
use prm_store::customers::Customer;
use prm_store::listing;
use prm_store::marketing::MarketingTask;
use prm_store::opportunities::{
    self as store, NewEvent, NewOpportunity, Opportunity, OpportunityChanges, OpportunityView,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::{events, trimmed};

/// An opportunity as one caller meets it: the view, the facts the rules
/// decided on, and what the rules say this caller may see and do.
#[derive(Debug, Clone)]
pub struct OpportunityRead {
    pub view: OpportunityView,
    pub facts: OpportunityFacts,
    /// Exactly the actions `decide` allows this caller now.
    pub allowed: Vec<Action>,
    /// The contact's e-mail and phone may be shown.
    pub contact_visible: bool,
    /// The customer's name is masked for this caller.
    pub name_masked: bool,
}

/// What `actor` meets of `view`, by the same rules that authorize.
pub fn read_as(view: OpportunityView, actor: &Actor) -> Result<OpportunityRead, ApiError> {
    let facts = view.facts();
    Ok(OpportunityRead {
        allowed: rules::allowed_actions(actor, &facts),
        contact_visible: contact_details_visible(actor, &facts),
        name_masked: prm_domain::customer::name_is_masked(actor, facts.customer_org_id),
        facts,
        view,
    })
}

/// The opportunity locked until the transaction ends, with the facts the
/// rules decide on.
pub fn locked(
    conn: &mut PgConnection,
    id: OpportunityId,
) -> Result<(OpportunityView, OpportunityFacts), ApiError> {
    let view = Opportunity::find_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
    let facts = view.facts();
    Ok((view, facts))
}

/// Locks the opportunity and lets the domain decide `action` for `actor`:
/// 404 when invisible, 403 when not the actor's to take, 409 in a wrong
/// status or when a condition beyond the table stands in the way.
pub fn locked_for(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    action: Action,
) -> Result<(OpportunityView, OpportunityFacts), ApiError> {
    let (view, facts) = locked(conn, id)?;
    rules::decide(actor, &facts, action)?;
    Ok((view, facts))
}

/// The opportunity as the caller may read it, or 404.
pub fn visible(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
) -> Result<OpportunityView, ApiError> {
    let view = store::find_view(conn, id)?.ok_or(ApiError::NotFound)?;
    if rules::can_view(actor, &view.facts()) {
        Ok(view)
    } else {
        Err(ApiError::NotFound)
    }
}

/// One opportunity as the caller meets it.
pub fn get(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
) -> Result<OpportunityRead, ApiError> {
    read_as(visible(conn, actor, id)?, actor)
}

/// One page of a list, as the caller may see it.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: listing::Filter,
    pub sort: listing::Sort,
    pub after: Option<listing::After>,
    /// Rows to fetch (a page and one more).
    pub fetch: i64,
}

/// What the caller may see, filtered and sorted; a name masked for the
/// caller is never matched by `q`.
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    mut query: ListQuery,
) -> Result<Vec<OpportunityRead>, ApiError> {
    let visibility = rules::visibility(actor);
    query.filter.q_masked_orgs = prm_domain::customer::masked_orgs(actor)
        .into_iter()
        .map(|o| o.0)
        .collect();
    let me = listing::Me {
        org: actor.org_id.0,
        user: actor.user_id.0,
    };
    listing::list(
        conn,
        &visibility,
        me,
        &query.filter,
        query.sort,
        query.after.as_ref(),
        query.fetch,
    )?
    .into_iter()
    .map(|v| read_as(v, actor))
    .collect()
}

/// The customer's contact person.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
}

/// A new opportunity. `input_errors` are what the edge already found wrong
/// with the request; they are reported with the rules' own in one 422.
#[derive(Debug, Clone, Default)]
pub struct NewOpportunityCommand {
    pub topic: String,
    pub customer_id: CustomerId,
    pub contact: Option<Contact>,
    pub estimated_revenue: Option<Money>,
    pub expected_close_date: Option<NaiveDate>,
    pub customer_situation: Option<String>,
    pub customer_need: Option<String>,
    pub proposed_solution: Option<String>,
    pub country: Option<String>,
    pub industry: Option<String>,
    pub product_lines: Option<Vec<String>>,
    pub marketing_task_id: Option<Uuid>,
    pub input_errors: Vec<FieldError>,
}

/// Creates an opportunity: `draft` for vendor writers, `pending_approval`
/// for partners (who give full revenue information).
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    cmd: NewOpportunityCommand,
) -> Result<OpportunityRead, ApiError> {
    let customer = Customer::find(conn, cmd.customer_id)?;
    let mut errors = cmd.input_errors;
    // An amount the edge could not read was given: it is reported as it is,
    // not also as missing.
    let revenue_given = cmd.estimated_revenue.is_some()
        || errors
            .iter()
            .any(|e| e.field.starts_with("estimated_revenue"));
    let decided = rules::decide_create(
        actor,
        &CreateRequest {
            customer_org_id: customer.as_ref().map(|c| c.org_id),
            has_estimated_revenue: revenue_given,
            has_expected_close_date: cmd.expected_close_date.is_some(),
        },
    );
    let creation = match decided {
        Ok(c) => Some(c),
        Err(prm_domain::DomainError::Invalid(found)) => {
            errors.extend(found);
            None
        }
        // The edge's 422 came first before, and still does.
        Err(other) if errors.is_empty() => return Err(other.into()),
        Err(_) => return Err(ApiError::Validation(one_per_field(errors))),
    };
    if let Some(task) = cmd.marketing_task_id
        && MarketingTask::find(conn, task)?.is_none()
    {
        errors.push(FieldError::new(
            "marketing_task_id",
            "no such marketing task",
        ));
    }
    let product_lines = match cmd.product_lines.as_deref().map(labels).transpose() {
        Ok(p) => p,
        Err(e) => {
            errors.push(FieldError::new("product_lines", e));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(one_per_field(errors)));
    }
    let (Some(creation), Some(customer)) = (creation, customer) else {
        return Err(ApiError::validation("customer_id", "no such customer"));
    };
    let money = cmd.estimated_revenue;
    let contact = cmd.contact;
    let new = NewOpportunity {
        id: OpportunityId::new(),
        topic: cmd.topic.trim().to_owned(),
        customer_id: customer.id,
        contact_name: contact.as_ref().map(|c| c.name.trim().to_owned()),
        contact_email: contact.as_ref().and_then(|c| trimmed(c.email.clone())),
        contact_phone: contact.as_ref().and_then(|c| trimmed(c.phone.clone())),
        contact_title: contact.as_ref().and_then(|c| trimmed(c.title.clone())),
        currency: money.as_ref().map(|m| m.currency()),
        estimated_revenue: money.as_ref().map(|m| m.amount().clone()),
        expected_close_date: cmd.expected_close_date,
        customer_situation: trimmed(cmd.customer_situation),
        customer_need: trimmed(cmd.customer_need),
        proposed_solution: trimmed(cmd.proposed_solution),
        country: Some(
            cmd.country
                .map(|c| c.trim().to_ascii_uppercase())
                .unwrap_or(customer.country),
        ),
        industry: trimmed(cmd.industry)
            .map(|i| i.to_lowercase())
            .or(customer.industry),
        product_lines: product_lines.unwrap_or_default(),
        marketing_task_id: cmd.marketing_task_id,
        origin: creation.origin,
        status: creation.status,
        owner_org_id: actor.org_id,
        owner_user_id: actor.user_id,
        primary_partner_id: None,
        accept_by: None,
        expires_on: None,
        created_by_user_id: actor.user_id,
    };
    let row = Opportunity::insert(conn, new)?;
    store::record_event(
        conn,
        NewEvent {
            id: Uuid::now_v7(),
            opportunity_id: row.id,
            actor_user_id: Some(actor.user_id),
            action: "create",
            actor_org_id: Some(actor.org_id),
            partner_org_id: (creation.origin == Origin::Partner).then_some(actor.org_id),
            from_status: None,
            to_status: row.status,
            reason: None,
        },
    )?;
    changed(
        conn,
        actor,
        EventType::OpportunityCreated,
        None,
        row.id,
        json!({}),
    )
}

/// Field changes. Outer `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct EditCommand {
    pub topic: Option<String>,
    pub contact: Option<Contact>,
    pub estimated_revenue: Option<Option<Money>>,
    pub expected_close_date: Option<Option<NaiveDate>>,
    pub customer_situation: Option<Option<String>>,
    pub customer_need: Option<Option<String>>,
    pub proposed_solution: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub industry: Option<Option<String>>,
    pub product_lines: Option<Vec<String>>,
}

/// Edits an opportunity's fields (vendor writers: any open one; the creating
/// partner's admin or owner while `pending_approval`; the primary partner's
/// admin or owner while `accepted`).
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    cmd: EditCommand,
) -> Result<OpportunityRead, ApiError> {
    let (view, facts) = locked_for(conn, actor, id, Action::Edit)?;
    if_match.check(view.row.version)?;
    let changes = changes_from(cmd, &view.row, facts.origin)?;
    Opportunity::update(conn, id, changes)?;
    changed(
        conn,
        actor,
        EventType::OpportunityUpdated,
        Some(&facts),
        id,
        json!({}),
    )
}

/// Turns an edit into column changes, keeping a partner-created
/// opportunity's revenue information complete.
fn changes_from(
    cmd: EditCommand,
    row: &Opportunity,
    origin: Origin,
) -> Result<OpportunityChanges, ApiError> {
    let money = cmd.estimated_revenue;
    if origin == Origin::Partner {
        let mut missing = Vec::new();
        if matches!(money, Some(None)) {
            missing.push(FieldError::new(
                "estimated_revenue",
                "partner-created opportunities keep their revenue",
            ));
        }
        if matches!(cmd.expected_close_date, Some(None)) {
            missing.push(FieldError::new(
                "expected_close_date",
                "partner-created opportunities keep their expected close date",
            ));
        }
        if !missing.is_empty() {
            return Err(ApiError::Validation(missing));
        }
    }
    let has_actual = row.actual_revenue.is_some();
    if has_actual
        && money
            .as_ref()
            .is_some_and(|m| m.as_ref().map(|m| m.currency()) != row.currency)
    {
        return Err(ApiError::validation(
            "estimated_revenue.currency",
            "cannot change the currency of a closed opportunity",
        ));
    }
    let contact = cmd.contact;
    let text = |v: Option<Option<String>>| v.map(trimmed);
    Ok(OpportunityChanges {
        topic: cmd.topic.map(|t| t.trim().to_owned()),
        contact_name: contact.as_ref().map(|c| Some(c.name.trim().to_owned())),
        contact_email: contact.as_ref().map(|c| trimmed(c.email.clone())),
        contact_phone: contact.as_ref().map(|c| trimmed(c.phone.clone())),
        contact_title: contact.as_ref().map(|c| trimmed(c.title.clone())),
        currency: money.as_ref().map(|m| m.as_ref().map(|m| m.currency())),
        estimated_revenue: money.map(|m| m.map(|m| m.amount().clone())),
        expected_close_date: cmd.expected_close_date,
        customer_situation: text(cmd.customer_situation),
        customer_need: text(cmd.customer_need),
        proposed_solution: text(cmd.proposed_solution),
        country: cmd
            .country
            .map(|c| c.map(|c| c.trim().to_ascii_uppercase())),
        industry: text(cmd.industry).map(|i| i.map(|i| i.to_lowercase())),
        product_lines: cmd
            .product_lines
            .as_deref()
            .map(|l| crate::service::labels(l, "product_lines"))
            .transpose()?,
        marketing_task_id: None,
    })
}

/// Records `kind` for whoever could see the opportunity before or after a
/// change, and returns it as the caller now meets it: one read serves both.
pub fn changed(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: EventType,
    before: Option<&OpportunityFacts>,
    id: OpportunityId,
    extra: serde_json::Value,
) -> Result<OpportunityRead, ApiError> {
    let view = store::find_view(conn, id)?.ok_or(ApiError::NotFound)?;
    let after = view.facts();
    events::opportunity_after(conn, kind, before, &view.row, &after, extra)?;
    read_as(view, actor)
}
