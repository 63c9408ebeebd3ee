//! Lists as CSV (API.md, "Bulk"): a list asked for with `Accept: text/csv`
//! answers every page in one streamed response, with the same filters,
//! visibility and masking as its JSON pages, because it is made of them: the
//! list's own page function is called again and again, one database job per
//! page, and each page is written out before the next is read. Memory stays
//! at about one page whatever the list's length.
//!
//! The columns come from the item's schema in the OpenAPI document: nested
//! objects become dotted columns (`customer.name`, `estimated_revenue.amount`
//! and `estimated_revenue.currency`), lists and free-form objects one cell of
//! JSON. A cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
//! `@`, tab or carriage return first) is written with a `'` before it.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use prm_domain::Actor;
use prm_store::PgConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Schema, SchemaType, Type};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pagination::{DEFAULT_LIMIT, Page};
use crate::state::AppState;

/// The media type of an export.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// Rows read per database job while exporting.
pub const EXPORT_PAGE: u32 = 500;

/// How the caller asked a list to answer: a JSON page, or every page as
/// CSV (`Accept: text/csv` preferred to JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Json,
    Csv,
}

impl ListFormat {
    /// From the `Accept` header: CSV when `text/csv` ranks above every
    /// JSON form (and `*/*`); JSON otherwise, as before exports existed.
    pub fn of(req: &HttpRequest) -> Self {
        let Some(accept) = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
        else {
            return ListFormat::Json;
        };
        let mut best: Option<(f32, ListFormat)> = None;
        for part in accept.split(',') {
            let mut pieces = part.split(';');
            let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "text/csv" => ListFormat::Csv,
                "application/json" | "application/*" | "*/*" => ListFormat::Json,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(ListFormat::Json, |(_, f)| f)
    }
}

impl FromRequest for ListFormat {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(ListFormat::of(req)))
    }
}

/// The dotted column names of `T`'s schema, in the schema's order.
pub fn columns<T: ToSchema>() -> Vec<String> {
    let mut named = Vec::new();
    T::schemas(&mut named);
    let components: HashMap<String, RefOr<Schema>> = named.into_iter().collect();
    schema_columns(&T::schema(), &|name| components.get(name))
}

/// The dotted column names of `schema`, its references looked up by name.
pub fn schema_columns<'s>(
    schema: &'s RefOr<Schema>,
    lookup: &dyn Fn(&str) -> Option<&'s RefOr<Schema>>,
) -> Vec<String> {
    schema_leaves(schema, lookup)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// What a column holds, so that a cell reads back as its JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Text,
    Number,
    Bool,
    /// A list, written as JSON.
    List,
    /// A free-form object, written as JSON.
    Json,
}

/// The dotted columns of `schema` with what each holds.
pub fn schema_leaves<'s>(
    schema: &'s RefOr<Schema>,
    lookup: &dyn Fn(&str) -> Option<&'s RefOr<Schema>>,
) -> Vec<(String, Leaf)> {
    let mut out = Vec::new();
    flatten("", schema, lookup, &mut out, 0);
    out
}

fn flatten<'s>(
    prefix: &str,
    schema: &'s RefOr<Schema>,
    lookup: &dyn Fn(&str) -> Option<&'s RefOr<Schema>>,
    out: &mut Vec<(String, Leaf)>,
    depth: usize,
) {
    let joined = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let leaf = |out: &mut Vec<(String, Leaf)>, kind: Leaf| out.push((prefix.to_owned(), kind));
    if depth > 8 {
        return leaf(out, Leaf::Json);
    }
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            match lookup(name) {
                Some(s) => flatten(prefix, s, lookup, out, depth + 1),
                None => leaf(out, Leaf::Json),
            }
        }
        RefOr::T(Schema::Object(o)) if !o.properties.is_empty() => {
            for (name, s) in &o.properties {
                flatten(&joined(name), s, lookup, out, depth + 1);
            }
        }
        RefOr::T(Schema::Object(o)) => {
            let types = match &o.schema_type {
                SchemaType::Type(t) => vec![t.clone()],
                SchemaType::Array(ts) => ts.clone(),
                SchemaType::AnyValue => Vec::new(),
            };
            let kind = match types.iter().find(|t| **t != Type::Null) {
                Some(Type::String) => Leaf::Text,
                Some(Type::Integer | Type::Number) => Leaf::Number,
                Some(Type::Boolean) => Leaf::Bool,
                Some(Type::Array) => Leaf::List,
                _ => Leaf::Json,
            };
            leaf(out, kind);
        }
        RefOr::T(Schema::Array(_)) => leaf(out, Leaf::List),
        RefOr::T(Schema::OneOf(one)) => {
            let mut shapes = one.items.iter().filter(|s| !is_null(s));
            match (shapes.next(), shapes.next()) {
                (Some(only), None) => flatten(prefix, only, lookup, out, depth + 1),
                _ => leaf(out, Leaf::Json),
            }
        }
        RefOr::T(Schema::AllOf(all)) if all.items.len() == 1 => {
            flatten(prefix, &all.items[0], lookup, out, depth + 1);
        }
        _ => leaf(out, Leaf::Json),
    }
}

