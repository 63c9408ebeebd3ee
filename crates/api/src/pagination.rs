//! Cursor pagination: opaque cursors over a stable key, `limit` 1..=200.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::WriteJson;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `Page<X>` is documented as `Page_X`, whose `items` refer to `X`'s own
/// schema, so a client generated from the document has one class for an
/// item in a list and the same resource in a `GET`. utoipa's derive inlines
/// a type parameter's whole schema instead (juhaku/utoipa#1586), so the
/// schema is written here, once for every list.
impl<T: ToSchema> utoipa::__dev::ComposeSchema for Page<T> {
    fn compose(_inlined: Vec<RefOr<Schema>>) -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("One page of a list."))
            .property(
                "items",
                ArrayBuilder::new().items(Ref::from_schema_name(T::name())),
            )
            .required("items")
            .property(
                "next_cursor",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some(
                        "Pass as `cursor` to get the next page; `null` on the last page.",
                    )),
            )
            .required("next_cursor")
            .into()
    }
}

impl<T: ToSchema> ToSchema for Page<T> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Page")
    }

    /// The item's schema and what it refers to: a list may be the only
    /// operation that returns its items.
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

impl<T: ToSchema + WriteJson> WriteJson for Page<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"items\":");
        self.items.write_json(out);
        out.extend_from_slice(b",\"next_cursor\":");
        self.next_cursor.write_json(out);
        out.push(b'}');
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .map(Some)
        .ok_or_else(|| ApiError::validation("cursor", "is not a cursor this service issued"))
}

/// Rows to fetch for a page: one more than shown, to learn if another follows.
pub fn fetch_size(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(DEFAULT_LIMIT)) + 1
}

/// An opaque cursor around any position text.
pub fn encode_token(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// The position text inside a cursor from `encode_token`.
pub fn decode_token(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| ApiError::validation("cursor", "is not a cursor this service issued"))
}

/// A cursor at a `(created_at, id)` position, for lists newest first.
pub fn encode_time_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    encode_token(&format!("{}|{id}", at.to_rfc3339()))
}

/// The position inside a cursor from `encode_time_cursor`.
pub fn decode_time_cursor(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    let Some(text) = decode_token(cursor)? else {
        return Ok(None);
    };
    let bad = || ApiError::validation("cursor", "is not a cursor this service issued");
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    Ok(Some((
        at.with_timezone(&Utc),
        id.parse().map_err(|_| bad())?,
    )))
}

/// Cuts the extra row off and builds the page, keyed by id.
pub fn into_page<R, T: ToSchema, E>(
    rows: Vec<R>,
    limit: Option<u32>,
    key: impl Fn(&R) -> Uuid,
    to_dto: impl FnMut(R) -> Result<T, E>,
) -> Result<Page<T>, E> {
    into_page_keyed(rows, limit, |r| encode_cursor(key(r)), to_dto)
}

/// Cuts the extra row off and builds the page; `cursor` makes the cursor
/// that continues after a row.
pub fn into_page_keyed<R, T: ToSchema, E>(
    mut rows: Vec<R>,
    limit: Option<u32>,
    cursor: impl Fn(&R) -> String,
    to_dto: impl FnMut(R) -> Result<T, E>,
) -> Result<Page<T>, E> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    };
    Ok(Page {
        items: crate::service::map_rows(rows, to_dto)?,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(Some(&encode_cursor(id))).unwrap(), Some(id));
        assert!(decode_cursor(Some("not-a-cursor")).is_err());
        assert_eq!(decode_cursor(None).unwrap(), None);
    }

    #[test]
    fn time_cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        let at = Utc::now();
        let cursor = encode_time_cursor(at, id);
        assert_eq!(decode_time_cursor(Some(&cursor)).unwrap(), Some((at, id)));
        assert!(decode_time_cursor(Some(&encode_token("yesterday|x"))).is_err());
        assert!(decode_time_cursor(Some(&encode_cursor(id))).is_err());
        assert_eq!(decode_time_cursor(None).unwrap(), None);
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let p = into_page(ids.clone(), Some(2), |u| *u, |u| Ok::<_, ()>(u.to_string())).unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.next_cursor, Some(encode_cursor(ids[1])));
        let p = into_page(ids, Some(3), |u| *u, |u| Ok::<_, ()>(u.to_string())).unwrap();
        assert!(p.next_cursor.is_none());
    }
}
