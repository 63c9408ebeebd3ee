//! Imports: the posted CSV with its progress, and the errors of its rows.
//! A worker claims a queued import (or one whose lease ran out) with a
//! lease, then runs it batch by batch; each batch's rows, their errors and
//! the progress they made commit in one transaction with the import's row
//! locked, so two workers never run one batch and a crash loses none.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::ids::{OrgId, UserId};
use prm_domain::import::{ImportKind, ImportStatus};
use uuid::Uuid;

use crate::schema::{import_errors, imports};
use crate::stored::Text;

/// An import without its body.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports, check_for_backend(diesel::pg::Pg))]
pub struct Import {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(deserialize_as = Uuid)]
    pub user_id: UserId,
    #[diesel(deserialize_as = Text<ImportKind>)]
    pub kind: ImportKind,
    #[diesel(deserialize_as = Text<ImportStatus>)]
    pub status: ImportStatus,
    pub rows: i32,
    pub processed: i32,
    pub created: i32,
    pub rejected: i32,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = imports, treat_none_as_default_value = false)]
pub struct NewImport<'a> {
    pub id: Uuid,
    #[diesel(serialize_as = Uuid)]
    pub org_id: OrgId,
    #[diesel(serialize_as = Uuid)]
    pub user_id: UserId,
    #[diesel(serialize_as = Text<ImportKind>)]
    pub kind: ImportKind,
    pub body: &'a str,
    pub rows: i32,
}

/// What was wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = import_errors, check_for_backend(diesel::pg::Pg), treat_none_as_default_value = false)]
pub struct RowError {
    pub import_id: Uuid,
    /// The data row, counted from 1 (the header is not counted).
    pub row: i32,
    /// Order among the row's errors.
    pub seq: i32,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
    pub existing_id: Option<Uuid>,
}

/// A running import as a batch sees it: the row, locked, and its body.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub import: Import,
    pub body: String,
}

impl Import {
    pub fn insert(conn: &mut PgConnection, new: NewImport<'_>) -> QueryResult<Import> {
        diesel::insert_into(imports::table)
            .values(new)
            .returning(Import::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Import>> {
        imports::table
            .find(id)
            .select(Import::as_select())
            .first(conn)
            .optional()
    }

    /// Imports posted by these users' org, newest first (`user` narrows to
    /// one user's own).
    pub fn list(
        conn: &mut PgConnection,
        org: OrgId,
        user: Option<UserId>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Import>> {
        let mut q = imports::table
            .filter(imports::org_id.eq(org.0))
            .select(Import::as_select())
            .into_boxed();
        if let Some(u) = user {
            q = q.filter(imports::user_id.eq(u.0));
        }
        if let Some(a) = after {
            q = q.filter(imports::id.lt(a));
        }
        q.order(imports::id.desc()).limit(limit).load(conn)
    }
}

/// Claims the oldest import no worker holds (queued, or running with its
/// lease run out) for `lease_seconds`, marking it running.
pub fn claim(conn: &mut PgConnection, lease_seconds: i32) -> QueryResult<Option<Uuid>> {
    conn.transaction(|conn| {
        let next: Option<Uuid> = imports::table
            .filter(
                imports::status
                    .eq(Text(ImportStatus::Queued))
                    .or(imports::status
                        .eq(Text(ImportStatus::Running))
                        .and(imports::lease_until.lt(diesel::dsl::now))),
            )
            .order(imports::created_at.asc())
            .select(imports::id)
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()?;
        if let Some(id) = next {
            extend(conn, id, lease_seconds)?;
        }
        Ok(next)
    })
}

/// Marks a claimed import running and holds it `lease_seconds` more.
fn extend(conn: &mut PgConnection, id: Uuid, lease_seconds: i32) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE imports SET status = 'running', started_at = coalesce(started_at, now()),
                lease_until = now() + make_interval(secs => $2), updated_at = now()
          WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Integer, _>(lease_seconds)
    .execute(conn)
    .map(|_| ())
}

/// Gives up a worker's hold on a running import between batches, so that
/// the next claim (any worker's) goes on with it at once.
pub fn release(conn: &mut PgConnection, id: Uuid) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE imports SET lease_until = now() - interval '1 millisecond'
          WHERE id = $1 AND status = 'running'",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(conn)
    .map(|_| ())
}

/// Locks a running import for one batch, extending its lease; `None` when
/// it is no longer running (another worker finished it).
pub fn lock_running(
    conn: &mut PgConnection,
    id: Uuid,
    lease_seconds: i32,
) -> QueryResult<Option<Claimed>> {
    let found: Option<(Import, Option<String>)> = imports::table
        .find(id)
        .filter(imports::status.eq(Text(ImportStatus::Running)))
        .select((Import::as_select(), imports::body))
        .for_update()
        .first(conn)
        .optional()?;
    let Some((import, Some(body))) = found else {
        return Ok(None);
    };
    extend(conn, id, lease_seconds)?;
    Ok(Some(Claimed { import, body }))
}

/// Records a batch's progress: rows run, created and rejected, and their
/// errors. The last batch (`done`) ends the import and drops its body.
pub fn progress(
    conn: &mut PgConnection,
    id: Uuid,
    ran: i32,
    created: i32,
    errors: &[RowError],
    done: bool,
) -> QueryResult<()> {
    if !errors.is_empty() {
        // Postgres takes at most 65535 parameters per statement.
        for chunk in errors.chunks(5000) {
            diesel::insert_into(import_errors::table)
                .values(chunk)
                .execute(conn)?;
        }
    }
    diesel::sql_query(
        "UPDATE imports SET processed = processed + $2, created = created + $3,
                rejected = rejected + ($2 - $3), updated_at = now(),
                status = CASE WHEN $4 THEN 'done' ELSE status END,
                finished_at = CASE WHEN $4 THEN now() END,
                body = CASE WHEN $4 THEN NULL ELSE body END,
                lease_until = CASE WHEN $4 THEN NULL ELSE lease_until END
          WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Integer, _>(ran)
    .bind::<diesel::sql_types::Integer, _>(created)
    .bind::<diesel::sql_types::Bool, _>(done)
    .execute(conn)
    .map(|_| ())
}

/// Stops an import for good, saying why; its body is dropped.
pub fn fail(conn: &mut PgConnection, id: Uuid, failure: &str) -> QueryResult<()> {
    crate::prepared::update(imports::table.find(id))
        .set((
            imports::status.eq(Text(ImportStatus::Failed)),
            imports::failure.eq(failure),
            imports::finished_at.eq(diesel::dsl::now),
            imports::updated_at.eq(diesel::dsl::now),
            imports::body.eq(None::<String>),
            imports::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// An import's row errors in row order, after `(row, seq)`.
pub fn errors(
    conn: &mut PgConnection,
    id: Uuid,
    after: Option<(i32, i32)>,
    limit: i64,
) -> QueryResult<Vec<RowError>> {
    let mut q = import_errors::table
        .filter(import_errors::import_id.eq(id))
        .select(RowError::as_select())
        .into_boxed();
    if let Some((row, seq)) = after {
        q = q.filter(
            import_errors::row
                .gt(row)
                .or(import_errors::row.eq(row).and(import_errors::seq.gt(seq))),
        );
    }
    q.order((import_errors::row.asc(), import_errors::seq.asc()))
        .limit(limit)
        .load(conn)
}
