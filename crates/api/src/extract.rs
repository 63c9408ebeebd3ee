//! Request extractors whose failures are problem+json: JSON bodies (content
//! type, size, syntax, required fields, types, validation, all fields at
//! once), query strings, and `If-Match`. Text Postgres cannot store (NUL)
//! is refused here, for every body and query, naming each field; so is a
//! `null` where the body's documented schema does not allow one.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use prm_domain::FieldError;
use serde::de::DeserializeOwned;
use utoipa::openapi::schema::{SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::ApiError;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The largest body a request to `path` may send: an import's CSV, or a
/// JSON body.
pub fn body_limit(path: &str) -> usize {
    if path == "/api/v1/imports" {
        prm_domain::import::MAX_BYTES
    } else {
        BODY_LIMIT
    }
}

/// A JSON request body, checked and validated.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> FromRequest for JsonBody<T>
where
    T: DeserializeOwned + Validate + ToSchema + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = JsonChecked::<T>::from_request(req, payload);
        Box::pin(async move {
            let JsonChecked(parsed, errors) = checked.await?;
            if errors.is_empty() {
                Ok(JsonBody(parsed))
            } else {
                Err(ApiError::Validation(errors))
            }
        })
    }
}

/// A JSON request body with its validation errors kept, not raised.
#[derive(Debug)]
pub struct JsonChecked<T>(pub T, pub Vec<FieldError>);

impl<T> FromRequest for JsonChecked<T>
where
    T: DeserializeOwned + Validate + ToSchema + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = read_json(req, payload);
        Box::pin(async move {
            let bytes = raw.await?;
            parse_body_checked::<T>(&bytes).map(|(t, e)| JsonChecked(t, e))
        })
    }
}

/// The bytes of a JSON body, its content type and size checked.
fn read_json(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::BytesMut, ApiError>> {
    read_body(
        req,
        payload,
        is_json_content_type(req),
        "application/json",
        BODY_LIMIT,
    )
}

/// The bytes of a body of the expected media type, at most `limit` of them.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    content_type_ok: bool,
    expected: &'static str,
    limit: usize,
) -> LocalBoxFuture<'static, Result<web::BytesMut, ApiError>> {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType {
                detail: format!("send the body as `Content-Type: {expected}`"),
            });
        }
        if declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest {
                code: "unreadable_body",
                detail: format!("the request body could not be read: {e}"),
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

/// A CSV request body (`Content-Type: text/csv`), up to an import's size:
/// UTF-8 text (a leading byte-order mark dropped) without NUL, which
/// Postgres cannot store.
#[derive(Debug)]
pub struct CsvBody(pub String);

impl FromRequest for CsvBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_csv = matches!(
            req.mime_type(),
            Ok(Some(m)) if m.type_() == "text" && m.subtype() == "csv"
        );
        let raw = read_body(
            req,
            payload,
            is_csv,
            "text/csv",
            prm_domain::import::MAX_BYTES,
        );
        Box::pin(async move {
            let bytes = raw.await?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::validation("body", "is not UTF-8 text"))?;
            if text.contains('\0') {
                return Err(ApiError::validation("body", NUL_REFUSED));
            }
            Ok(CsvBody(match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_owned(),
                None => text,
            }))
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(m)) => {
            (m.type_() == "application")
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

/// Parses a JSON body, reporting every failing field it can: syntax,
/// required fields and types fail at once; validation errors are returned
/// beside the value, for a use case that reports them with its own rules'
/// in one 422.
pub fn parse_body_checked<T>(bytes: &[u8]) -> Result<(T, Vec<FieldError>), ApiError>
where
    T: DeserializeOwned + Validate + ToSchema + 'static,
{
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {e}"),
        })?;
    parse_value_checked(value)
}

