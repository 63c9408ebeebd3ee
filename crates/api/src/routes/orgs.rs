//! `/orgs`: partners, their assignment profiles and the reseller → distributor link.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_domain::org::OrgKind;
use prm_store::orgs::Org;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{OrgKindDto, TierDto, double_option, not_blank, valid_countries, valid_labels};
use crate::error::ApiError;
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::orgs;
use crate::state::AppState;

/// What automatic distribution knows about a partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentProfile {
    /// ISO 3166-1 alpha-2 codes the partner covers.
    #[schema(example = json!(["DE", "AT"]))]
    pub countries: Vec<String>,
    #[schema(example = json!(["retail"]))]
    pub industries: Vec<String>,
    #[schema(example = json!(["cloud"]))]
    pub product_lines: Vec<String>,
    pub tier: TierDto,
    /// Most open opportunities the partner holds at once.
    #[schema(example = 25)]
    pub capacity: i32,
    /// `false` while the partner has paused itself.
    pub accepting: bool,
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Org, example = json!({"id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "name": "Northwind Distribution",
    "kind": "distributor", "parent_id": null, "active": true,
    "profile": {"countries": ["AT", "DE"], "industries": ["retail"], "product_lines": ["cloud"],
                "tier": "gold", "capacity": 25, "accepting": true},
    "version": 3, "created_at": "2026-11-02T09:15:00Z", "updated_at": "2026-11-20T14:02:11Z"}))]
pub struct OrgDto {
    pub id: Uuid,
    #[schema(example = "Northwind Distribution")]
    pub name: String,
    pub kind: OrgKindDto,
    /// A reseller's distributor.
    pub parent_id: Option<Uuid>,
    /// `false`: the vendor switched the org off; its users are refused.
    pub active: bool,
    /// Partners only; `null` for the vendor.
    pub profile: Option<AssignmentProfile>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrgDto {
    pub fn from_row(o: Org) -> Result<Self, ApiError> {
        let kind = OrgKindDto::from(o.kind);
        let profile = if kind == OrgKindDto::Vendor {
            None
        } else {
            Some(AssignmentProfile {
                countries: o.countries,
                industries: o.industries,
                product_lines: o.product_lines,
                tier: o.tier.into(),
                capacity: o.capacity,
                accepting: o.accepting,
            })
        };
        Ok(Self {
            id: o.id.into(),
            name: o.name,
            kind,
            parent_id: o.parent_id.map(Into::into),
            active: o.active,
            profile,
            version: o.version,
            created_at: o.created_at,
            updated_at: o.updated_at,
        })
    }
}

/// Assignment profile fields; in a PATCH, absent fields stay as they are.
/// None can be cleared (`null` is refused); `[]` empties a list.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[validate(length(max = 250), custom(function = "valid_countries"))]
    #[schema(nullable = false, max_items = 250, example = json!(["DE", "AT"]))]
    pub countries: Option<Vec<String>>,
    #[validate(length(max = 50), custom(function = "valid_labels"))]
    #[schema(nullable = false, max_items = 50, example = json!(["retail"]))]
    pub industries: Option<Vec<String>>,
    #[validate(length(max = 50), custom(function = "valid_labels"))]
    #[schema(nullable = false, max_items = 50, example = json!(["cloud"]))]
    pub product_lines: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub tier: Option<TierDto>,
    #[validate(range(min = 0, max = 100000))]
    #[schema(nullable = false, minimum = 0, maximum = 100000, example = 25)]
    pub capacity: Option<i32>,
    #[schema(nullable = false)]
    pub accepting: Option<bool>,
}

impl ProfileInput {
    fn command(self) -> orgs::ProfileCommand {
        orgs::ProfileCommand {
            countries: self.countries,
            industries: self.industries,
            product_lines: self.product_lines,
            tier: self.tier.map(Into::into),
            capacity: self.capacity,
            accepting: self.accepting,
        }
    }
}

