//! The OpenAPI document: metadata here, paths collected from the handlers by
//! utoipa-actix-web, then the responses every operation shares (problem
//! bodies for 400/401/403/404/412/413/415/422/500/503) and bearer security
//! added in one pass so no handler can forget them.

use utoipa::OpenApi;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Response, ResponseBuilder, Type};

use crate::error::{PROBLEM_CONTENT_TYPE, Problem, ProblemField};
use crate::extract::BODY_LIMIT;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "prm — partner opportunity management API",
        description = "Headless API with which a vendor runs the opportunity side of its partner \
program: channel managers create and distribute opportunities; partners (distributors and \
resellers) accept, work, report progress and close them, bring their own for approval and \
register deals.\n\n\
Conventions: JSON bodies with snake_case fields, UUID ids, RFC 3339 UTC timestamps, money as \
`{\"amount\": \"12500.00\", \"currency\": \"EUR\"}` (decimal string). Lists use cursor \
pagination (`limit` 1–200, default 50; `cursor` = the previous page's `next_cursor`). Every \
single resource carries `version` and an `ETag`; writes accept `If-Match` and answer 412 \
when it is stale. Every error is `application/problem+json` with a stable `code`. Request \
bodies are limited to 65536 bytes.",
        license(name = "Proprietary")
    ),
    tags(
        (name = "me", description = "The caller"),
        (name = "orgs", description = "The vendor, distributors and resellers, with assignment profiles"),
        (name = "users", description = "Mapping of identity-provider subjects to orgs and roles"),
        (name = "customers", description = "End-customer accounts held by orgs"),
        (name = "opportunities", description = "Sales opportunities: create, read, list, edit"),
        (name = "lifecycle", description = "Actions that move an opportunity through its statuses; each answers the opportunity with its new `allowed_actions`"),
        (name = "activity", description = "Progress entries (append-only), notes and the timeline"),
        (name = "deal-registrations", description = "Partners' claims to exclusivity, decided by the vendor"),
        (name = "marketing-tasks", description = "Vendor campaigns that opportunities come from"),
        (name = "policies", description = "The vendor's acceptance, extension, exclusivity and ranking policy"),
        (name = "dashboard", description = "Figures shaped by the caller's role"),
        (name = "imports", description = "Customers and opportunities created in bulk from CSV, in the background, each row as its single create"),
        (name = "notifications", description = "The event feed and signed webhooks. A delivery is `POST` of `{\"id\", \"type\", \"created_at\", \"data\"}` with `Prm-Event-Id` and `Prm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" under the secret>`; retried with exponential backoff, at least once, same event id."),
        (name = "operations", description = "Health probes"),
    ),
    components(schemas(Problem, ProblemField))
)]
#[derive(Debug)]
pub struct ApiDoc;

const SHARED: &[(&str, &str, &str)] = &[
    (
        "BadRequest",
        "400",
        "Malformed request: bad JSON, or a path parameter that is not a UUID",
    ),
    (
        "Unauthorized",
        "401",
        "Missing, invalid or expired bearer token, or an unknown subject",
    ),
    (
        "Forbidden",
        "403",
        "Visible but not allowed to the caller, or the caller's user or org is deactivated",
    ),
    ("NotFound", "404", "Absent, or not visible to the caller"),
    (
        "PreconditionFailed",
        "412",
        "`If-Match` does not match the current version; nothing changed",
    ),
    ("PayloadTooLarge", "413", "The body exceeds 65536 bytes"),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not `application/json`",
    ),
    (
        "ValidationFailed",
        "422",
        "Invalid input; `errors` lists every failing field",
    ),
    (
        "InternalError",
        "500",
        "Unexpected failure; logged, details withheld",
    ),
    (
        "ServiceUnavailable",
        "503",
        "The database is unavailable; retry after `Retry-After` seconds",
    ),
];

fn shared_response(name: &str, description: &str) -> Response {
    let mut b = ResponseBuilder::new().description(description).content(
        PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    let string = || Object::with_type(Type::String);
    if name == "Unauthorized" {
        b = b.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(string())
                .description(Some(
                    "`Bearer realm=\"prm\"`, with `error=\"invalid_token\"` for a bad token",
                ))
                .build(),
        );
    }
    if name == "ServiceUnavailable" {
        b = b.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(string())
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    b.build()
}

