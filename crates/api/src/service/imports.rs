//! Imports (API.md, "Bulk"): a CSV of customers or opportunities posted
//! once and run in the background, each row through the same create use
//! case as `POST /customers` or `POST /opportunities`, as the importing
//! user, in a savepoint of its batch. A batch's rows, their errors and the
//! import's progress commit together, so a crash resumes after the last
//! committed batch and no row runs twice. Rows whose `external_ref` the
//! org already gave another resource are reported, not created again.
//!
//! How a row's cells become a create is the edge's business (its column
//! names are the API's field names): the caller passes a [`RowReader`].

use std::time::{Duration, Instant};

use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::UserId;
use prm_domain::import::{self as rules, ImportKind};
use prm_domain::{Actor, FieldError};
use prm_store::actors::{ActorLookup, load_actor};
use prm_store::imports::{self as store, Import, NewImport, RowError};
use prm_store::users::User;
use prm_store::{Connection, PgConnection};
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::customers::{self, NewCustomerCommand};
use crate::service::opportunities::{self, NewOpportunityCommand};

/// One data row: each column's name with the row's cell, as posted.
pub type Record = Vec<(String, String)>;

/// What a row asks to create.
#[derive(Debug, Clone)]
pub enum Create {
    Customer(NewCustomerCommand),
    Opportunity(Box<NewOpportunityCommand>),
}

/// Turns a row into the create it asks for, checked as the single create's
/// request body is, or says what is wrong with it as that create's 422
/// would (fields named as in the API).
pub trait RowReader: Send + Sync + std::fmt::Debug {
    fn read(&self, kind: ImportKind, record: &Record) -> Result<Create, Vec<FieldError>>;
}

/// How long a worker holds a running import without renewing its lease.
const LEASE_SECONDS: i32 = 120;

/// Errors shown with an import; the rest are listed by its errors list.
pub const SHOWN_ERRORS: i64 = 1000;

/// Posts an import of `rows` data rows (the edge has read the CSV's header
/// and counted its rows); it runs in the background.
pub fn start(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: ImportKind,
    body: &str,
    rows: usize,
) -> Result<Import, ApiError> {
    rules::check_can_import(actor)?;
    Ok(Import::insert(
        conn,
        NewImport {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            user_id: actor.user_id,
            kind,
            body,
            rows: i32::try_from(rows).unwrap_or(i32::MAX),
        },
    )?)
}

