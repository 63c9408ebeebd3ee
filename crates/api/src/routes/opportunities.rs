//! `/opportunities`: create, read, list and edit sales opportunities.

use std::mem::take;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::Actor;
use prm_domain::FieldError;
use prm_domain::external_ref::ExternalRef;
use prm_domain::ids::OpportunityId;
use prm_domain::opportunity::{Phase, Status};
use prm_domain::values::{CurrencyCode, Money};
use prm_store::listing;
use prm_store::opportunities::{Details, DetailsEdit, Opportunity};
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::FullDate;
use crate::dto::{
    ActionDto, FieldDto, MoneyDto, OriginDto, PhaseDto, ReasonCodeDto, StatusDto, double_option,
    not_blank, valid_country, valid_email, valid_external_ref, valid_labels,
};
use crate::error::ApiError;
use crate::extract::{IfMatch, JsonBody, JsonChecked, QueryParams};
use crate::pagination::{
    DEFAULT_LIMIT, Page, decode_token, encode_token, fetch_size, into_page_keyed,
};
use crate::routes::JsonBytes;
use crate::routes::csv::{self, ListFormat};
use crate::routes::customers::{ExternalRefBody, parse_ref};
use crate::service::external_refs;
use crate::service::opportunities::{self as service, OpportunityRead};
use crate::state::AppState;

crate::json_struct! {
    /// The customer an opportunity is for.
    #[derive(Debug, Serialize, ToSchema)]
    pub struct CustomerRef {
        pub id: Uuid,
        /// Masked (`F••••••• G•••`) when `name_masked` is true.
        #[schema(example = "Fabrikam GmbH")]
        pub name: String,
        /// The name is masked: the customer is held by another org the caller
        /// acts for (a distributor's reseller). `GET /customers/{id}?reveal=true`
        /// shows it, and the reveal is recorded.
        pub name_masked: bool,
    }
}

crate::json_struct! {
    /// The customer's contact person. While an opportunity is only `delivered`,
    /// partners get `email` and `phone` as `null` until they accept.
    #[derive(Debug, Serialize, ToSchema)]
    #[schema(as = Contact)]
    pub struct ContactDto {
        #[schema(example = "Jo Park")]
        pub name: Option<String>,
        #[schema(example = "jo@fabrikam.example")]
        pub email: Option<String>,
        #[schema(example = "+49 30 1234")]
        pub phone: Option<String>,
        #[schema(example = "CIO")]
        pub title: Option<String>,
    }
}

crate::json_struct! {
    /// A sales opportunity as the caller may see it.
    #[derive(Debug, Serialize, ToSchema)]
    #[schema(as = Opportunity, example = json!({"id": "0193a2c7-3333-7cc3-9d5e-5b3c2a1f0e9d", "reference": "OPP-000123",
        "external_ref": "0061t00000ABCdeAAA",
        "topic": "Cloud migration for Fabrikam", "status": "accepted", "origin": "vendor",
        "customer": {"id": "0193a2c6-2222-7cc3-9d5e-5b3c2a1f0e9d", "name": "Fabrikam GmbH", "name_masked": false},
        "contact": {"name": "Jo Park", "email": "jo@fabrikam.example", "phone": "+49 30 1234", "title": "CIO"},
        "estimated_revenue": {"amount": "120000.00", "currency": "EUR"}, "expected_close_date": "2027-03-31",
        "customer_situation": "On-premises data centre", "customer_need": "Move to cloud",
        "proposed_solution": "Managed migration", "country": "DE", "industry": "retail",
        "product_lines": ["cloud"], "marketing_task_id": null,
        "owner_org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "owner_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d",
        "primary_partner_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "collaborator_ids": [],
        "pipeline_phase": "propose", "win_probability": 60, "accept_by": null, "expires_on": "2027-02-19",
        "extension_count": 0, "close_reason": null, "close_reason_code": null, "actual_revenue": null, "version": 5,
        "created_at": "2026-11-10T08:00:00Z", "updated_at": "2026-11-20T16:30:00Z",
        "allowed_actions": ["edit", "return", "close", "extend", "assign_owner", "add_note", "add_progress"],
        "editable_fields": ["topic", "contact", "estimated_revenue", "expected_close_date",
            "customer_situation", "customer_need", "proposed_solution", "country", "industry",
            "product_lines"]}))]
    pub struct OpportunityDto {
        pub id: Uuid,
        /// Human reference.
        #[schema(example = "OPP-000123")]
        pub reference: String,
        /// The caller's org's own reference to it (its CRM's id), set on
        /// create or with `PUT …/external-ref`; no other org sees it.
        #[schema(example = "0061t00000ABCdeAAA", max_length = 200)]
        pub external_ref: Option<String>,
        #[schema(example = "Cloud migration for Fabrikam")]
        pub topic: String,
        pub status: StatusDto,
        pub origin: OriginDto,
        pub customer: CustomerRef,
        pub contact: ContactDto,
        pub estimated_revenue: Option<MoneyDto>,
        pub expected_close_date: Option<NaiveDate>,
        pub customer_situation: Option<String>,
        pub customer_need: Option<String>,
        pub proposed_solution: Option<String>,
        #[schema(example = "DE")]
        pub country: Option<String>,
        #[schema(example = "retail")]
        pub industry: Option<String>,
        #[schema(example = json!(["cloud"]))]
        pub product_lines: Vec<String>,
        pub marketing_task_id: Option<Uuid>,
        pub owner_org_id: Uuid,
        pub owner_user_id: Uuid,
        pub primary_partner_id: Option<Uuid>,
        pub collaborator_ids: Vec<Uuid>,
        pub pipeline_phase: Option<PhaseDto>,
        #[schema(minimum = 0, maximum = 100)]
        pub win_probability: Option<i16>,
        /// Deadline to accept or decline while `delivered`.
        pub accept_by: Option<DateTime<Utc>>,
        pub expires_on: Option<NaiveDate>,
        pub extension_count: i32,
        /// The close's reason text (a win's is optional).
        pub close_reason: Option<String>,
        /// A loss's reason code from the policy's list; `null` otherwise.
        pub close_reason_code: Option<ReasonCodeDto>,
        pub actual_revenue: Option<MoneyDto>,
        pub version: i32,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
        /// Exactly what the caller may do to this opportunity now.
        pub allowed_actions: Vec<ActionDto>,
        /// The fields the caller may change with `PATCH` now (empty when it
        /// may not edit it); a `PATCH` touching any other is refused.
        pub editable_fields: Vec<FieldDto>,
    }
}

