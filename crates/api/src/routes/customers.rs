//! `/customers`: end-customer accounts held by orgs.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use prm_domain::customer::{self as rules, CustomerIdentity, ExistingCustomer, Registration};
use prm_domain::values::CountryCode;
use prm_store::Connection;
use prm_store::customers::{Customer, IdentityKeys, NewCustomer, lock_identity_checks};
use prm_store::orgs::Org;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{OrgKindDto, RegistrationDto, not_blank, valid_country};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::{created, single};
use crate::service::customers;
use crate::state::AppState;

/// An end-customer account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer, example = json!({"id": "0193a2c6-2222-7cc3-9d5e-5b3c2a1f0e9d", "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "name": "Fabrikam GmbH", "name_masked": false, "country": "DE", "industry": "retail", "tax_id": null,
    "web_domain": "fabrikam.example", "registration": "preregistered", "version": 1,
    "created_at": "2026-11-03T10:00:00Z", "updated_at": "2026-11-03T10:00:00Z"}))]
pub struct CustomerDto {
    pub id: Uuid,
    /// The org that holds this customer.
    pub org_id: Uuid,
    /// Masked (`F••••••• G•••`) when `name_masked` is true.
    #[schema(example = "Fabrikam GmbH")]
    pub name: String,
    /// The name is masked: the customer is held by another org the caller
    /// acts for (a distributor's reseller). Ask with `reveal=true` to see it;
    /// reveals are recorded.
    pub name_masked: bool,
    #[schema(example = "DE")]
    pub country: String,
    #[schema(example = "retail")]
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    #[schema(example = "fabrikam.example")]
    pub web_domain: Option<String>,
    pub registration: RegistrationDto,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CustomerDto {
    pub fn from_row(c: Customer) -> Result<Self, ApiError> {
        Self::shown(c, false)
    }

    /// With the name masked or not.
    pub fn shown(c: Customer, masked: bool) -> Result<Self, ApiError> {
        Ok(Self {
            registration: RegistrationDto::from_stored(&c.registration)?,
            id: c.id,
            org_id: c.org_id,
            name: if masked {
                rules::mask_name(&c.name)
            } else {
                c.name
            },
            name_masked: masked,
            country: c.country,
            industry: c.industry,
            tax_id: c.tax_id,
            web_domain: c.web_domain,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }
}

/// A new customer.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Fabrikam GmbH", "country": "DE", "industry": "retail",
    "registration": "preregistered"}))]
pub struct CreateCustomer {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// ISO 3166-1 alpha-2.
    #[validate(custom(function = "valid_country"))]
    #[schema(
        min_length = 2,
        max_length = 2,
        pattern = "^[A-Za-z]{2}$",
        example = "DE"
    )]
    pub country: String,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub industry: Option<String>,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub tax_id: Option<String>,
    #[validate(length(min = 3, max = 253))]
    #[schema(min_length = 3, max_length = 253, example = "fabrikam.example")]
    pub web_domain: Option<String>,
    /// Partners: `preregistered` (default). Vendor: `vendor_owned` for its own
    /// customers (default), `preregistered` or `associated` for a partner's.
    pub registration: Option<RegistrationDto>,
    /// The holding org; vendor only (partners hold their own customers).
    pub org_id: Option<Uuid>,
}

/// Which of a distributor's customer lists to show.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerScope {
    /// Customers the caller's own org holds.
    Mine,
    /// Customers the caller's resellers hold (distributors).
    Resellers,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// For partners: `mine` or `resellers`; both when absent.
    #[param(inline)]
    pub scope: Option<CustomerScope>,
    /// Vendor users: only this org's customers.
    pub org_id: Option<Uuid>,
    /// Show masked names in full; the reveal is recorded.
    pub reveal: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerGetParams {
    /// Show a masked name in full; the reveal is recorded.
    pub reveal: Option<bool>,
}

