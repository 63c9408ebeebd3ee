//! `/imports`: many customers or opportunities posted as one CSV and
//! created in the background, each row as its single create would be.
//! Here the CSV's shape is checked at once (header, columns, rows), and a
//! row's cells become the create's request body ([`WireRows`]), checked
//! exactly as that body is.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use prm_domain::import::{ImportKind, MAX_ROWS};
use prm_domain::{Actor, FieldError};
use prm_store::imports::{Import, RowError};
use prm_store::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::Caller;
use crate::dto::{ImportKindDto, ImportStatusDto};
use crate::error::{ApiError, Problem};
use crate::extract::{CsvBody, QueryParams, parse_value_checked};
use crate::pagination::{Page, decode_token, encode_token, fetch_size, into_page_keyed};
use crate::routes::csv::{self, Leaf, ListFormat};
use crate::routes::customers::CreateCustomer;
use crate::routes::opportunities::CreateOpportunity;
use crate::service::imports::{self as service, CUSTOMER_REF_COLUMN, Create, Record, RowReader};
use crate::state::AppState;

/// What was wrong with one row: what its single create would have answered.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ImportError, example = json!({"row": 7, "field": "contact.email",
    "code": "validation_failed", "message": "`jo@` is not an e-mail address", "existing_id": null}))]
pub struct ImportErrorDto {
    /// The data row, counted from 1 (the header row is not counted).
    pub row: i32,
    /// The field (column) at fault, named as in the API; `null` when the row
    /// as a whole was refused (e.g. `forbidden`, `duplicate_customer`).
    pub field: Option<String>,
    /// The create's problem code: `validation_failed`, `forbidden`,
    /// `external_ref_exists`, `duplicate_customer`, …
    pub code: String,
    pub message: String,
    /// For `external_ref_exists`: what the org's reference already names;
    /// the row was not created again.
    pub existing_id: Option<Uuid>,
}

impl From<RowError> for ImportErrorDto {
    fn from(e: RowError) -> Self {
        Self {
            row: e.row,
            field: e.field,
            code: e.code,
            message: e.message,
            existing_id: e.existing_id,
        }
    }
}

/// An import and how far it got.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Import, example = json!({"id": "0193a2d0-aaaa-7cc3-9d5e-5b3c2a1f0e9d",
    "kind": "opportunities", "status": "running", "rows": 10000, "processed": 2400,
    "created": 2391, "rejected": 9, "errors": [{"row": 7, "field": "contact.email",
    "code": "validation_failed", "message": "`jo@` is not an e-mail address", "existing_id": null}],
    "errors_truncated": false, "failure": null,
    "created_by_user_id": "0193a2c5-1111-7cc3-9d5e-5b3c2a1f0e9d",
    "created_at": "2026-12-05T10:00:00Z", "started_at": "2026-12-05T10:00:01Z",
    "finished_at": null, "updated_at": "2026-12-05T10:00:09Z"}))]
pub struct ImportDto {
    pub id: Uuid,
    pub kind: ImportKindDto,
    pub status: ImportStatusDto,
    /// Data rows posted.
    pub rows: i32,
    /// Rows run so far (`created` + `rejected`).
    pub processed: i32,
    pub created: i32,
    pub rejected: i32,
    /// The rows' errors in row order, at most 1000; all of them at
    /// `GET /imports/{id}/errors`.
    pub errors: Vec<ImportErrorDto>,
    /// More errors follow than `errors` shows.
    pub errors_truncated: bool,
    /// Why a `failed` import stopped (its importing user was deactivated).
    pub failure: Option<String>,
    pub created_by_user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ImportDto {
    fn from_parts(i: Import, mut errors: Vec<RowError>) -> Self {
        let shown = usize::try_from(service::SHOWN_ERRORS).unwrap_or(usize::MAX);
        let errors_truncated = errors.len() > shown;
        errors.truncate(shown);
        Self {
            id: i.id,
            kind: i.kind.into(),
            status: i.status.into(),
            rows: i.rows,
            processed: i.processed,
            created: i.created,
            rejected: i.rejected,
            errors: errors.into_iter().map(Into::into).collect(),
            errors_truncated,
            failure: i.failure,
            created_by_user_id: i.user_id.into(),
            created_at: i.created_at,
            started_at: i.started_at,
            finished_at: i.finished_at,
            updated_at: i.updated_at,
        }
    }
}

/// A CSV document: UTF-8 text, RFC 4180, a header row first.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct CsvDocument(pub String);

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// What the rows create.
    #[param(inline)]
    pub kind: ImportKindDto,
}