/// An import the caller may read, or 404.
pub fn get(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<Import, ApiError> {
    Import::find(conn, id)?
        .filter(|i| rules::can_view_import(actor, i.org_id, i.user_id))
        .ok_or(ApiError::NotFound)
}

/// An import with its first errors (one more than shown, to tell whether
/// more follow).
pub fn get_with_errors(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(Import, Vec<RowError>), ApiError> {
    let import = get(conn, actor, id)?;
    let errors = store::errors(conn, id, None, SHOWN_ERRORS + 1)?;
    Ok((import, errors))
}

/// The errors of an import the caller may read, after `(row, seq)`.
pub fn errors(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    after: Option<(i32, i32)>,
    fetch: i64,
) -> Result<Vec<RowError>, ApiError> {
    get(conn, actor, id)?;
    Ok(store::errors(conn, id, after, fetch)?)
}

/// The imports the caller may read, newest first: its org's for an admin,
/// its own for everyone else.
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<Import>, ApiError> {
    let only = (!actor.role.is_admin()).then_some(actor.user_id);
    Ok(Import::list(conn, actor.org_id, only, after, fetch)?)
}

/// Runs imports for up to `budget`: claims the oldest one no worker holds
/// and runs its batches one transaction each. The rows run.
pub fn run(
    conn: &mut PgConnection,
    reader: &dyn RowReader,
    budget: Duration,
) -> Result<usize, ApiError> {
    let started = Instant::now();
    let mut ran = 0;
    while started.elapsed() < budget {
        let Some(id) = store::claim(conn, LEASE_SECONDS)? else {
            break;
        };
        while let Some(n) = conn.transaction(|c| run_batch(c, reader, id))? {
            ran += n;
            if started.elapsed() >= budget {
                // Its batches so far have committed: let this worker or
                // another go on with it next time, at once.
                store::release(conn, id)?;
                return Ok(ran);
            }
        }
    }
    Ok(ran)
}

/// Runs the next batch of a running import; `None` once it has ended.
fn run_batch(
    conn: &mut PgConnection,
    reader: &dyn RowReader,
    id: Uuid,
) -> Result<Option<usize>, ApiError> {
    let Some(claimed) = store::lock_running(conn, id, LEASE_SECONDS)? else {
        return Ok(None);
    };
    let import = claimed.import;
    let actor = importer(conn, import.user_id)?;
    if let Err(refused) = rules::check_importer(actor.is_some()) {
        store::fail(conn, id, &refused.to_string())?;
        return Ok(None);
    }
    let Some(actor) = actor else {
        return Ok(None);
    };
    let skip = usize::try_from(import.processed).unwrap_or(0);
    let mut records = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(claimed.body.as_bytes());
    let header: Vec<String> = records
        .headers()
        .map_err(|e| ApiError::Internal(format!("a posted import no longer reads: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut errors = Vec::new();
    let (mut ran, mut created) = (0, 0);
    for (i, record) in records
        .records()
        .enumerate()
        .skip(skip)
        .take(import.kind.batch())
    {
        let row = i32::try_from(i + 1).unwrap_or(i32::MAX);
        let record = record
            .map_err(|e| ApiError::Internal(format!("a posted import no longer reads: {e}")))?;
        let cells: Record = header
            .iter()
            .zip(record.iter())
            .map(|(c, v)| (c.clone(), v.to_owned()))
            .collect();
        match conn.transaction(|c| run_row(c, reader, &actor, import.kind, cells)) {
            Ok(()) => created += 1,
            Err(ApiError::Unavailable(e)) => return Err(ApiError::Unavailable(e)),
            Err(e) => errors.extend(row_errors(id, row, &e)),
        }
        ran += 1;
    }
    let done = skip + ran >= usize::try_from(import.rows).unwrap_or(0);
    store::progress(
        conn,
        id,
        i32::try_from(ran).unwrap_or(i32::MAX),
        created,
        &errors,
        done,
    )?;
    Ok(Some(ran))
}

/// The importing user as it would act now; `None` when it may not (it or
/// its org deactivated).
fn importer(conn: &mut PgConnection, user: UserId) -> Result<Option<Actor>, ApiError> {
    let Some(user) = User::find(conn, user)? else {
        return Ok(None);
    };
    Ok(match load_actor(conn, &user.subject)? {
        ActorLookup::Found(actor) => Some(actor),
        _ => None,
    })
}

/// One row, through the single create's use case.
fn run_row(
    conn: &mut PgConnection,
    reader: &dyn RowReader,
    actor: &Actor,
    kind: ImportKind,
    mut cells: Record,
) -> Result<(), ApiError> {
    resolve_customer_ref(conn, actor, &mut cells)?;
    match reader.read(kind, &cells).map_err(ApiError::Validation)? {
        Create::Customer(cmd) => customers::create(conn, actor, cmd).map(|_| ()),
        Create::Opportunity(cmd) => opportunities::create(conn, actor, *cmd).map(|_| ()),
    }
}

/// The column naming an opportunity's customer by the org's own reference.
pub const CUSTOMER_REF_COLUMN: &str = "customer.external_ref";

/// A row may name its customer by the org's reference instead of its id:
/// the reference becomes the `customer_id` the create takes.
fn resolve_customer_ref(
    conn: &mut PgConnection,
    actor: &Actor,
    cells: &mut Record,
) -> Result<(), ApiError> {
    let Some(at) = cells
        .iter()
        .position(|(c, v)| c == CUSTOMER_REF_COLUMN && !v.is_empty())
    else {
        return Ok(());
    };
    let (_, text) = cells.remove(at);
    if cells
        .iter()
        .any(|(c, v)| c == "customer_id" && !v.is_empty())
    {
        return Err(ApiError::validation(
            CUSTOMER_REF_COLUMN,
            "give customer_id or customer.external_ref, not both",
        ));
    }
    let r: ExternalRef = text
        .parse()
        .map_err(|e: String| ApiError::validation(CUSTOMER_REF_COLUMN, e))?;
    let id = prm_store::external_refs::find(conn, actor.org_id, RefKind::Customer, &r)?
        .ok_or_else(|| {
            ApiError::validation(
                CUSTOMER_REF_COLUMN,
                "no customer of your org has this external_ref",
            )
        })?;
    cells.retain(|(c, _)| c != "customer_id");
    cells.push(("customer_id".to_owned(), id.to_string()));
    Ok(())
}

/// What a refused row's create answered, as the row's errors.
fn row_errors(import: Uuid, row: i32, e: &ApiError) -> Vec<RowError> {
    let p = e.problem();
    let error = |seq: usize, field: Option<String>, message: String| RowError {
        import_id: import,
        row,
        seq: i32::try_from(seq).unwrap_or(i32::MAX),
        field,
        code: p.code.clone(),
        message,
        existing_id: p.existing_id,
    };
    if let ApiError::Internal(cause) = e {
        tracing::error!(import = %import, row, error = %cause, "an import row failed");
    }
    if p.errors.is_empty() {
        let field = (p.code == "external_ref_exists").then(|| "external_ref".to_owned());
        vec![error(0, field, p.detail.clone())]
    } else {
        p.errors
            .iter()
            .enumerate()
            .map(|(i, f)| error(i, Some(f.field.clone()), f.message.clone()))
            .collect()
    }
}