/// [`parse_body_checked`] on a body already read as JSON (an imported row).
pub fn parse_value_checked<T>(value: serde_json::Value) -> Result<(T, Vec<FieldError>), ApiError>
where
    T: DeserializeOwned + Validate + ToSchema + 'static,
{
    let Some(object) = value.as_object() else {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            detail: "the body must be a JSON object".to_owned(),
        });
    };
    let mut refused: Vec<FieldError> = required_fields::<T>()
        .iter()
        .filter(|f| !object.contains_key(f.as_str()))
        .map(|f| FieldError::new(f.clone(), "is required"))
        .collect();
    nul_fields(&value, &mut String::new(), &mut refused);
    refused_nulls::<T>(&value, &mut refused);
    if !refused.is_empty() {
        return Err(ApiError::Validation(refused));
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::validation(field, e.into_inner().to_string())
    })?;
    let errors = match parsed.validate() {
        Ok(()) => Vec::new(),
        Err(e) => flatten_validation(&e),
    };
    Ok((parsed, errors))
}

/// What a field holding text Postgres cannot store is told. Postgres
/// refuses the NUL character in text, so every body and query string is
/// checked for it here, before anything reads it, instead of field by field.
const NUL_REFUSED: &str = "must not contain the NUL character (\\u0000)";

/// Adds a `NUL_REFUSED` error for every string in `value` (at `path`) that
/// holds a NUL, naming it as the other errors do: `contact.name`,
/// `product_lines[0]`.
fn nul_fields(value: &serde_json::Value, path: &mut String, out: &mut Vec<FieldError>) {
    use serde_json::Value;
    let here = path.len();
    match value {
        Value::String(s) if s.contains('\0') => {
            out.push(FieldError::new(path.clone(), NUL_REFUSED))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                nul_fields(item, path, out);
                path.truncate(here);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&name.replace('\0', "\\u0000"));
                if name.contains('\0') {
                    out.push(FieldError::new(path.clone(), NUL_REFUSED));
                } else {
                    nul_fields(item, path, out);
                }
                path.truncate(here);
            }
        }
        _ => {}
    }
}

/// What a field sent as `null` is told when its schema is not nullable.
pub const NULL_REFUSED: &str = "cannot be cleared: leave it out to keep it, or send a value";

/// Adds a `NULL_REFUSED` error for every optional field of the body (nested
/// objects included) sent as `null` that its documented schema does not
/// allow to be `null`. So `null` clears exactly the fields the document
/// declares nullable, in every body, instead of being read as "absent" by
/// serde and silently ignored.
fn refused_nulls<T: ToSchema>(value: &serde_json::Value, out: &mut Vec<FieldError>) {
    if !holds_null(value) {
        return;
    }
    let mut named = Vec::new();
    T::schemas(&mut named);
    let schemas = Schemas(named);
    nulls_against(&schemas, &T::schema(), value, &mut String::new(), out);
}

fn holds_null(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Object(fields) => fields.values().any(holds_null),
        _ => false,
    }
}

/// The component schemas a body refers to, by name.
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// The schema itself: a reference followed to its component.
    fn resolve<'s>(&'s self, schema: &'s RefOr<Schema>) -> Option<&'s Schema> {
        let mut schema = schema;
        for _ in 0..8 {
            match schema {
                RefOr::T(s) => return Some(s),
                RefOr::Ref(r) => {
                    let name = r.ref_location.rsplit('/').next()?;
                    schema = &self.0.iter().find(|(n, _)| n == name)?.1;
                }
            }
        }
        None
    }

    fn allows_null(&self, schema: &RefOr<Schema>) -> bool {
        let nullable = |t: &SchemaType| match t {
            SchemaType::AnyValue => true,
            SchemaType::Type(t) => *t == Type::Null,
            SchemaType::Array(types) => types.contains(&Type::Null),
        };
        match self.resolve(schema) {
            Some(Schema::Object(o)) => nullable(&o.schema_type),
            Some(Schema::Array(a)) => nullable(&a.schema_type),
            Some(Schema::OneOf(one)) => one.items.iter().any(|s| self.allows_null(s)),
            Some(Schema::AnyOf(any)) => any.items.iter().any(|s| self.allows_null(s)),
            // Unknown shapes are left to serde.
            _ => true,
        }
    }

    /// The object schema a non-null value is checked against: the schema,
    /// or the one non-null alternative of a nullable `oneOf`.
    fn object<'s>(&'s self, schema: &'s RefOr<Schema>) -> Option<&'s utoipa::openapi::Object> {
        match self.resolve(schema)? {
            Schema::Object(o) => Some(o),
            Schema::OneOf(one) => {
                let mut objects = one.items.iter().filter_map(|s| match self.resolve(s) {
                    Some(Schema::Object(o)) if !o.properties.is_empty() => Some(o),
                    _ => None,
                });
                let first = objects.next();
                objects.next().is_none().then_some(first).flatten()
            }
            _ => None,
        }
    }
}

