//! The OpenAPI document: metadata here, paths collected from the handlers by
//! utoipa-actix-web, then the responses every operation shares (problem
//! bodies for 400/401/403/404/412/413/415/422/500/503) and bearer security
//! added in one pass so no handler can forget them.

use utoipa::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::path::{PathItem, Paths};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Response, ResponseBuilder, Type};

use prm_domain::FieldError;

use crate::error::{ApiError, PROBLEM_CONTENT_TYPE, Problem, ProblemField};
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
bodies are limited to 65536 bytes. Every response carries `X-Request-Id` (the caller's, when \
usable) and a W3C `traceparent` naming the request's own span, in the caller's trace when it \
sent a valid `traceparent` (and its `tracestate`, passed back unchanged).",
        license(name = "Proprietary", identifier = "LicenseRef-Proprietary"),
        contact(name = "prm maintainers")
    ),
    // Relative: the server that serves this document (Swagger UI's "Try it
    // out" calls the same origin). Generated clients are given their base
    // URL, locally `http://127.0.0.1:8080`.
    servers((url = "/", description = "The server that serves this document")),
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

/// A response every operation of a kind shares: its component name, status,
/// description, and the error it documents, whose problem body (as the
/// service writes it) is the response's example.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
    example: fn() -> ApiError,
}

const SHARED: &[Shared] = &[
    Shared {
        name: "BadRequest",
        status: "400",
        description: "Malformed request: bad JSON, or a path parameter that is not a UUID",
        example: || ApiError::BadRequest {
            code: "malformed_json",
            detail: "the body is not valid JSON: EOF while parsing an object at line 1 column 9"
                .to_owned(),
        },
    },
    Shared {
        name: "Unauthorized",
        status: "401",
        description: "Missing, invalid or expired bearer token, or an unknown subject",
        example: || ApiError::Unauthorized {
            code: "invalid_token",
            detail: "the token has expired".to_owned(),
        },
    },
    Shared {
        name: "Forbidden",
        status: "403",
        description: "Visible but not allowed to the caller, or the caller's user or org is deactivated",
        example: || ApiError::Forbidden {
            code: "forbidden",
            detail: "the vendor_viewer role is read-only".to_owned(),
        },
    },
    Shared {
        name: "NotFound",
        status: "404",
        description: "Absent, or not visible to the caller",
        example: || ApiError::NotFound,
    },
    Shared {
        name: "Conflict",
        status: "409",
        description: "A request with this `Idempotency-Key` is still being processed; retry later",
        example: || ApiError::Conflict {
            code: "idempotency_key_in_flight",
            detail: "a request with this Idempotency-Key is still being processed".to_owned(),
        },
    },
    Shared {
        name: "PreconditionFailed",
        status: "412",
        description: "`If-Match` does not match the current version; nothing changed",
        example: || ApiError::VersionMismatch {
            current: 7,
            changed_fields: Some(vec!["topic".to_owned(), "status".to_owned()]),
        },
    },
    Shared {
        name: "PayloadTooLarge",
        status: "413",
        description: "The body exceeds 65536 bytes",
        example: || ApiError::PayloadTooLarge { limit: BODY_LIMIT },
    },
    Shared {
        name: "UnsupportedMediaType",
        status: "415",
        description: "The body is not `application/json`",
        example: || ApiError::UnsupportedMediaType {
            detail: "send the body as `Content-Type: application/json`".to_owned(),
        },
    },
    Shared {
        name: "ValidationFailed",
        status: "422",
        description: "Invalid input; `errors` lists every failing field",
        example: || {
            ApiError::Validation(vec![
                FieldError::new("topic", "must not be blank"),
                FieldError::new(
                    "estimated_revenue.currency",
                    "`EURO` is not an active ISO 4217 currency code",
                ),
            ])
        },
    },
    Shared {
        name: "InternalError",
        status: "500",
        description: "Unexpected failure; logged, details withheld",
        example: || ApiError::Internal(String::new()),
    },
    Shared {
        name: "ServiceUnavailable",
        status: "503",
        description: "The database is unavailable; retry after `Retry-After` seconds",
        example: || ApiError::Unavailable(String::new()),
    },
];

fn shared_response(shared: &Shared) -> Response {
    let Shared {
        name, description, ..
    } = shared;
    let example = serde_json::to_value((shared.example)().problem()).ok();
    let mut b = ResponseBuilder::new().description(*description).content(
        PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .example(example)
            .build(),
    );
    let string = || Object::with_type(Type::String);
    if *name == "Unauthorized" {
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
    if *name == "ServiceUnavailable" {
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

/// Adds the shared response of `status` unless the operation documents its
/// own.
fn add(op: &mut Operation, status: &str) {
    let Some(shared) = SHARED.iter().find(|shared| shared.status == status) else {
        debug_assert!(false, "no shared response for {status}");
        return;
    };
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(shared.name)));
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
    for shared in SHARED {
        components
            .responses
            .insert(shared.name.to_owned(), RefOr::T(shared_response(shared)));
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
        for op in operations(item) {
            summarize(op);
        }
    }
    add_links(&mut api.paths);
    add_csv_exports(&mut api);
    api
}

/// Every list (a `GET` answering a page) also answers `text/csv` (API.md,
/// "Bulk"): its columns, as the export writes them, are the flattened item
/// schema, shown as the example header.
/// The item schema of a list's JSON body: a page (`items` beside
/// `next_cursor`), or a plain array.
fn list_item<'s>(
    body: &'s RefOr<utoipa::openapi::schema::Schema>,
    lookup: &dyn Fn(&str) -> Option<&'s RefOr<utoipa::openapi::schema::Schema>>,
) -> Option<&'s RefOr<utoipa::openapi::schema::Schema>> {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    let items = |array: &'s utoipa::openapi::schema::Array| match &array.items {
        ArrayItems::RefOrSchema(item) => Some(item.as_ref()),
        ArrayItems::False => None,
    };
    match body {
        RefOr::T(Schema::Array(array)) => items(array),
        RefOr::Ref(r) => match lookup(r.ref_location.rsplit('/').next()?)? {
            RefOr::T(Schema::Object(page)) if page.properties.contains_key("next_cursor") => {
                match page.properties.get("items")? {
                    RefOr::T(Schema::Array(array)) => items(array),
                    _ => None,
                }
            }
            _ => None,
        },
        RefOr::T(_) => None,
    }
}