/// An opportunity as a single resource, with its `ETag`.
pub fn opportunity_response(status: StatusCode, dto: &OpportunityDto) -> HttpResponse {
    JsonBytes::written(dto, ITEM_JSON_BYTES).single(status, dto.version)
}

fn stored_money(amount: Option<BigDecimal>, currency: Option<CurrencyCode>) -> Option<MoneyDto> {
    Some(MoneyDto::from_money(&Money::from_parts(amount?, currency?)))
}

/// About what one opportunity takes as JSON, to size a buffer once.
const ITEM_JSON_BYTES: usize = 1280;

/// What one opportunity took as JSON in the last page written, an eighth
/// more, within [`ITEM_JSON_BYTES`] and 16 KiB: the next page's buffer is
/// sized from it. A page that outgrows its buffer is copied whole into one
/// twice the size; the bench's 50-row page (about 1,380 bytes an item)
/// outgrew a fixed 1,280 on every call (docs/performance.md).
static PAGE_ITEM_JSON_BYTES: AtomicUsize = AtomicUsize::new(ITEM_JSON_BYTES);

/// A page of opportunities as JSON, in a buffer sized by the last page's.
fn page_json(page: &Page<OpportunityDto>) -> JsonBytes {
    let items = page.items.len();
    let json = JsonBytes::written(
        page,
        64 + items * PAGE_ITEM_JSON_BYTES.load(Ordering::Relaxed),
    );
    if let Some(mean) = json.0.len().checked_div(items) {
        PAGE_ITEM_JSON_BYTES.store(
            (mean + mean / 8).clamp(ITEM_JSON_BYTES, 16 * 1024),
            Ordering::Relaxed,
        );
    }
    json
}