fn is_null(s: &RefOr<Schema>) -> bool {
    matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// Writes `rows` of `columns` as CSV records.
#[derive(Debug)]
pub struct CsvRows {
    columns: Arc<Vec<String>>,
    writer: csv::Writer<Vec<u8>>,
}

impl CsvRows {
    pub fn new(columns: Arc<Vec<String>>, capacity: usize) -> Self {
        Self {
            columns,
            writer: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::with_capacity(capacity)),
        }
    }

    /// The header record.
    pub fn header(&mut self) -> Result<(), ApiError> {
        let columns = Arc::clone(&self.columns);
        self.writer
            .write_record(columns.iter())
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
    }

    /// One record: each column's value in the item's JSON.
    pub fn item<T: Serialize>(&mut self, item: &T) -> Result<(), ApiError> {
        let value = serde_json::to_value(item)
            .map_err(|e| ApiError::Internal(format!("serializing a row: {e}")))?;
        let columns = Arc::clone(&self.columns);
        let cells = columns.iter().map(|c| cell(at(&value, c)));
        self.writer
            .write_record(cells)
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
    }

    pub fn into_bytes(self) -> Result<Bytes, ApiError> {
        self.writer
            .into_inner()
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
    }
}

/// The value at a dotted path; `Null` where any step is missing.
fn at<'v>(value: &'v Value, path: &str) -> &'v Value {
    let mut v = value;
    for step in path.split('.') {
        v = match v.get(step) {
            Some(next) => next,
            None => return &Value::Null,
        };
    }
    v
}

/// A value as a cell: text as it is, numbers and booleans as JSON writes
/// them, lists and objects as JSON, nothing for null.
fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => return v.to_string(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    };
    defused(text)
}

/// A cell a spreadsheet would take for a formula, with `'` before it (what
/// OWASP advises against CSV injection); the import takes the `'` off again.
pub fn defused(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// A cell as the export wrote it, with the `'` it put before a
/// formula-like value taken off again.
pub fn undefused(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// What reads one page of a list for the caller: after the given cursor,
/// at most the given number of items.
pub type PageFn<T> =
    dyn Fn(&mut PgConnection, &Actor, Option<&str>, u32) -> Result<Page<T>, ApiError> + Send + Sync;

/// Every page of a list as one streamed CSV response, starting after
/// `cursor` (or at the start). Each page is one job on the database queue,
/// read only once the previous page has been written out. The first page is
/// read before the answer starts, so a refused request (a bad filter or
/// cursor, no access) is an error response like the JSON list's; an error
/// after that ends the response early, so a cut export never looks whole.
pub async fn stream<T>(
    state: web::Data<AppState>,
    caller: Caller,
    name: &str,
    cursor: Option<String>,
    page: Arc<PageFn<T>>,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + ToSchema + Send + 'static,
{
    let columns = Arc::new(columns::<T>());
    let first = read(&state, &caller, &page, &columns, cursor, true).await?;
    let pages = futures_util::stream::unfold(first.next, move |next| {
        let (state, caller, page, columns) = (
            state.clone(),
            caller.clone(),
            Arc::clone(&page),
            Arc::clone(&columns),
        );
        async move {
            let cursor = next?;
            Some(
                match read(&state, &caller, &page, &columns, Some(cursor), false).await {
                    Ok(chunk) => (Ok(chunk.bytes), chunk.next),
                    Err(e) => {
                        tracing::warn!(error = %e, "export cut short");
                        (Err(e), None)
                    }
                },
            )
        }
    });
    let body =
        futures_util::stream::once(std::future::ready(Ok::<_, ApiError>(first.bytes))).chain(pages);
    let mut res = HttpResponse::Ok();
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(CSV_CONTENT_TYPE),
    ));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        res.insert_header((header::CONTENT_DISPOSITION, v));
    }
    Ok(res.streaming(body))
}