fn add_csv_exports(api: &mut utoipa::openapi::OpenApi) {
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
        let Some(body) = ok
            .content
            .get("application/json")
            .and_then(|c| c.schema.as_ref())
        else {
            continue;
        };
        let Some(item) = list_item(body, &lookup) else {
            continue;
        };
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

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// utoipa makes a handler's whole first doc paragraph its `summary`; a
/// summary is a title, so it becomes the first sentence, and the paragraph
/// the `description`.
fn summarize(op: &mut Operation) {
    if op.description.is_some() {
        return;
    }
    let Some(text) = op.summary.take() else {
        return;
    };
    let line = text.replace('\n', " ");
    op.summary = Some(first_sentence(&line).to_owned());
    op.description = Some(text);
}

/// Up to the first `. ` or `: ` outside parentheses and code, without its
/// full stop.
fn first_sentence(text: &str) -> &str {
    let (mut depth, mut code) = (0_u32, false);
    for (i, c) in text.char_indices() {
        match c {
            '`' => code = !code,
            '(' if !code => depth += 1,
            ')' if !code => depth = depth.saturating_sub(1),
            '.' | ':' if !code && depth == 0 && text[i + 1..].starts_with(' ') => {
                return &text[..i];
            }
            _ => {}
        }
    }
    text.trim_end_matches('.')
}

/// The `$ref` of a response's JSON body, if it names a schema.
fn body_ref(response: Option<&RefOr<Response>>) -> Option<&str> {
    let RefOr::T(response) = response? else {
        return None;
    };
    match response.content.get("application/json")?.schema.as_ref()? {
        RefOr::Ref(r) => Some(r.ref_location.as_str()),
        RefOr::T(_) => None,
    }
}

/// OpenAPI links from each create (a `POST` answering 201 with a body that
/// has an `id`) to every operation on what it created: the operations under
/// `<collection>/{id}` whose only path parameter is `id`.
/// A create's collection is its own path or that of the `GET` returning the
/// same schema (`POST …/deal-registration` → `/deal-registrations/{id}`).
/// Clients, and schemathesis' stateful phase, follow them to chain calls;
/// endpoints added later are linked without listing them here.
fn add_links(paths: &mut Paths) {
    fn only_id_parameter(path: &str) -> bool {
        path.split('{')
            .skip(1)
            .map(|p| p.split('}').next())
            .eq([Some("id")])
    }
    let targets: Vec<(String, String)> = paths
        .paths
        .iter_mut()
        .filter(|(path, _)| only_id_parameter(path))
        .flat_map(|(path, item)| {
            operations(item)
                .filter_map(|op| op.operation_id.clone())
                .map(|id| (path.clone(), id))
                .collect::<Vec<_>>()
        })
        .collect();
    let readers: Vec<(String, String)> = paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let collection = path.strip_suffix("/{id}")?;
            let schema = body_ref(item.get.as_ref()?.responses.responses.get("200"))?;
            Some((schema.to_owned(), collection.to_owned()))
        })
        .collect();
    let on = |collections: &[String], target: &str| {
        collections.iter().any(|c| {
            target
                .strip_prefix(c)
                .and_then(|rest| rest.strip_prefix("/{id}"))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    for (path, item) in paths.paths.iter_mut() {
        if let Some(op) = item.post.as_mut() {
            let schema = body_ref(op.responses.responses.get("201")).map(str::to_owned);
            let collections: Vec<String> = std::iter::once(path.clone())
                .chain(
                    readers
                        .iter()
                        .filter(|(s, _)| Some(s) == schema.as_ref())
                        .map(|(_, c)| c.clone()),
                )
                .collect();
            if let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") {
                for (target, operation_id) in &targets {
                    if on(&collections, target) {
                        link(created, operation_id);
                    }
                }
            }
        }
    }
}

/// A link to `operation_id` on what the response created.
fn link(created: &mut Response, operation_id: &str) {
    // utoipa 5 writes `LinkBuilder::operation_id` as `operation_id`; the
    // field OpenAPI names is `operationId`.
    let named = Extensions::from_iter([("operationId", operation_id)]);
    created.links.insert(
        operation_id.to_owned(),
        RefOr::T(
            LinkBuilder::new()
                .parameter("id", "$response.body#/id")
                .description(format!("`{operation_id}` on what was created"))
                .extensions(Some(named))
                .build(),
        ),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_the_first_sentence_outside_parentheses_and_code() {
        assert_eq!(first_sentence("Get one org."), "Get one org");
        assert_eq!(
            first_sentence("Change an org: the vendor admin any field."),
            "Change an org"
        );
        assert_eq!(
            first_sentence("The policy (every user may read it: partners too). More."),
            "The policy (every user may read it: partners too)"
        );
        assert_eq!(
            first_sentence("Reveal with `?reveal=true: yes`. Recorded."),
            "Reveal with `?reveal=true: yes`"
        );
    }

    #[test]
    fn every_shared_response_example_has_the_status_it_is_shared_for() {
        for shared in SHARED {
            let problem = (shared.example)().problem();
            assert_eq!(problem.status.to_string(), shared.status, "{}", shared.name);
        }
    }
}