impl OpportunityDto {
    /// The response for the caller the read was made for: contact details
    /// and a masked customer name as the rules decided, `allowed_actions`
    /// from the same rules that authorize.
    pub fn from_read(r: OpportunityRead) -> Result<Self, ApiError> {
        let OpportunityRead {
            view,
            facts,
            allowed,
            editable,
            contact_visible,
            name_masked,
        } = r;
        let o = view.row;
        let d = o.details;
        Ok(OpportunityDto {
            id: o.id.into(),
            reference: prm_domain::opportunity::reference(o.reference_no),
            external_ref: view.external_ref,
            status: facts.status.into(),
            origin: facts.origin.into(),
            customer: CustomerRef {
                id: o.customer_id.into(),
                name: if name_masked {
                    prm_domain::customer::mask_name(&view.customer_name)
                } else {
                    view.customer_name
                },
                name_masked,
            },
            topic: d.topic,
            contact: ContactDto {
                name: d.contact_name,
                email: d.contact_email.filter(|_| contact_visible),
                phone: d.contact_phone.filter(|_| contact_visible),
                title: d.contact_title,
            },
            estimated_revenue: stored_money(d.estimated_revenue, d.currency),
            actual_revenue: stored_money(o.actual_revenue, d.currency),
            expected_close_date: d.expected_close_date,
            customer_situation: d.customer_situation,
            customer_need: d.customer_need,
            proposed_solution: d.proposed_solution,
            country: d.country,
            industry: d.industry,
            product_lines: d.product_lines,
            marketing_task_id: d.marketing_task_id,
            owner_org_id: o.owner_org_id.into(),
            owner_user_id: o.owner_user_id.into(),
            primary_partner_id: o.primary_partner_id.map(Into::into),
            collaborator_ids: view.collaborator_ids.into_iter().map(Into::into).collect(),
            pipeline_phase: o.pipeline_phase.map(PhaseDto::from),
            win_probability: o.win_probability,
            accept_by: o.accept_by,
            expires_on: o.expires_on,
            extension_count: o.extension_count,
            close_reason: o.close_reason,
            close_reason_code: o.close_reason_code.map(ReasonCodeDto::from),
            version: o.version,
            created_at: o.created_at,
            updated_at: o.updated_at,
            allowed_actions: allowed.into_iter().map(ActionDto::from).collect(),
            editable_fields: editable.iter().copied().map(FieldDto::from).collect(),
        })
    }
}

/// An opportunity read as the single resource of a response, with its `ETag`.
pub fn read_response(status: StatusCode, read: OpportunityRead) -> Result<HttpResponse, ApiError> {
    Ok(opportunity_response(
        status,
        &OpportunityDto::from_read(read)?,
    ))
}

/// Money of a request, or its field errors.
fn money_in(m: Option<&MoneyDto>, field: &str, errors: &mut Vec<FieldError>) -> Option<Money> {
    match m.map(|m| m.parse(field)).transpose() {
        Ok(v) => v,
        Err(ApiError::Validation(found)) => {
            errors.extend(found);
            None
        }
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    }
}