/// A new partner organization.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Northwind Distribution", "kind": "distributor",
    "profile": {"countries": ["DE", "AT"], "industries": ["retail"], "product_lines": ["cloud"],
                "tier": "gold", "capacity": 25, "accepting": true}}))]
pub struct CreateOrg {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `distributor` or `reseller`; the vendor exists once, from bootstrap.
    pub kind: OrgKindDto,
    /// A reseller's distributor.
    pub parent_id: Option<Uuid>,
    #[validate(nested)]
    pub profile: Option<ProfileInput>,
}

/// Changes to an org. Absent fields stay; `parent_id: null` removes the
/// link, the only field a `null` clears.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"profile": {"accepting": false}}))]
pub struct UpdateOrg {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    /// Vendor admin only: switch the org (and so its users) off or on.
    #[schema(nullable = false)]
    pub active: Option<bool>,
    #[validate(nested)]
    #[schema(nullable = false)]
    pub profile: Option<ProfileInput>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// Only orgs of this kind.
    pub kind: Option<OrgKindDto>,
}

/// Create a partner organization (vendor admin).
#[utoipa::path(
    tag = "orgs",
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Created", body = OrgDto,
         headers(("ETag" = String, description = "Version tag"), ("Location" = String))),
        (status = 409, description = "An org with this name exists", body = crate::error::Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("")]
pub async fn create_org(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateOrg>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let command = orgs::NewOrgCommand {
        name: body.name,
        kind: body.kind.into(),
        parent_id: body.parent_id.map(Into::into),
        profile: body.profile.map(ProfileInput::command),
    };
    let org = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| orgs::create(conn, actor, command))
        })
        .await?;
    // A new reseller changes its distributor's scope.
    state.actors.clear();
    let dto = OrgDto::from_row(org)?;
    Ok(created(
        format!("/api/v1/orgs/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// List the orgs the caller may see: all for vendor users; a partner's own
/// org and, for a distributor, its resellers.
#[utoipa::path(tag = "orgs", params(OrgListParams), responses((status = 200, body = Page<OrgDto>)))]
#[get("")]
pub async fn list_orgs(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<OrgListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let kind = params.kind.map(OrgKind::from);
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_cursor(cursor)?;
        let rows = orgs::list(conn, actor, kind, after, fetch_size(Some(limit)))?;
        into_page(rows, Some(limit), |o| o.id.0, OrgDto::from_row)
    };
    csv::answer(
        state,
        caller,
        format,
        "orgs",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// Get one org.
#[utoipa::path(
    tag = "orgs",
    params(("id" = Uuid, Path, description = "Org id")),
    responses((status = 200, body = OrgDto, headers(("ETag" = String))))
)]
#[get("/{id}")]
pub async fn get_org(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let org = state
        .run(caller, move |conn, actor| orgs::get(conn, actor, id))
        .await?;
    let dto = OrgDto::from_row(org)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}

/// Change an org: the vendor admin any field; a partner admin only its own
/// org's `profile.accepting` (pause or resume itself).
#[utoipa::path(
    tag = "orgs",
    params(("id" = Uuid, Path, description = "Org id"),
           IfMatch),
    request_body = UpdateOrg,
    responses((status = 200, body = OrgDto, headers(("ETag" = String))),
              (status = 409, description = "Name taken", body = crate::error::Problem,
               content_type = "application/problem+json"))
)]
#[patch("/{id}")]
pub async fn update_org(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<UpdateOrg>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let body = body.0;
    let command = orgs::EditOrgCommand {
        name: body.name,
        parent_id: body.parent_id.map(|p| p.map(Into::into)),
        active: body.active,
        profile: body.profile.map(ProfileInput::command),
    };
    let org = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| orgs::update(conn, actor, id, &if_match, command))
        })
        .await?;
    // Activity and parent links decide who may act for whom.
    state.actors.clear();
    let dto = OrgDto::from_row(org)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}
