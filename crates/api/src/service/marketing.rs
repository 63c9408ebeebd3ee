//! Marketing-task use cases: vendor campaigns, each read with how many of
//! its opportunities the caller may see.

use chrono::NaiveDate;
use prm_domain::Actor;
use prm_domain::opportunity as opp_rules;
use prm_store::PgConnection;
use prm_store::listing::{self, Filter, Me};
use prm_store::marketing::{MarketingTask, NewMarketingTask};
use uuid::Uuid;

use crate::error::ApiError;

/// A task with the count of its opportunities the caller may see.
#[derive(Debug, Clone)]
pub struct TaskRead {
    pub task: MarketingTask,
    pub opportunity_count: i64,
}

fn read_as(
    conn: &mut PgConnection,
    actor: &Actor,
    task: MarketingTask,
) -> Result<TaskRead, ApiError> {
    let filter = Filter {
        marketing_task_id: Some(task.id),
        ..Filter::default()
    };
    let me = Me {
        org: actor.org_id.0,
        user: actor.user_id.0,
    };
    let opportunity_count = listing::count(conn, &opp_rules::visibility(actor), me, &filter)?;
    Ok(TaskRead {
        task,
        opportunity_count,
    })
}

/// A new campaign.
#[derive(Debug, Clone)]
pub struct NewTaskCommand {
    pub name: String,
    pub description: Option<String>,
    pub product_lines: Vec<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

/// Creates a marketing task (vendor writers).
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    cmd: NewTaskCommand,
) -> Result<TaskRead, ApiError> {
    actor.ensure_can_write()?;
    if !actor.role.is_vendor_writer() {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            detail: "only vendor writers create marketing tasks".into(),
        });
    }
    if let (Some(s), Some(e)) = (cmd.starts_on, cmd.ends_on)
        && e < s
    {
        return Err(ApiError::validation(
            "ends_on",
            "must be on or after starts_on",
        ));
    }
    let task = MarketingTask::insert(
        conn,
        &NewMarketingTask {
            id: Uuid::now_v7(),
            name: cmd.name.trim().to_owned(),
            description: cmd
                .description
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty()),
            product_lines: crate::service::labels(&cmd.product_lines, "product_lines")?,
            starts_on: cmd.starts_on,
            ends_on: cmd.ends_on,
            created_by_user_id: actor.user_id.0,
        },
    )?;
    read_as(conn, actor, task)
}

/// A page of tasks (every user may read them).
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<TaskRead>, ApiError> {
    MarketingTask::list(conn, after, fetch)?
        .into_iter()
        .map(|t| read_as(conn, actor, t))
        .collect()
}

/// One task, or 404.
pub fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<TaskRead, ApiError> {
    let task = MarketingTask::find(conn, id)?.ok_or(ApiError::NotFound)?;
    read_as(conn, actor, task)
}