/// Register a customer.
#[utoipa::path(
    tag = "customers",
    request_body = CreateCustomer,
    responses(
        (status = 201, description = "Created", body = CustomerDto,
         headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The org already holds this customer \
            (`duplicate_customer`), or another partner is its associated holder \
            (`customer_already_associated`, naming the holder)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/customers")]
pub async fn create_customer(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateCustomer>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let customer = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| {
                let org_id = body.org_id.unwrap_or(actor.org_id.0);
                let visible = actor.is_vendor() || org_id == actor.org_id.0;
                let org = if visible {
                    Org::find(conn, org_id)?
                } else {
                    None
                };
                let org = org.ok_or_else(|| ApiError::validation("org_id", "no such org"))?;
                let kind = OrgKindDto::from_stored(&org.kind)?.into();
                let registration = rules::decide_registration(
                    actor,
                    (org_id.into(), kind),
                    body.registration.map(Into::into),
                )?;
                let country: CountryCode = body
                    .country
                    .parse()
                    .map_err(|e: String| ApiError::validation("country", e))?;
                let identity = CustomerIdentity::new(
                    &body.name,
                    country,
                    body.tax_id.as_deref(),
                    body.web_domain.as_deref(),
                );
                lock_identity_checks(conn)?;
                let existing = Customer::identity_candidates(
                    conn,
                    IdentityKeys {
                        name_key: &identity.name_key,
                        country: country.as_str(),
                        tax_id_key: identity.tax_id.as_deref(),
                        domain_key: identity.web_domain.as_deref(),
                    },
                )?
                .into_iter()
                .map(|(c, org_name)| existing_customer(c, org_name))
                .collect::<Result<Vec<_>, ApiError>>()?;
                rules::check_new_customer(org_id.into(), registration, &identity, &existing)?;
                let new = NewCustomer {
                    id: Uuid::now_v7(),
                    org_id,
                    name: body.name.trim().to_owned(),
                    name_key: identity.name_key.clone(),
                    country: country.to_string(),
                    industry: body.industry.map(|i| i.trim().to_lowercase()),
                    tax_id: body.tax_id.map(|t| t.trim().to_owned()),
                    tax_id_key: identity.tax_id.clone(),
                    web_domain: body.web_domain.map(|d| d.trim().to_owned()),
                    domain_key: identity.web_domain.clone(),
                    registration: registration.as_str().to_owned(),
                };
                Ok(Customer::insert(conn, &new)?)
            })
        })
        .await?;
    let dto = CustomerDto::from_row(customer)?;
    Ok(created(
        format!("/api/v1/customers/{}", dto.id),
        dto.version,
        &dto,
    ))
}

fn existing_customer(c: Customer, org_name: String) -> Result<ExistingCustomer, ApiError> {
    let country: CountryCode = c
        .country
        .parse()
        .map_err(|e: String| ApiError::Internal(format!("stored country: {e}")))?;
    let registration: Registration = RegistrationDto::from_stored(&c.registration)?.into();
    Ok(ExistingCustomer {
        id: c.id.into(),
        org_id: c.org_id.into(),
        org_name,
        registration,
        identity: CustomerIdentity {
            name_key: c.name_key,
            country,
            tax_id: c.tax_id_key,
            web_domain: c.domain_key,
        },
    })
}

/// List the customers the caller may see. Distributors choose `scope=mine`
/// or `scope=resellers`.
#[utoipa::path(tag = "customers", params(CustomerListParams), responses((status = 200, body = Page<CustomerDto>)))]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<CustomerListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let after = decode_cursor(params.cursor.as_deref())?;
    let rows = state
        .run(caller, move |conn, actor| {
            let scope: Option<Vec<Uuid>> = if actor.is_vendor() {
                params.org_id.map(|o| vec![o])
            } else {
                let orgs = match params.scope {
                    None => actor.org_scope(),
                    Some(CustomerScope::Mine) => vec![actor.org_id],
                    Some(CustomerScope::Resellers) => actor.reseller_ids.clone(),
                };
                let mut ids: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
                if let Some(only) = params.org_id {
                    ids.retain(|o| *o == only);
                }
                Some(ids)
            };
            let rows = Customer::list(conn, scope.as_deref(), after, fetch_size(params.limit))?;
            // Only the rows shown count as revealed, not the look-ahead row.
            let shown = usize::try_from(fetch_size(params.limit) - 1).unwrap_or(0);
            let (page_rows, extra) = split_at(rows, shown);
            let mut out =
                customers::present(conn, actor, page_rows, params.reveal.unwrap_or(false))?;
            out.extend(extra.into_iter().map(|c| (c, true)));
            Ok(out)
        })
        .await?;
    let page = into_page(
        rows,
        params.limit,
        |(c, _)| c.id,
        |(c, m)| CustomerDto::shown(c, m),
    )?;
    Ok(HttpResponse::Ok().json(page))
}

/// Get one customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id"), CustomerGetParams),
    responses((status = 200, body = CustomerDto, headers(("ETag" = String))))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<CustomerGetParams>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let params = params.0;
    let customer = state
        .run(caller, move |conn, actor| {
            let c = Customer::find(conn, id)?.ok_or(ApiError::NotFound)?;
            if !rules::can_view_customer(actor, c.org_id.into()) {
                return Err(ApiError::NotFound);
            }
            let mut shown =
                customers::present(conn, actor, vec![c], params.reveal.unwrap_or(false))?;
            shown
                .pop()
                .ok_or_else(|| ApiError::Internal("customer vanished".into()))
        })
        .await?;
    let dto = CustomerDto::shown(customer.0, customer.1)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}

fn split_at(mut rows: Vec<Customer>, at: usize) -> (Vec<Customer>, Vec<Customer>) {
    let rest = rows.split_off(at.min(rows.len()));
    (rows, rest)
}
