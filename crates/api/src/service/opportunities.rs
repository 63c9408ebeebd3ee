//! Opportunity use cases: create, read, list and edit, and the reads every
//! other use case on an opportunity starts from (locked, visible).

use prm_domain::error::one_per_field;
use prm_domain::events::EventType;
use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::{CustomerId, OpportunityId};
use prm_domain::lifecycle::{Field, authorize_edit, editable_fields};
use prm_domain::opportunity::{
    self as rules, Action, CreateRequest, OpportunityFacts, Origin, Visibility,
    contact_details_visible,
};
use prm_domain::values::labels;
use prm_domain::{Actor, FieldError};
use prm_store::PgConnection;
use prm_store::customers::Customer;
use prm_store::journal::Journal;
use prm_store::listing;
use prm_store::marketing::MarketingTask;
use prm_store::opportunities::{
    self as store, Details, DetailsEdit, NewEvent, NewOpportunity, Opportunity, OpportunityView,
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
    /// What this caller may change with an edit now: the list an edit is
    /// authorized by.
    pub editable: &'static [Field],
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
        editable: editable_fields(actor, &facts),
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

/// `If-Match` on an opportunity: a stale one is a 412 with the current
/// version and the fields changed since the version the client sent. Every
/// write on an opportunity that takes `If-Match` checks it here.
pub fn check_version(
    conn: &mut PgConnection,
    row: &Opportunity,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    if if_match.matches(row.version) {
        return Ok(());
    }
    Err(ApiError::VersionMismatch {
        current: row.version,
        changed_fields: Some(super::history::changed_since(
            conn,
            row.id,
            if_match.oldest(),
            row.version,
        )?),
    })
}

/// The opportunity as the caller may read it, or 404.
pub fn visible(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
) -> Result<OpportunityView, ApiError> {
    let view = store::find_view(conn, id, Some(actor.org_id))?.ok_or(ApiError::NotFound)?;
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

/// What the store's list statement is built from for this caller: its
/// visibility and identity, and the query with the orgs whose customer
/// names are masked for it (a masked name is never matched by `q`).
#[derive(Debug, Clone)]
pub struct ListScope {
    pub visibility: Visibility,
    pub me: listing::Me,
    pub query: ListQuery,
}

impl ListScope {
    pub fn new(actor: &Actor, mut query: ListQuery) -> Self {
        query.filter.q_masked_orgs = prm_domain::customer::masked_orgs(actor)
            .into_iter()
            .map(|o| o.0)
            .collect();
        Self {
            visibility: rules::visibility(actor),
            me: listing::Me {
                org: actor.org_id.0,
                user: actor.user_id.0,
            },
            query,
        }
    }

    /// The page the store reads.
    pub fn request(&self) -> listing::PageRequest<'_> {
        listing::PageRequest {
            visibility: &self.visibility,
            me: self.me,
            filter: &self.query.filter,
            sort: self.query.sort,
            after: self.query.after.as_ref(),
            limit: self.query.fetch,
        }
    }
}

/// What the caller may see, filtered and sorted.
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    query: ListQuery,
) -> Result<Vec<OpportunityRead>, ApiError> {
    let scope = ListScope::new(actor, query);
    super::map_rows(listing::list(conn, &scope.request())?, |v| {
        read_as(v, actor)
    })
}

/// A new opportunity. `input_errors` are what the edge already found wrong
/// with the request; they are reported with the rules' own in one 422. A
/// description without a country or an industry takes the customer's.
#[derive(Debug, Clone)]
pub struct NewOpportunityCommand {
    pub customer_id: CustomerId,
    pub details: Details,
    /// The creating org's own reference to it.
    pub external_ref: Option<ExternalRef>,
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
    let revenue_given = cmd.details.estimated_revenue.is_some()
        || errors
            .iter()
            .any(|e| e.field.starts_with("estimated_revenue"));
    let decided = rules::decide_create(
        actor,
        &CreateRequest {
            customer_org_id: customer.as_ref().map(|c| c.org_id),
            has_estimated_revenue: revenue_given,
            has_expected_close_date: cmd.details.expected_close_date.is_some(),
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
    if let Some(task) = cmd.details.marketing_task_id
        && MarketingTask::find(conn, task)?.is_none()
    {
        errors.push(FieldError::new(
            "marketing_task_id",
            "no such marketing task",
        ));
    }
    let details = match normalized(cmd.details) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(one_per_field(errors)));
    }
    let (Some(creation), Some(customer), Some(mut details)) = (creation, customer, details) else {
        return Err(ApiError::validation("customer_id", "no such customer"));
    };
    if let Some(r) = &cmd.external_ref {
        super::external_refs::ensure_free(conn, actor, RefKind::Opportunity, r)?;
    }
    details.country = details.country.or(Some(customer.country));
    details.industry = details.industry.or(customer.industry);
    let new = NewOpportunity {
        id: OpportunityId::new(),
        customer_id: customer.id,
        origin: creation.origin,
        status: creation.status,
        owner_org_id: actor.org_id,
        owner_user_id: actor.user_id,
        created_by_user_id: actor.user_id,
        details,
    };
    // The reference is claimed first, so the insert's own read carries it.
    if let Some(r) = &cmd.external_ref {
        super::external_refs::claim(conn, actor, RefKind::Opportunity, new.id.0, r)?;
    }
    let view = Opportunity::insert(conn, new, Some(actor.org_id))?;
    let mut journal = Journal::new();
    journal.status_event(NewEvent {
        id: Uuid::now_v7(),
        opportunity_id: view.row.id,
        actor_user_id: Some(actor.user_id),
        action: "create",
        actor_org_id: Some(actor.org_id),
        partner_org_id: (creation.origin == Origin::Partner).then_some(actor.org_id),
        from_status: None,
        to_status: view.row.status,
        reason: None,
        changes: super::history::stored(&[]),
        reason_code: None,
    });
    announce(
        conn,
        journal,
        actor,
        EventType::OpportunityCreated,
        None,
        view,
        json!({}),
    )
}

