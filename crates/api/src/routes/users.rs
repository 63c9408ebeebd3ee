//! `/users`: the mapping from identity-provider subjects to orgs and roles.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_store::users::User;
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{RoleDto, not_blank, valid_email};
use crate::error::{ApiError, Problem};
use crate::extract::{IfMatch, JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::users;
use crate::state::AppState;

/// A user of the service, mapped from a JWT subject.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User, example = json!({"id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d", "subject": "auth0|ana",
    "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d", "role": "account_manager", "name": "Ana Silva",
    "email": "ana@contoso.example", "active": true, "version": 1,
    "created_at": "2026-11-02T09:20:00Z", "updated_at": "2026-11-02T09:20:00Z"}))]
pub struct UserDto {
    pub id: Uuid,
    /// The identity provider's `sub` for this user.
    #[schema(example = "auth0|5f7c8ec7c33c6c004bbafe82")]
    pub subject: String,
    pub org_id: Uuid,
    pub role: RoleDto,
    #[schema(example = "Ana Silva")]
    pub name: String,
    #[schema(example = "ana@contoso.example")]
    pub email: String,
    /// `false`: deactivated; the user's requests are refused.
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserDto {
    pub fn from_row(u: User) -> Result<Self, ApiError> {
        Ok(Self {
            role: u.role.into(),
            id: u.id.into(),
            subject: u.subject,
            org_id: u.org_id.into(),
            name: u.name,
            email: u.email,
            active: u.active,
            version: u.version,
            created_at: u.created_at,
            updated_at: u.updated_at,
        })
    }
}

/// A new user.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "auth0|ana", "org_id": "0193a2c4-7c1e-7cc3-9d5e-5b3c2a1f0e9d",
    "role": "account_manager", "name": "Ana Silva", "email": "ana@contoso.example"}))]
pub struct CreateUser {
    /// The JWT `sub` this user signs in with; unique.
    #[validate(length(min = 1, max = 255), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 255)]
    pub subject: String,
    pub org_id: Uuid,
    /// Must fit the org: vendor roles for the vendor, partner roles for partners.
    pub role: RoleDto,
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(max = 254), custom(function = "valid_email"))]
    #[schema(max_length = 254, format = "email")]
    pub email: String,
}

/// Changes to a user; absent fields stay as they are. None can be cleared
/// (`null` is refused).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct UpdateUser {
    #[schema(nullable = false)]
    pub role: Option<RoleDto>,
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[validate(length(max = 254), custom(function = "valid_email"))]
    #[schema(nullable = false, max_length = 254, format = "email")]
    pub email: Option<String>,
    /// `false` deactivates: the user's next request is refused.
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// Only users of this org (vendor users; partners always see their own org's).
    pub org_id: Option<Uuid>,
}

/// Create a user (vendor admin for any org; partner admin for its own org).
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserDto,
         headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The subject is already mapped", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("")]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let command = users::NewUserCommand {
        subject: body.subject,
        org_id: body.org_id.into(),
        role: body.role.into(),
        name: body.name,
        email: body.email,
    };
    let user = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| users::create(conn, actor, command))
        })
        .await?;
    let dto = UserDto::from_row(user)?;
    Ok(created(
        format!("/api/v1/users/{}", dto.id),
        dto.version,
        &dto,
    ))
}

/// List users: vendor users see all (optionally one org's); partner users see
/// their own org's.
#[utoipa::path(tag = "users", params(UserListParams), responses((status = 200, body = Page<UserDto>)))]
#[get("")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<UserListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let only = params.org_id.map(Into::into);
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_cursor(cursor)?;
        let rows = users::list(conn, actor, only, after, fetch_size(Some(limit)))?;
        into_page(rows, Some(limit), |u| u.id.0, UserDto::from_row)
    };
    csv::answer(
        state,
        caller,
        format,
        "users",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// Get one user.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = UserDto, headers(("ETag" = String))))
)]
#[get("/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let user = state
        .run(caller, move |conn, actor| users::get(conn, actor, id))
        .await?;
    let dto = UserDto::from_row(user)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}

/// Change a user: role, name, e-mail, or deactivate it (admins of its org).
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "User id"),
           IfMatch),
    request_body = UpdateUser,
    responses((status = 200, body = UserDto, headers(("ETag" = String))))
)]
#[patch("/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner().into();
    let body = body.0;
    let command = users::EditUserCommand {
        role: body.role.map(Into::into),
        name: body.name,
        email: body.email,
        active: body.active,
    };
    let user = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| users::update(conn, actor, id, &if_match, command))
        })
        .await?;
    // A changed role or a deactivation applies from the next request.
    state.actors.clear();
    let dto = UserDto::from_row(user)?;
    Ok(single(StatusCode::OK, dto.version, &dto))
}