fn nulls_against(
    schemas: &Schemas,
    schema: &RefOr<Schema>,
    value: &serde_json::Value,
    path: &mut String,
    out: &mut Vec<FieldError>,
) {
    let (Some(object), serde_json::Value::Object(fields)) = (schemas.object(schema), value) else {
        return;
    };
    let here = path.len();
    for (name, item) in fields {
        let Some(property) = object.properties.get(name) else {
            continue;
        };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        if item.is_null() {
            // A required field's `null` is refused by serde as a wrong type.
            if !object.required.contains(name) && !schemas.allows_null(property) {
                out.push(FieldError::new(path.clone(), NULL_REFUSED));
            }
        } else {
            nulls_against(schemas, property, item, path, out);
        }
        path.truncate(here);
    }
}

type Names = std::sync::Arc<[String]>;
type NamesByType =
    std::sync::OnceLock<std::sync::RwLock<std::collections::HashMap<std::any::TypeId, Names>>>;

/// `build`'s names for the type `T`, worked out once per process and kept
/// in `table`: composing a type's documentation builds its whole document
/// fragment (descriptions, examples), too much to do on every request.
fn once_per_type<T: 'static>(table: &'static NamesByType, build: impl FnOnce() -> Names) -> Names {
    let lists = table.get_or_init(Default::default);
    let key = std::any::TypeId::of::<T>();
    if let Some(found) = lists.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return found.clone();
    }
    let names = build();
    lists
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, names.clone());
    names
}

/// The body's required fields, from its documented schema.
fn required_fields<T: PartialSchema + 'static>() -> Names {
    static TABLE: NamesByType = std::sync::OnceLock::new();
    once_per_type::<T>(&TABLE, || match T::schema() {
        RefOr::T(Schema::Object(o)) => o.required.into(),
        _ => std::sync::Arc::new([]),
    })
}

/// The query's list parameters (documented as arrays), from its documented
/// parameters.
fn list_parameters<T: utoipa::IntoParams + 'static>() -> Names {
    use utoipa::openapi::path::ParameterIn;
    static TABLE: NamesByType = std::sync::OnceLock::new();
    once_per_type::<T>(&TABLE, || {
        T::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .filter(|p| matches!(p.schema, Some(RefOr::T(Schema::Array(_)))))
            .map(|p| p.name)
            .collect()
    })
}

/// Turns validator's nested errors into a flat list of `field.path` entries.
pub fn flatten_validation(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    flatten_into(errors, "", &mut out);
    // One entry per field: its first failing check says what is wrong.
    prm_domain::error::one_per_field(out)
}

fn flatten_into(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError::new(path.clone(), describe(e)));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_into(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten_into(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    if let Some(m) = &e.message {
        return m.to_string();
    }
    let p = |k: &str| e.params.get(k).map(ToString::to_string);
    match e.code.as_ref() {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("length must be from {min} to {max}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            _ => "has the wrong length".to_owned(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be from {min} to {max}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            _ => "is out of range".to_owned(),
        },
        "email" => "must be an e-mail address".to_owned(),
        other => format!("is invalid ({other})"),
    }
}

/// A query string, deserialized field by field and validated.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T> FromRequest for QueryParams<T>
where
    T: DeserializeOwned + Validate + utoipa::IntoParams + 'static,
{
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        let result = match joined_lists::<T>(query) {
            Some(joined) => parse_query(&joined),
            None => parse_query(query),
        };
        ready(result.map(QueryParams))
    }
}

/// A list parameter is documented as one comma-separated value
/// (`style: form, explode: false`: `status=delivered,accepted`). Generated
/// clients that ignore `explode` repeat the name instead
/// (`status=delivered&status=accepted`); such a query is read as the
/// comma-separated one. `None` when no list parameter repeats.
fn joined_lists<T: utoipa::IntoParams + 'static>(query: &str) -> Option<String> {
    let documented = list_parameters::<T>();
    if documented.is_empty() {
        return None;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let lists: Vec<String> = documented
        .iter()
        .filter(|name| pairs.iter().filter(|(k, _)| k == *name).count() > 1)
        .cloned()
        .collect();
    if lists.is_empty() {
        return None;
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut done: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        if !lists.contains(key) {
            out.append_pair(key, value);
        } else if !done.contains(&key.as_str()) {
            let values: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            out.append_pair(key, &values.join(","));
            done.push(key);
        }
    }
    Some(out.finish())
}