fn add(op: &mut Operation, status: &str) {
    let name = SHARED
        .iter()
        .find(|(_, s, _)| *s == status)
        .map_or("InternalError", |(n, _, _)| *n);
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

/// Adds security, shared responses and the bearer scheme to the collected
/// document.
pub fn finalize(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    debug_assert_eq!(BODY_LIMIT, 65536, "update the limit in the document's text");
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("A JWT from the identity provider; `sub` names a user"))
                .build(),
        ),
    );
    for (name, _, description) in SHARED {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(shared_response(name, description)),
        );
    }

    for (path, item) in api.paths.paths.iter_mut() {
        let is_api = path.starts_with("/api/v1");
        let has_path_params = path.contains('{');
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops {
            let Some(op) = op.as_mut() else { continue };
            if is_api {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
                add(op, "401");
                add(op, "403");
                add(op, "503");
            }
            if has_path_params {
                add(op, "400");
                add(op, "404");
            }
            if op.request_body.is_some() {
                for s in ["400", "413", "415", "422"] {
                    add(op, s);
                }
            }
            let has_query = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query))
            });
            if has_query {
                add(op, "422");
            }
            let has_if_match = op
                .parameters
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p.name == "If-Match"));
            if has_if_match {
                add(op, "412");
            }
            add(op, "500");
        }
        if is_api && let Some(op) = item.post.as_mut() {
            add_idempotency(op);
        }
    }
    add_csv_exports(&mut api);
    api
}

/// Every list (a `GET` answering a page) also answers `text/csv` (API.md,
/// "Bulk"): its columns, as the export writes them, are the flattened item
/// schema, shown as the example header.
fn add_csv_exports(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Schema;
    let Some(components) = api.components.as_ref() else {
        return;
    };
    let schemas = &components.schemas;
    let lookup = |name: &str| schemas.get(name);
    let mut headers = Vec::new();
    for (path, item) in &api.paths.paths {
        let Some(RefOr::T(ok)) = item
            .get
            .as_ref()
            .and_then(|op| op.responses.responses.get("200"))
        else {
            continue;
        };
        let Some(RefOr::Ref(page)) = ok
            .content
            .get("application/json")
            .and_then(|c| c.schema.as_ref())
        else {
            continue;
        };
        let name = page.ref_location.rsplit('/').next().unwrap_or_default();
        let Some(RefOr::T(Schema::Object(page))) = schemas.get(name) else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(items))) = page.properties.get("items") else {
            continue;
        };
        let utoipa::openapi::schema::ArrayItems::RefOrSchema(item) = &items.items else {
            continue;
        };
        if !page.properties.contains_key("next_cursor") {
            continue;
        }
        let columns = crate::routes::csv::schema_columns(item, &lookup);
        headers.push((path.clone(), columns.join(",")));
    }
    for (path, header) in headers {
        let Some(op) = api.paths.paths.get_mut(&path).and_then(|i| i.get.as_mut()) else {
            continue;
        };
        let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") else {
            continue;
        };
        ok.content.insert(
            crate::routes::csv::CSV_CONTENT_TYPE
                .split(';')
                .next()
                .unwrap_or("text/csv")
                .to_owned(),
            ContentBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some(
                            "With `Accept: text/csv`: every page of the list (same filters, \
                             visibility and masking; `limit` does not apply; `cursor` starts \
                             after a position), streamed as RFC 4180 CSV with a header row. \
                             Nested fields are dotted columns (money as `.amount` and \
                             `.currency`), lists and objects are JSON, a cell that a \
                             spreadsheet would take for a formula starts with `'`.",
                        )),
                ))
                .example(Some(serde_json::Value::String(format!("{header}\r\n"))))
                .build(),
        );
    }
}

/// Every POST takes `Idempotency-Key`; a retry with the same key and body
/// returns the first response, the same key with another body is a 422, and
/// one still running is a 409.
fn add_idempotency(op: &mut Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn as In};
    use utoipa::openapi::{ObjectBuilder, Required};
    let param = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(In::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key and body within 24 h return the first response \
             (with `Idempotency-Replayed: true`) and do nothing again; the same key with another \
             body is a 422; while the first is still running a retry is a 409. Keys are per caller. \
             The work and the stored answer commit together: after a failure, a retry replays \
             the answer or performs the request, once.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(param);
    add(op, "409");
    add(op, "422");
}