/// Declares an opportunity's create and edit bodies with the description's
/// plain fields written once, in four groups that say how each is edited:
/// `required` (the create must give it; an edit may change it, not clear
/// it), `clearable` (optional; an edit's `null` clears it), `list` (optional,
/// absent is empty; an edit replaces it, `[]` empties it, `null` is refused)
/// and `create_only`. Each becomes a field of
/// both bodies with its attributes (after `required`, the body's own fields,
/// as written), and `take_details` / `take_edit` carry them into the store's
/// [`Details`] / [`DetailsEdit`].
macro_rules! opportunity_bodies {
    (
        $(#[$create_meta:meta])*
        pub struct $create:ident { $($create_own:tt)* }
        $(#[$edit_meta:meta])*
        pub struct $edit:ident { $($edit_own:tt)* }
        required { $( $(#[$rm:meta])* $rf:ident: $rty:ty, )* }
        clearable { $( $(#[$om:meta])* $of:ident: $oty:ty, )* }
        list { $( $(#[$lm:meta])* $lf:ident: $lty:ty, )* }
        create_only { $( $(#[$xm:meta])* $xf:ident: $xty:ty, )* }
    ) => {
        $(#[$create_meta])*
        pub struct $create {
            $( $(#[$rm])* pub $rf: $rty, )*
            $($create_own)*
            $( $(#[$om])* pub $of: Option<$oty>, )*
            $( $(#[$lm])* pub $lf: Option<$lty>, )*
            $( $(#[$xm])* pub $xf: Option<$xty>, )*
        }

        $(#[$edit_meta])*
        pub struct $edit {
            $( $(#[$rm])* #[schema(nullable = false)] pub $rf: Option<$rty>, )*
            $($edit_own)*
            $(
                $(#[$om])*
                #[serde(default, deserialize_with = "double_option")]
                pub $of: Option<Option<$oty>>,
            )*
            $( $(#[$lm])* #[schema(nullable = false)] pub $lf: Option<$lty>, )*
        }

        impl $create {
            /// Takes the description out of the body, leaving its own fields.
            fn take_details(&mut self) -> Details {
                Details {
                    $( $rf: take(&mut self.$rf).into(), )*
                    $( $of: take(&mut self.$of).map(Into::into), )*
                    $( $lf: take(&mut self.$lf).unwrap_or_default(), )*
                    $( $xf: take(&mut self.$xf).map(Into::into), )*
                    ..Details::default()
                }
            }
        }

        impl $edit {
            /// Takes the change to the description out of the body, leaving
            /// its own fields.
            fn take_edit(&mut self) -> DetailsEdit {
                DetailsEdit {
                    $( $rf: take(&mut self.$rf).map(Into::into), )*
                    $( $of: take(&mut self.$of).map(|v| v.map(Into::into)), )*
                    $( $lf: take(&mut self.$lf), )*
                    ..DetailsEdit::default()
                }
            }
        }
    };
}

/// The customer's contact person.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200, example = "Jo Park")]
    pub name: String,
    #[validate(length(max = 254), custom(function = "valid_email"))]
    #[schema(max_length = 254, format = "email", example = "jo@fabrikam.example")]
    pub email: Option<String>,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50, example = "+49 30 1234")]
    pub phone: Option<String>,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100, example = "CIO")]
    pub title: Option<String>,
}

opportunity_bodies! {
    /// A new opportunity. Vendor writers create `draft`s; partner admins and
    /// account managers create `pending_approval` ones and must give
    /// `estimated_revenue` and `expected_close_date`.
    #[derive(Debug, Deserialize, Validate, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(example = json!({"topic": "Cloud migration for Fabrikam",
        "customer_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
        "contact": {"name": "Jo Park", "email": "jo@fabrikam.example", "phone": "+49 30 1234"},
        "estimated_revenue": {"amount": "120000.00", "currency": "EUR"},
        "expected_close_date": "2027-03-31", "customer_situation": "On-premises data centre",
        "customer_need": "Move to cloud", "proposed_solution": "Managed migration",
        "country": "DE", "industry": "retail", "product_lines": ["cloud"]}))]
    pub struct CreateOpportunity {
        /// A customer the caller may see (a partner: its org's, a distributor's
        /// also its resellers').
        pub customer_id: Uuid,
        #[validate(nested)]
        pub contact: Option<ContactInput>,
        #[validate(nested)]
        pub estimated_revenue: Option<MoneyDto>,
        /// The caller's org's own reference (its CRM's id): unique per org
        /// among opportunities; a second create with it is a 409
        /// `external_ref_exists` naming the first (`existing_id`).
        #[validate(custom(function = "valid_external_ref"))]
        #[schema(min_length = 1, max_length = 200, example = "0061t00000ABCdeAAA")]
        pub external_ref: Option<String>,
    }

    /// Field changes. Absent fields stay as they are; `null` clears exactly the
    /// fields documented as nullable (`[]` empties `product_lines`). A
    /// partner-created opportunity keeps its revenue and close date.
    #[derive(Debug, Deserialize, Validate, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(example = json!({"topic": "Cloud migration, phase 1",
        "estimated_revenue": {"amount": "95000.00", "currency": "EUR"}}))]
    pub struct UpdateOpportunity {
        /// Replaces the whole contact; `null` clears it (all four fields).
        #[validate(nested)]
        #[serde(default, deserialize_with = "double_option")]
        #[schema(value_type = Option<ContactInput>)]
        pub contact: Option<Option<ContactInput>>,
        #[serde(default, deserialize_with = "double_option")]
        #[schema(value_type = Option<MoneyDto>)]
        pub estimated_revenue: Option<Option<MoneyDto>>,
    }

    required {
        #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
        #[schema(min_length = 1, max_length = 200)]
        topic: String,
    }
    clearable {
        #[schema(value_type = Option<NaiveDate>)]
        expected_close_date: FullDate,
        #[validate(length(max = 4000))]
        #[schema(value_type = Option<String>, max_length = 4000)]
        customer_situation: String,
        #[validate(length(max = 4000))]
        #[schema(value_type = Option<String>, max_length = 4000)]
        customer_need: String,
        #[validate(length(max = 4000))]
        #[schema(value_type = Option<String>, max_length = 4000)]
        proposed_solution: String,
        /// ISO 3166-1 alpha-2; a create without it takes the customer's.
        #[validate(custom(function = "valid_country"))]
        #[schema(value_type = Option<String>, min_length = 2, max_length = 2, pattern = "^[A-Za-z]{2}$")]
        country: String,
        #[validate(length(min = 1, max = 64))]
        #[schema(value_type = Option<String>, min_length = 1, max_length = 64)]
        industry: String,
    }
    list {
        #[validate(length(max = 20), custom(function = "valid_labels"))]
        #[schema(max_items = 20)]
        product_lines: Vec<String>,
    }
    create_only {
        /// The marketing task this opportunity came from.
        marketing_task_id: Uuid,
    }
}

impl ContactInput {
    /// The contact's columns: name, e-mail, phone and title.
    fn columns(self) -> [Option<String>; 4] {
        [Some(self.name), self.email, self.phone, self.title]
    }
}

impl CreateOpportunity {
    /// The use case's command; what failed validation travels with it.
    pub fn command(mut self, mut input_errors: Vec<FieldError>) -> service::NewOpportunityCommand {
        let mut details = self.take_details();
        if let Some(contact) = self.contact {
            [
                details.contact_name,
                details.contact_email,
                details.contact_phone,
                details.contact_title,
            ] = contact.columns();
        }
        details.set_estimated_money(money_in(
            self.estimated_revenue.as_ref(),
            "estimated_revenue",
            &mut input_errors,
        ));
        let external_ref = self
            .external_ref
            .map(|r| r.parse::<ExternalRef>())
            .transpose()
            .unwrap_or_else(|e| {
                input_errors.push(FieldError::new("external_ref", e));
                None
            });
        service::NewOpportunityCommand {
            customer_id: self.customer_id.into(),
            details,
            external_ref,
            input_errors,
        }
    }
}

impl UpdateOpportunity {
    fn command(mut self) -> Result<DetailsEdit, ApiError> {
        let mut edit = self.take_edit();
        if let Some(contact) = self.contact {
            [
                edit.contact_name,
                edit.contact_email,
                edit.contact_phone,
                edit.contact_title,
            ] = contact
                .map_or_else(Default::default, ContactInput::columns)
                .map(Some);
        }
        if let Some(money) = self.estimated_revenue {
            edit.set_estimated_money(money.map(|m| m.parse("estimated_revenue")).transpose()?);
        }
        Ok(edit)
    }
}

/// Which of the caller's opportunities to list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListView {
    /// Offered to my org and awaiting its answer (`delivered`).
    Distributed,
    /// Accepted by my org, which is the primary partner (`accepted`).
    Managed,
    /// My org collaborates on it.
    Collaborating,
    /// I own it.
    Mine,
}

/// List order; `-` means descending. Ties are broken by id.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
pub enum ListSort {
    #[default]
    #[serde(rename = "-created_at")]
    CreatedDesc,
    #[serde(rename = "created_at")]
    CreatedAsc,
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    #[serde(rename = "updated_at")]
    UpdatedAsc,
    #[serde(rename = "expected_close_date")]
    CloseDateAsc,
    #[serde(rename = "-expected_close_date")]
    CloseDateDesc,
    #[serde(rename = "-estimated_revenue")]
    RevenueDesc,
    #[serde(rename = "estimated_revenue")]
    RevenueAsc,
}

impl ListSort {
    fn store(self) -> listing::Sort {
        match self {
            ListSort::CreatedDesc => listing::Sort::CreatedDesc,
            ListSort::CreatedAsc => listing::Sort::CreatedAsc,
            ListSort::UpdatedDesc => listing::Sort::UpdatedDesc,
            ListSort::UpdatedAsc => listing::Sort::UpdatedAsc,
            ListSort::CloseDateAsc => listing::Sort::CloseDateAsc,
            ListSort::CloseDateDesc => listing::Sort::CloseDateDesc,
            ListSort::RevenueDesc => listing::Sort::RevenueDesc,
            ListSort::RevenueAsc => listing::Sort::RevenueAsc,
        }
    }

    fn code(self) -> &'static str {
        match self {
            ListSort::CreatedDesc => "-created_at",
            ListSort::CreatedAsc => "created_at",
            ListSort::UpdatedDesc => "-updated_at",
            ListSort::UpdatedAsc => "updated_at",
            ListSort::CloseDateAsc => "expected_close_date",
            ListSort::CloseDateDesc => "-expected_close_date",
            ListSort::RevenueDesc => "-estimated_revenue",
            ListSort::RevenueAsc => "estimated_revenue",
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OpportunityListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same `sort`).
    #[param(max_length = 200)]
    pub cursor: Option<String>,
    /// Only these statuses, comma-separated: `status=delivered,accepted`.
    #[validate(length(max = 300))]
    #[param(
        value_type = Option<Vec<StatusDto>>,
        style = Form,
        explode = false,
        min_items = 1,
        max_items = 11,
        example = json!(["delivered", "accepted"])
    )]
    pub status: Option<String>,
    #[param(inline)]
    pub view: Option<ListView>,
    /// Primary partner.
    pub partner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub marketing_task_id: Option<Uuid>,
    #[param(inline)]
    pub phase: Option<PhaseDto>,
    /// Text search (case-insensitive) over topic and customer name, and the
    /// reference when the term is one (`OPP-000123`, `opp-123`). A customer
    /// name masked for the caller is not searched.
    #[validate(length(min = 1, max = 100))]
    #[param(min_length = 1, max_length = 100)]
    pub q: Option<String>,
    /// The one whose `external_ref` (the caller's org's own reference) is
    /// exactly this.
    #[param(min_length = 1, max_length = 200)]
    pub external_ref: Option<String>,
    /// Only those changed at or after this instant. Rows changed by a
    /// transaction that may still be overtaken by an older one (the oldest
    /// still open, and the last 200 ms) are held back until it ends, so a
    /// client polling with the largest `updated_at` it has seen misses no
    /// change.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only those closed (won or lost) at or after this instant.
    pub closed_since: Option<DateTime<Utc>>,
    /// Only those whose expiry date is on or before this day.
    #[param(value_type = Option<NaiveDate>)]
    pub expires_before: Option<FullDate>,
    #[param(inline)]
    pub sort: Option<ListSort>,
}

impl OpportunityListParams {
    fn filter(&self) -> Result<listing::Filter, ApiError> {
        let statuses = match &self.status {
            None => Vec::new(),
            Some(list) => status_list(list)?,
        };
        Ok(listing::Filter {
            statuses,
            view: self.view.map(|v| match v {
                ListView::Distributed => listing::View::Distributed,
                ListView::Managed => listing::View::Managed,
                ListView::Collaborating => listing::View::Collaborating,
                ListView::Mine => listing::View::Mine,
            }),
            partner_id: self.partner_id,
            customer_id: self.customer_id,
            phase: self.phase.map(|p| Phase::from(p).as_str().to_owned()),
            q_masked_orgs: Vec::new(),
            q: self
                .q
                .as_ref()
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
            updated_since: self.updated_since,
            closed_since: self.closed_since,
            marketing_task_id: self.marketing_task_id,
            expires_before: self.expires_before.map(Into::into),
            external_ref: parse_ref(self.external_ref.as_deref())?,
        })
    }
}

/// The statuses of a `status` filter as documented: a comma-separated list
/// of 1 to 11 known statuses (a repeated one counts once).
fn status_list(list: &str) -> Result<Vec<Status>, ApiError> {
    let mut statuses = Vec::new();
    for (i, s) in list.split(',').enumerate() {
        if i == StatusDto::ALL.len() {
            return Err(ApiError::validation(
                "status",
                format!("lists more than {} statuses", StatusDto::ALL.len()),
            ));
        }
        let status = s
            .trim()
            .parse::<Status>()
            .map_err(|e| ApiError::validation("status", e))?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// The cursor continuing after `o` in `sort` order.
fn list_cursor(sort: ListSort, o: &Opportunity) -> String {
    let key = match sort.store() {
        listing::Sort::CreatedDesc | listing::Sort::CreatedAsc => String::new(),
        listing::Sort::UpdatedDesc | listing::Sort::UpdatedAsc => o.updated_at.to_rfc3339(),
        listing::Sort::CloseDateAsc | listing::Sort::CloseDateDesc => {
            listing::close_date_key(o.details.expected_close_date).to_string()
        }
        listing::Sort::RevenueDesc | listing::Sort::RevenueAsc => {
            listing::revenue_key(o.details.estimated_revenue.as_ref()).to_plain_string()
        }
    };
    encode_token(&format!("{}|{key}|{}", sort.code(), o.id))
}

fn parse_list_cursor(
    sort: ListSort,
    cursor: Option<&str>,
) -> Result<Option<listing::After>, ApiError> {
    let Some(text) = decode_token(cursor)? else {
        return Ok(None);
    };
    let bad = || ApiError::validation("cursor", "is not a cursor of this list and sort");
    let mut parts = text.splitn(3, '|');
    let (Some(code), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if code != sort.code() {
        return Err(bad());
    }
    let id: Uuid = id.parse().map_err(|_| bad())?;
    let after = match sort.store() {
        listing::Sort::CreatedDesc | listing::Sort::CreatedAsc => listing::After::Id(id),
        listing::Sort::UpdatedDesc | listing::Sort::UpdatedAsc => listing::After::Time(
            DateTime::parse_from_rfc3339(key)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id,
        ),
        listing::Sort::CloseDateAsc | listing::Sort::CloseDateDesc => {
            listing::After::Date(key.parse().map_err(|_| bad())?, id)
        }
        listing::Sort::RevenueDesc | listing::Sort::RevenueAsc => {
            listing::After::Amount(key.parse().map_err(|_| bad())?, id)
        }
    };
    Ok(Some(after))
}

/// Create an opportunity: `draft` for vendor writers, `pending_approval`
/// for partners.
#[utoipa::path(
    tag = "opportunities",
    request_body = CreateOpportunity,
    responses((status = 201, description = "Created", body = OpportunityDto,
               headers(("ETag" = String), ("Location" = String))))
)]
#[post("")]
pub async fn create_opportunity(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonChecked<CreateOpportunity>,
) -> Result<HttpResponse, ApiError> {
    let command = body.0.command(body.1);
    let read = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| service::create(conn, actor, command))
        })
        .await?;
    let dto = OpportunityDto::from_read(read)?;
    Ok(JsonBytes::written(&dto, ITEM_JSON_BYTES)
        .created(format!("/api/v1/opportunities/{}", dto.id), dto.version))
}

/// List the opportunities the caller may see: filtered, sorted, paginated.
/// A list never holds an opportunity the caller could not `GET`.
#[utoipa::path(
    tag = "opportunities",
    params(OpportunityListParams),
    responses((status = 200, body = Page<OpportunityDto>))
)]
#[get("")]
pub async fn list_opportunities(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<OpportunityListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let sort = params.sort.unwrap_or_default();
    let filter = params.filter()?;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit: u32| {
        let rows = service::list(
            conn,
            actor,
            service::ListQuery {
                filter: filter.clone(),
                sort: sort.store(),
                after: parse_list_cursor(sort, cursor)?,
                fetch: fetch_size(Some(limit)),
            },
        )?;
        into_page_keyed(
            rows,
            Some(limit),
            |r| list_cursor(sort, &r.view.row),
            OpportunityDto::from_read,
        )
    };
    if format == ListFormat::Csv {
        return csv::stream(
            state,
            caller,
            "opportunities",
            params.cursor,
            Arc::new(page),
        )
        .await;
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let page = state
        .run(caller, move |conn, actor| {
            Ok(page_json(&page(
                conn,
                actor,
                params.cursor.as_deref(),
                limit,
            )?))
        })
        .await?;
    Ok(page.ok())
}

/// Get one opportunity.
#[utoipa::path(
    tag = "opportunities",
    params(("id" = Uuid, Path, description = "Opportunity id")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))))
)]
#[get("")]
pub async fn get_opportunity(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    let read = state
        .run(caller, move |conn, actor| service::get(conn, actor, id))
        .await?;
    read_response(StatusCode::OK, read)
}

/// Edit an opportunity's fields: those the opportunity's `editable_fields`
/// lists for the caller. Vendor writers: any open opportunity; the creating
/// partner's admin or owner: while `pending_approval`; the primary
/// partner's admin or owner: while `accepted`. Collaborators cannot. A
/// field the caller may not change is a 403 naming it.
#[utoipa::path(
    tag = "opportunities",
    params(("id" = Uuid, Path, description = "Opportunity id"),
           IfMatch),
    request_body = UpdateOpportunity,
    responses(
        (status = 200, body = OpportunityDto, headers(("ETag" = String))),
        (status = 409, description = "Not editable in its current status (`invalid_transition`, \
            with `current_status` and `allowed_actions`)",
         body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("")]
pub async fn update_opportunity(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<UpdateOpportunity>,
) -> Result<HttpResponse, ApiError> {
    let id = OpportunityId::from(id.into_inner());
    let command = body.0.command()?;
    let read = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| service::update(conn, actor, id, &if_match, command))
        })
        .await?;
    read_response(StatusCode::OK, read)
}

/// Set the caller's org's own reference to an opportunity it can see (its
/// CRM's id); it replaces the org's earlier one. Only the caller's org sees
/// it; it is not a change of the opportunity (no new version, no event).
#[utoipa::path(
    operation_id = "set_opportunity_external_ref",
    tag = "opportunities",
    params(("id" = Uuid, Path, description = "Opportunity id")),
    request_body = ExternalRefBody,
    responses(
        (status = 200, body = OpportunityDto, headers(("ETag" = String))),
        (status = 409, description = "The org's reference already names another opportunity \
            (`external_ref_exists`, with `existing_id`)",
         body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/external-ref")]
pub async fn set_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: JsonBody<ExternalRefBody>,
) -> Result<HttpResponse, ApiError> {
    let external_ref = parse_ref(Some(&body.0.external_ref))?;
    change_external_ref(state, caller, id.into_inner(), external_ref).await
}

/// Remove the caller's org's own reference to an opportunity.
#[utoipa::path(
    operation_id = "remove_opportunity_external_ref",
    tag = "opportunities",
    params(("id" = Uuid, Path, description = "Opportunity id")),
    responses((status = 200, body = OpportunityDto, headers(("ETag" = String))))
)]
#[delete("/external-ref")]
pub async fn remove_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    change_external_ref(state, caller, id.into_inner(), None).await
}

async fn change_external_ref(
    state: web::Data<AppState>,
    caller: Caller,
    id: Uuid,
    external_ref: Option<ExternalRef>,
) -> Result<HttpResponse, ApiError> {
    let read = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                external_refs::set_on_opportunity(conn, actor, id.into(), external_ref)
            })
        })
        .await?;
    read_response(StatusCode::OK, read)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::json::tests::written_as_serde_json;
    use crate::pagination::Page;

    fn dto(text: &str, full: bool) -> OpportunityDto {
        let some = |s: &str| full.then(|| s.to_owned());
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 23, 1, 50).unwrap();
        OpportunityDto {
            id: Uuid::now_v7(),
            reference: prm_domain::opportunity::reference(123),
            external_ref: some(text),
            topic: text.to_owned(),
            status: StatusDto::PendingApproval,
            origin: OriginDto::Partner,
            customer: CustomerRef {
                id: Uuid::now_v7(),
                name: text.to_owned(),
                name_masked: full,
            },
            contact: ContactDto {
                name: some(text),
                email: some("jo@fabrikam.example"),
                phone: some("+49 30 1234"),
                title: some(text),
            },
            estimated_revenue: full.then(|| MoneyDto {
                amount: "120000.00".into(),
                currency: "EUR".into(),
            }),
            expected_close_date: full.then(|| at.date_naive()),
            customer_situation: some(text),
            customer_need: some(text),
            proposed_solution: some(text),
            country: some("DE"),
            industry: some("retail"),
            product_lines: if full {
                vec![text.to_owned(), "cloud".into()]
            } else {
                vec![]
            },
            marketing_task_id: full.then(Uuid::now_v7),
            owner_org_id: Uuid::now_v7(),
            owner_user_id: Uuid::now_v7(),
            primary_partner_id: full.then(Uuid::now_v7),
            collaborator_ids: if full {
                vec![Uuid::now_v7(), Uuid::now_v7()]
            } else {
                vec![]
            },
            pipeline_phase: full.then_some(PhaseDto::Negotiate),
            win_probability: full.then_some(100),
            accept_by: full.then(|| at + chrono::Duration::microseconds(84_781)),
            expires_on: full.then(|| at.date_naive()),
            extension_count: if full { 2 } else { 0 },
            close_reason: some(text),
            close_reason_code: full.then(|| ReasonCodeDto(text.to_owned())),
            actual_revenue: full.then(|| MoneyDto {
                amount: "5".into(),
                currency: "JPY".into(),
            }),
            version: i32::MAX,
            created_at: at,
            updated_at: at + chrono::Duration::milliseconds(5),
            allowed_actions: if full {
                ActionDto::ALL.to_vec()
            } else {
                vec![]
            },
            editable_fields: if full { FieldDto::ALL.to_vec() } else { vec![] },
        }
    }

    #[test]
    fn opportunities_and_their_pages_write_what_serde_json_writes() {
        for text in ["Cloud migration", "", "\"quoted\" \\ tab\t ünïcödé ✓ \u{7}"] {
            for full in [true, false] {
                written_as_serde_json(&dto(text, full));
            }
        }
        written_as_serde_json(&Page {
            items: vec![dto("a", true), dto("b", false)],
            next_cursor: Some("abc".into()),
        });
        written_as_serde_json(&Page::<OpportunityDto> {
            items: vec![],
            next_cursor: None,
        });
    }

    /// A page as large as the last one written is written into the buffer
    /// it was given, not copied into a larger one; an empty page keeps the
    /// size it was sized by.
    #[test]
    fn a_pages_buffer_is_sized_by_the_last_page() {
        let long = "x".repeat(900);
        let page = |n: usize| Page {
            items: (0..n).map(|_| dto(&long, true)).collect(),
            next_cursor: Some("abc".into()),
        };
        let fifty = page(50);
        let first = page_json(&fifty);
        assert!(
            first.0.len() > 64 + 50 * 2 * ITEM_JSON_BYTES,
            "items over twice the default"
        );
        let second = page_json(&fifty);
        assert_eq!(second.0, first.0);
        assert_eq!(
            second.0.capacity(),
            64 + 50 * PAGE_ITEM_JSON_BYTES.load(Ordering::Relaxed),
            "written into the buffer it was given"
        );
        let mean = second.0.len() / 50;
        assert_eq!(
            PAGE_ITEM_JSON_BYTES.load(Ordering::Relaxed),
            mean + mean / 8
        );
        page_json(&page(0));
        assert_eq!(
            PAGE_ITEM_JSON_BYTES.load(Ordering::Relaxed),
            mean + mean / 8
        );
    }
}
