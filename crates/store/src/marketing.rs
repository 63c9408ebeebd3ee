//! Marketing tasks: vendor campaigns that opportunities may come from.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::marketing_tasks;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = marketing_tasks, check_for_backend(diesel::pg::Pg))]
pub struct MarketingTask {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub product_lines: Vec<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub created_by_user_id: Uuid,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = marketing_tasks, treat_none_as_default_value = false)]
pub struct NewMarketingTask {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub product_lines: Vec<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub created_by_user_id: Uuid,
}

impl MarketingTask {
    pub fn insert(conn: &mut PgConnection, new: &NewMarketingTask) -> QueryResult<MarketingTask> {
        diesel::insert_into(marketing_tasks::table)
            .values(new)
            .returning(MarketingTask::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<MarketingTask>> {
        marketing_tasks::table
            .find(id)
            .select(MarketingTask::as_select())
            .first(conn)
            .optional()
    }

    pub fn list(
        conn: &mut PgConnection,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<MarketingTask>> {
        let mut q = marketing_tasks::table
            .select(MarketingTask::as_select())
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(marketing_tasks::id.gt(after));
        }
        q.order(marketing_tasks::id.asc()).limit(limit).load(conn)
    }
}