/// The columns a kind's rows may have: the single create's body, nested
/// fields dotted (`contact.email`, `estimated_revenue.amount`), and for
/// opportunities `customer.external_ref` (the customer by the org's own
/// reference instead of `customer_id`). With which of them are required.
#[derive(Debug)]
struct Columns {
    leaves: HashMap<String, Leaf>,
    /// In the body's order, for messages.
    names: Vec<String>,
    required: Vec<String>,
}

fn body_columns<T: ToSchema>(extra: &[(&str, Leaf)]) -> Columns {
    let mut named = Vec::new();
    T::schemas(&mut named);
    let components: HashMap<String, RefOr<Schema>> = named.into_iter().collect();
    let schema = T::schema();
    let mut leaves = csv::schema_leaves(&schema, &|n| components.get(n));
    leaves.extend(extra.iter().map(|(n, l)| ((*n).to_owned(), *l)));
    let required = match &schema {
        RefOr::T(Schema::Object(o)) => o.required.clone(),
        _ => Vec::new(),
    };
    Columns {
        names: leaves.iter().map(|(n, _)| n.clone()).collect(),
        leaves: leaves.into_iter().collect(),
        required,
    }
}

fn columns(kind: ImportKind) -> &'static Columns {
    static CUSTOMERS: OnceLock<Columns> = OnceLock::new();
    static OPPORTUNITIES: OnceLock<Columns> = OnceLock::new();
    match kind {
        ImportKind::Customers => CUSTOMERS.get_or_init(|| body_columns::<CreateCustomer>(&[])),
        ImportKind::Opportunities => OPPORTUNITIES.get_or_init(|| {
            body_columns::<CreateOpportunity>(&[(CUSTOMER_REF_COLUMN, Leaf::Text)])
        }),
    }
}

/// Checks the CSV's shape before anything is stored: a header of known,
/// distinct columns holding every required one, 1 to 50,000 data rows,
/// each with as many cells as the header. The data rows counted.
fn check_shape(kind: ImportKind, text: &str) -> Result<usize, ApiError> {
    let cols = columns(kind);
    let mut reader = ::csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            ApiError::validation("body", format!("the header row does not read as CSV: {e}"))
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !cols.leaves.contains_key(name) {
            errors.push(FieldError::new(
                name.clone(),
                format!(
                    "is not a column of a {kind} import; its columns are {}",
                    cols.names.join(", ")
                ),
            ));
        } else if header[..i].contains(name) {
            errors.push(FieldError::new(name.clone(), "is given twice"));
        }
    }
    for required in &cols.required {
        let given = header
            .iter()
            .any(|h| h == required || h.starts_with(&format!("{required}.")));
        let by_ref = required == "customer_id" && header.iter().any(|h| h == CUSTOMER_REF_COLUMN);
        if !given && !by_ref {
            errors.push(FieldError::new(required.clone(), "is a required column"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut rows = 0;
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(ApiError::validation(
                    "body",
                    format!("row {} does not read as CSV: {e}", rows + 1),
                ));
            }
        }
        rows += 1;
        if rows > MAX_ROWS {
            return Err(ApiError::validation(
                "body",
                format!("an import holds at most {MAX_ROWS} rows"),
            ));
        }
    }
    if rows == 0 {
        return Err(ApiError::validation("body", "has no data rows"));
    }
    Ok(rows)
}

/// The edge's reading of a row: its cells as the create's JSON body,
/// checked as `POST /customers` or `POST /opportunities` checks it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireRows;

impl RowReader for WireRows {
    fn read(&self, kind: ImportKind, record: &Record) -> Result<Create, Vec<FieldError>> {
        let body = row_body(kind, record)?;
        let fields = |e: ApiError| match e {
            ApiError::Validation(f) => f,
            other => vec![FieldError::new("body", other.to_string())],
        };
        match kind {
            ImportKind::Customers => {
                let (body, errors) = parse_value_checked::<CreateCustomer>(body).map_err(fields)?;
                if !errors.is_empty() {
                    return Err(errors);
                }
                body.command().map(Create::Customer).map_err(fields)
            }
            ImportKind::Opportunities => {
                let (body, errors) =
                    parse_value_checked::<CreateOpportunity>(body).map_err(fields)?;
                Ok(Create::Opportunity(Box::new(body.command(errors))))
            }
        }
    }
}

