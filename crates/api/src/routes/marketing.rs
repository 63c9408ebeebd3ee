//! `/marketing-tasks`: vendor campaigns that opportunities come from.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use prm_domain::Actor;
use prm_store::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::FullDate;
use crate::dto::{not_blank, valid_labels};
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::pagination::{Page, decode_cursor, fetch_size, into_page};
use crate::routes::csv::{self, ListFormat};
use crate::routes::{created, single};
use crate::service::marketing::{self, TaskRead};
use crate::state::AppState;

/// A vendor campaign aimed at partners.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MarketingTask, example = json!({"id": "0193a2cc-8888-7cc3-9d5e-5b3c2a1f0e9d", "name": "Q1 cloud migration push",
    "description": "Partners who migrate retail customers", "product_lines": ["cloud"],
    "starts_on": "2027-01-01", "ends_on": "2027-03-31", "opportunity_count": 4, "version": 1,
    "created_at": "2026-11-01T08:00:00Z", "updated_at": "2026-11-01T08:00:00Z"}))]
pub struct MarketingTaskDto {
    pub id: Uuid,
    #[schema(example = "Q1 cloud migration push")]
    pub name: String,
    pub description: Option<String>,
    pub product_lines: Vec<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// Opportunities created from this task that the caller may see.
    pub opportunity_count: i64,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn dto(read: TaskRead) -> MarketingTaskDto {
    let TaskRead {
        task: t,
        opportunity_count,
    } = read;
    MarketingTaskDto {
        id: t.id,
        name: t.name,
        description: t.description,
        product_lines: t.product_lines,
        starts_on: t.starts_on,
        ends_on: t.ends_on,
        opportunity_count,
        version: t.version,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Q1 cloud migration push", "description": "Partners who migrate retail customers",
    "product_lines": ["cloud"], "starts_on": "2027-01-01", "ends_on": "2027-03-31"}))]
pub struct CreateMarketingTask {
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    #[validate(length(max = 20), custom(function = "valid_labels"))]
    #[schema(max_items = 20)]
    pub product_lines: Option<Vec<String>>,
    #[schema(value_type = Option<NaiveDate>)]
    pub starts_on: Option<FullDate>,
    /// On or after `starts_on`.
    #[schema(value_type = Option<NaiveDate>)]
    pub ends_on: Option<FullDate>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
}

/// Create a marketing task (vendor writers).
#[utoipa::path(
    operation_id = "create_marketing_task",tag = "marketing-tasks", request_body = CreateMarketingTask,
    responses((status = 201, body = MarketingTaskDto, headers(("ETag" = String), ("Location" = String)))))]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateMarketingTask>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let command = marketing::NewTaskCommand {
        name: body.name,
        description: body.description,
        product_lines: body.product_lines.unwrap_or_default(),
        starts_on: body.starts_on.map(Into::into),
        ends_on: body.ends_on.map(Into::into),
    };
    let task = dto(state
        .run(caller, move |conn, actor| {
            marketing::create(conn, actor, command)
        })
        .await?);
    Ok(created(
        format!("/api/v1/marketing-tasks/{}", task.id),
        task.version,
        &task,
    ))
}

/// Marketing tasks (every user may read them).
#[utoipa::path(
    operation_id = "list_marketing_tasks",tag = "marketing-tasks", params(TaskListParams), responses((status = 200, body = Page<MarketingTaskDto>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<TaskListParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_cursor(cursor)?;
        let rows = marketing::list(conn, actor, after, fetch_size(Some(limit)))?;
        into_page(
            rows,
            Some(limit),
            |r| r.task.id,
            |r| Ok::<_, ApiError>(dto(r)),
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "marketing-tasks",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

/// One marketing task, with how many opportunities it produced.
#[utoipa::path(
    operation_id = "get_marketing_task",tag = "marketing-tasks", params(("id" = Uuid, Path)), responses((status = 200, body = MarketingTaskDto, headers(("ETag" = String)))))]
#[get("/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let task = state
        .run(caller, move |conn, actor| marketing::get(conn, actor, id))
        .await?;
    let task = dto(task);
    Ok(single(StatusCode::OK, task.version, &task))
}