pub fn parse_query<T: DeserializeOwned + Validate>(query: &str) -> Result<T, ApiError> {
    // A NUL reaches a query only percent-encoded; most queries have none,
    // and are not decoded twice.
    if query.contains("%00") {
        let nul: Vec<FieldError> = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, value)| name.contains('\0') || value.contains('\0'))
            .map(|(name, _)| FieldError::new(name.replace('\0', "\\u0000"), NUL_REFUSED))
            .collect();
        if !nul.is_empty() {
            return Err(ApiError::Validation(nul));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let parsed: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "query".to_owned()
        } else {
            path
        };
        ApiError::validation(field, e.into_inner().to_string())
    })?;
    parsed
        .validate()
        .map_err(|e| ApiError::Validation(flatten_validation(&e)))?;
    Ok(parsed)
}

/// The `If-Match` precondition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: the write is not conditional.
    Absent,
    /// `*`: any current version.
    Any,
    /// The versions the client last saw; an unparsable header matches none.
    Versions(Vec<i32>),
}

impl IfMatch {
    pub fn parse(value: Option<&str>) -> Self {
        let Some(v) = value else {
            return IfMatch::Absent;
        };
        if v.trim() == "*" {
            return IfMatch::Any;
        }
        IfMatch::Versions(
            v.split(',')
                .filter_map(|tag| {
                    let tag = tag.trim();
                    // A weak validator never matches for a write (RFC 9110 13.1.1).
                    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
                })
                .collect(),
        )
    }

    /// Whether a write on the resource at `current` may go ahead.
    pub fn matches(&self, current: i32) -> bool {
        match self {
            IfMatch::Absent | IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&current),
        }
    }

    /// The oldest version the client named, if it named one.
    pub fn oldest(&self) -> Option<i32> {
        match self {
            IfMatch::Versions(v) => v.iter().copied().min(),
            IfMatch::Absent | IfMatch::Any => None,
        }
    }

    /// 412 unless the current version is one the client named. (An
    /// opportunity's is checked by `service::opportunities::check_version`,
    /// which also names the fields changed since.)
    pub fn check(&self, current: i32) -> Result<(), ApiError> {
        if self.matches(current) {
            Ok(())
        } else {
            Err(ApiError::VersionMismatch {
                current,
                changed_fields: None,
            })
        }
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req
            .headers()
            .get(header::IF_MATCH)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        ready(Ok(IfMatch::parse(value)))
    }
}

/// The one declaration of the `If-Match` header every conditional write
/// takes: `params(IfMatch)` in a path's `#[utoipa::path]`.
impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{Required, Type};
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .description(Some("ETag last seen; 412 if stale"))
                .required(Required::False)
                .schema(Some(utoipa::openapi::ObjectBuilder::new().schema_type(
                    utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]),
                )))
                .build(),
        ]
    }
}

/// The strong ETag of a resource at a version.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_strong_tags_and_star() {
        assert_eq!(IfMatch::parse(Some("\"3\"")).check(3).ok(), Some(()));
        assert!(IfMatch::parse(Some("\"3\"")).check(4).is_err());
        assert!(IfMatch::parse(Some("W/\"3\"")).check(3).is_err());
        assert!(IfMatch::parse(Some("*")).check(9).is_ok());
        assert!(IfMatch::parse(Some("\"1\", \"2\"")).check(2).is_ok());
        assert!(IfMatch::parse(Some("garbage")).check(1).is_err());
        assert!(IfMatch::parse(None).check(1).is_ok());
        assert_eq!(IfMatch::parse(Some("\"4\", \"2\"")).oldest(), Some(2));
        assert_eq!(IfMatch::parse(Some("*")).oldest(), None);
        assert_eq!(IfMatch::parse(Some("garbage")).oldest(), None);
    }
}