/// A row's cells as a JSON body: an empty cell is an absent field, dotted
/// columns nest, lists are JSON (`["cloud"]`) or `;`-separated, and a `'`
/// the export put before a formula-like cell is taken off.
fn row_body(kind: ImportKind, record: &Record) -> Result<Value, Vec<FieldError>> {
    let cols = columns(kind);
    let mut body = Map::new();
    let mut errors = Vec::new();
    for (name, cell) in record {
        if cell.is_empty() {
            continue;
        }
        let cell = csv::undefused(cell);
        let value = match cols.leaves.get(name).copied().unwrap_or(Leaf::Text) {
            Leaf::Text => Ok(Value::String(cell.to_owned())),
            Leaf::Number => cell
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .map_err(|_| "is not a number"),
            Leaf::Bool => match cell {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err("is not true or false"),
            },
            Leaf::List if cell.starts_with('[') => serde_json::from_str::<Value>(cell)
                .ok()
                .filter(Value::is_array)
                .ok_or("is not a JSON list"),
            Leaf::List => Ok(Value::Array(
                cell.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )),
            Leaf::Json => serde_json::from_str(cell).map_err(|_| "is not JSON"),
        };
        match value {
            Ok(v) => insert(&mut body, name, v),
            Err(message) => errors.push(FieldError::new(name.clone(), message)),
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(body))
    } else {
        Err(errors)
    }
}

/// Puts `value` at the dotted `path` of `body`.
fn insert(body: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            body.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = body
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert(inner, rest, value);
            }
        }
    }
}

/// Import customers or opportunities from CSV (`Content-Type: text/csv`,
/// at most 32 MiB and 50,000 data rows). The header names the columns: the
/// single create's fields, nested ones dotted (`contact.email`,
/// `estimated_revenue.amount`, `estimated_revenue.currency`), lists as JSON
/// or `;`-separated, an empty cell for an absent field; opportunities may
/// name their customer by `customer.external_ref`. The CSV's shape is
/// checked at once (a 422 names unknown or missing columns and unreadable
/// rows); the rows then run in the background, each validated and
/// authorized exactly as its single create (`POST /customers`,
/// `POST /opportunities`) as the caller. A row whose `external_ref` the
/// org already used is reported (`external_ref_exists`, with
/// `existing_id`), not created again. Follow `Location` for progress.
#[utoipa::path(
    operation_id = "create_import",
    tag = "imports",
    params(ImportParams),
    request_body(content = CsvDocument, content_type = "text/csv",
        example = json!("name,country,industry,external_ref\r\nFabrikam GmbH,DE,retail,ACC-1\r\n")),
    responses(
        (status = 202, description = "Accepted: queued to run in the background", body = ImportDto,
         headers(("Location" = String, description = "`/api/v1/imports/{id}`"))),
        (status = 413, description = "The body exceeds 32 MiB", body = Problem,
         content_type = "application/problem+json"),
        (status = 415, description = "The body is not `text/csv`", body = Problem,
         content_type = "application/problem+json"),
    )
)]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    params: QueryParams<ImportParams>,
    body: CsvBody,
) -> Result<HttpResponse, ApiError> {
    let kind = ImportKind::from(params.0.kind);
    let text = body.0;
    let rows = check_shape(kind, &text)?;
    let import = state
        .run(caller, move |conn, actor| {
            conn.transaction(|conn| service::start(conn, actor, kind, &text, rows))
        })
        .await?;
    let dto = ImportDto::from_parts(import, Vec::new());
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/imports/{}", dto.id)))
        .json(dto))
}