/// Answers a list: one JSON page (`limit` items after `cursor`), or, when
/// the caller asked for CSV, every page after `cursor` as one CSV stream
/// named `name`. `page` reads one page; both forms are made by it alone.
pub async fn answer<T, F>(
    state: web::Data<AppState>,
    caller: Caller,
    format: ListFormat,
    name: &str,
    cursor: Option<String>,
    limit: Option<u32>,
    page: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + ToSchema + Send + 'static,
    F: Fn(&mut PgConnection, &Actor, Option<&str>, u32) -> Result<Page<T>, ApiError>
        + Send
        + Sync
        + 'static,
{
    match format {
        ListFormat::Csv => stream(state, caller, name, cursor, Arc::new(page)).await,
        ListFormat::Json => {
            let limit = limit.unwrap_or(DEFAULT_LIMIT);
            let page = state
                .run(caller, move |conn, actor| {
                    page(conn, actor, cursor.as_deref(), limit)
                })
                .await?;
            Ok(HttpResponse::Ok().json(page))
        }
    }
}

/// One page written as CSV, and the cursor after it while more follow.
struct Chunk {
    bytes: Bytes,
    next: Option<String>,
}

async fn read<T>(
    state: &web::Data<AppState>,
    caller: &Caller,
    page: &Arc<PageFn<T>>,
    columns: &Arc<Vec<String>>,
    cursor: Option<String>,
    with_header: bool,
) -> Result<Chunk, ApiError>
where
    T: Serialize + ToSchema + Send + 'static,
{
    let (page, columns) = (Arc::clone(page), Arc::clone(columns));
    state
        .run(caller.clone(), move |conn, actor| {
            let p = page(conn, actor, cursor.as_deref(), EXPORT_PAGE)?;
            let mut out = CsvRows::new(columns, 256 + p.items.len() * 512);
            if with_header {
                out.header()?;
            }
            for item in &p.items {
                out.item(item)?;
            }
            let full = p.items.len() >= EXPORT_PAGE as usize;
            Ok(Chunk {
                bytes: out.into_bytes()?,
                next: p.next_cursor.filter(|_| full),
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, ToSchema)]
    struct Money {
        amount: String,
        currency: String,
    }

    #[derive(Serialize, ToSchema)]
    struct Item {
        id: u32,
        name: String,
        price: Option<Money>,
        tags: Vec<String>,
        note: Option<String>,
        #[schema(value_type = Object)]
        data: Value,
    }

    #[test]
    fn columns_flatten_objects_and_keep_lists_and_free_form_objects_whole() {
        assert_eq!(
            columns::<Item>(),
            [
                "id",
                "name",
                "price.amount",
                "price.currency",
                "tags",
                "note",
                "data"
            ]
        );
    }

    #[test]
    fn records_quote_what_csv_needs_and_defuse_formulas() {
        let mut out = CsvRows::new(Arc::new(columns::<Item>()), 0);
        out.header().unwrap();
        out.item(&Item {
            id: 1,
            name: "Fabrikam, \"the\" GmbH\nBerlin".into(),
            price: Some(Money {
                amount: "12.50".into(),
                currency: "EUR".into(),
            }),
            tags: vec!["cloud".into(), "a;b".into()],
            note: Some("=HYPERLINK(\"x\")".into()),
            data: serde_json::json!({"k": 1}),
        })
        .unwrap();
        out.item(&Item {
            id: 2,
            name: "-5".into(),
            price: None,
            tags: vec![],
            note: None,
            data: Value::Null,
        })
        .unwrap();
        let text = String::from_utf8(out.into_bytes().unwrap().to_vec()).unwrap();
        assert_eq!(
            text,
            "id,name,price.amount,price.currency,tags,note,data\r\n\
             1,\"Fabrikam, \"\"the\"\" GmbH\nBerlin\",12.50,EUR,\"[\"\"cloud\"\",\"\"a;b\"\"]\",\"'=HYPERLINK(\"\"x\"\")\",\"{\"\"k\"\":1}\"\r\n\
             2,'-5,,,[],,\r\n"
        );
    }

    #[test]
    fn the_accept_header_chooses_csv_only_when_it_ranks_first() {
        let format = |accept: Option<&str>| {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header((header::ACCEPT, a));
            }
            ListFormat::of(&req.to_http_request())
        };
        assert_eq!(format(None), ListFormat::Json);
        assert_eq!(format(Some("text/csv")), ListFormat::Csv);
        assert_eq!(format(Some("Text/CSV; charset=utf-8")), ListFormat::Csv);
        assert_eq!(format(Some("application/json")), ListFormat::Json);
        assert_eq!(format(Some("*/*")), ListFormat::Json);
        assert_eq!(
            format(Some("application/json;q=0.5, text/csv")),
            ListFormat::Csv
        );
        assert_eq!(format(Some("text/csv;q=0.2, */*")), ListFormat::Json);
        assert_eq!(format(Some("text/csv;q=0")), ListFormat::Json);
    }
}
