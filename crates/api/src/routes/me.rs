//! `/me`: who the caller is.

use actix_web::{HttpResponse, get, web};
use prm_store::orgs::Org;
use prm_store::users::User;
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
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let (user, org) = state
        .run(caller, |conn, actor| {
            let user = User::find(conn, actor.user_id)?.ok_or(ApiError::NotFound)?;
            let org = Org::find(conn, actor.org_id)?.ok_or(ApiError::NotFound)?;
            Ok((user, org))
        })
        .await?;
    Ok(HttpResponse::Ok().json(MeDto {
        user: UserDto::from_row(user)?,
        org: OrgDto::from_row(org)?,
    }))
}