/// An import: its status, counts and the rows' errors (the importing user
/// and its org's admins).
#[utoipa::path(
    operation_id = "get_import",
    tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses((status = 200, body = ImportDto))
)]
#[get("/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (import, errors) = state
        .run(caller, move |conn, actor| {
            service::get_with_errors(conn, actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ImportDto::from_parts(import, errors)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportErrorParams {
    /// Page size, 1 to 200.
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
}

/// Every error of an import's rows, in row order.
#[utoipa::path(
    operation_id = "list_import_errors",
    tag = "imports",
    params(("id" = Uuid, Path, description = "Import id"), ImportErrorParams),
    responses((status = 200, body = Page<ImportErrorDto>))
)]
#[get("/{id}/errors")]
pub async fn list_errors(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: QueryParams<ImportErrorParams>,
    format: ListFormat,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let params = params.0;
    let page = move |conn: &mut PgConnection, actor: &Actor, cursor: Option<&str>, limit| {
        let after = decode_token(cursor)?
            .map(|t| {
                t.split_once('|')
                    .and_then(|(r, s)| Some((r.parse().ok()?, s.parse().ok()?)))
                    .ok_or_else(|| {
                        ApiError::validation("cursor", "is not a cursor this service issued")
                    })
            })
            .transpose()?;
        let rows = service::errors(conn, actor, id, after, fetch_size(Some(limit)))?;
        into_page_keyed(
            rows,
            Some(limit),
            |e| encode_token(&format!("{}|{}", e.row, e.seq)),
            |e| Ok::<_, ApiError>(ImportErrorDto::from(e)),
        )
    };
    csv::answer(
        state,
        caller,
        format,
        "import-errors",
        params.cursor,
        params.limit,
        page,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[(&str, &str)]) -> Record {
        cells
            .iter()
            .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_imports_columns_are_its_create_bodys_fields_dotted() {
        let c = columns(ImportKind::Opportunities);
        for name in [
            "topic",
            "customer_id",
            "contact.email",
            "estimated_revenue.amount",
            "estimated_revenue.currency",
            "product_lines",
            "external_ref",
            CUSTOMER_REF_COLUMN,
        ] {
            assert!(c.leaves.contains_key(name), "{name}: {:?}", c.names);
        }
        assert_eq!(c.leaves["product_lines"], Leaf::List);
        assert!(c.required.contains(&"topic".to_owned()));
        let c = columns(ImportKind::Customers);
        assert_eq!(c.required, ["name", "country"]);
    }

    #[test]
    fn a_rows_cells_become_the_create_body() {
        let body = row_body(
            ImportKind::Opportunities,
            &record(&[
                ("topic", "Cloud, \"phase 1\""),
                ("contact.name", "Jo"),
                ("contact.phone", "'+49 30 1"),
                ("estimated_revenue.amount", "100.50"),
                ("estimated_revenue.currency", "EUR"),
                ("product_lines", "cloud; security"),
                ("customer_situation", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"topic": "Cloud, \"phase 1\"",
                "contact": {"name": "Jo", "phone": "+49 30 1"},
                "estimated_revenue": {"amount": "100.50", "currency": "EUR"},
                "product_lines": ["cloud", "security"]})
        );
        let listed = row_body(
            ImportKind::Opportunities,
            &record(&[("product_lines", "[\"a;b\"]")]),
        )
        .unwrap();
        assert_eq!(listed["product_lines"], serde_json::json!(["a;b"]));
        let bad = row_body(
            ImportKind::Opportunities,
            &record(&[("product_lines", "[1")]),
        );
        assert_eq!(bad.unwrap_err()[0].field, "product_lines");
    }

    #[test]
    fn the_shape_of_a_csv_is_checked_before_it_is_stored() {
        let fields = |text: &str| match check_shape(ImportKind::Customers, text) {
            Err(ApiError::Validation(f)) => f.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            check_shape(ImportKind::Customers, "name,country\nA,DE\nB,FR\n").unwrap(),
            2
        );
        assert_eq!(fields("name,country,colour\nA,DE,red\n"), ["colour"]);
        assert_eq!(fields("name,name,country\nA,B,DE\n"), ["name"]);
        assert_eq!(fields("name\nA\n"), ["country"]);
        assert_eq!(fields("name,country\n"), ["body"]);
        assert_eq!(fields("name,country\nA,DE,extra\n"), ["body"]);
        assert_eq!(
            check_shape(
                ImportKind::Opportunities,
                "topic,customer.external_ref\nT,C-1\n"
            )
            .unwrap(),
            1
        );
    }
}