/// The description as it is stored, by the same rules for a new one and
/// an edited one: text trimmed (blank optional text becomes none), the
/// country in upper case, the industry and the product lines in lower case.
fn normalized(d: Details) -> Result<Details, FieldError> {
    Ok(Details {
        topic: d.topic.trim().to_owned(),
        contact_name: d.contact_name.map(|n| n.trim().to_owned()),
        contact_email: trimmed(d.contact_email),
        contact_phone: trimmed(d.contact_phone),
        contact_title: trimmed(d.contact_title),
        customer_situation: trimmed(d.customer_situation),
        customer_need: trimmed(d.customer_need),
        proposed_solution: trimmed(d.proposed_solution),
        country: d.country.map(|c| c.trim().to_ascii_uppercase()),
        industry: trimmed(d.industry).map(|i| i.to_lowercase()),
        product_lines: labels(&d.product_lines).map_err(|e| FieldError::new("product_lines", e))?,
        ..d
    })
}

/// Edits an opportunity's description (vendor writers: any open one; the
/// creating partner's admin or owner while `pending_approval`; the primary
/// partner's admin or owner while `accepted`), authorized by the fields it
/// touches: each must be one of the caller's `editable_fields`, the list
/// every read of the opportunity carries. The edited description is
/// checked as a whole: a partner-created opportunity keeps its revenue
/// information, a closed one its currency.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    if_match: &IfMatch,
    edit: DetailsEdit,
) -> Result<OpportunityRead, ApiError> {
    let (view, facts) = locked(conn, id)?;
    let mut touched: Vec<Field> = edit
        .columns()
        .into_iter()
        .filter_map(super::history::field_of_column)
        .collect();
    touched.dedup();
    authorize_edit(actor, &facts, &touched)?;
    check_version(conn, &view.row, if_match)?;
    let before = &view.row.details;
    let mut details = before.clone();
    edit.apply(&mut details);
    let mut errors = Vec::new();
    if facts.origin == Origin::Partner {
        if details.estimated_revenue.is_none() {
            errors.push(FieldError::new(
                "estimated_revenue",
                "partner-created opportunities keep their revenue",
            ));
        }
        if details.expected_close_date.is_none() {
            errors.push(FieldError::new(
                "expected_close_date",
                "partner-created opportunities keep their expected close date",
            ));
        }
    }
    if view.row.actual_revenue.is_some() && details.currency != before.currency {
        errors.push(FieldError::new(
            "estimated_revenue.currency",
            "cannot change the currency of a closed opportunity",
        ));
    }
    let details = match normalized(details) {
        Ok(d) if errors.is_empty() => d,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(e) => {
            errors.push(e);
            return Err(ApiError::Validation(errors));
        }
    };
    let mut journal = Journal::new();
    let changes = super::history::record(&mut journal, actor, id, &facts, before, &details);
    let after = Opportunity::update(conn, id, details, Some(actor.org_id))?;
    super::history::record_version(&mut journal, &view, &after);
    // One event for every org of its audience: contact details are
    // withheld while any of them may not see them.
    let seen = super::history::as_seen(
        &changes,
        prm_domain::opportunity::contact_details_visible_to_partners(&facts),
    );
    announce(
        conn,
        journal,
        actor,
        EventType::OpportunityUpdated,
        Some(&facts),
        after,
        json!({ "changes": seen }),
    )
}

/// Records `kind` for whoever could see the opportunity before or after a
/// change, with what the change's `journal` holds, and returns the
/// opportunity as the caller now meets it: the read the change's own
/// statement returned serves both.
pub fn announce(
    conn: &mut PgConnection,
    journal: Journal,
    actor: &Actor,
    kind: EventType,
    before: Option<&OpportunityFacts>,
    view: OpportunityView,
    extra: serde_json::Value,
) -> Result<OpportunityRead, ApiError> {
    let after = view.facts();
    events::opportunity_after(conn, journal, kind, before, &view.row, &after, extra)?;
    read_as(view, actor)
}
