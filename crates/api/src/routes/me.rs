//! `/me`: who the caller is.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::orgs::OrgDto;
use crate::routes::users::UserDto;
use crate::state::AppState;

/// The caller: its user (with role) and its org.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeDto {
    pub user: UserDto,
    pub org: OrgDto,
}

/// The caller's user, role and org.
#[utoipa::path(tag = "me", responses((status = 200, body = MeDto)))]
#[get("")]
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let (user, org) = state.run(caller, crate::service::users::me).await?;
    Ok(HttpResponse::Ok().json(MeDto {
        user: UserDto::from_row(user)?,
        org: OrgDto::from_row(org)?,
    }))
}
