//! The API's one error type and its RFC 9457 `application/problem+json` body.
//! Every error the service sends, actix's own included, has this shape; 5xx
//! causes are logged and never shown to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use prm_domain::{DomainError, FieldError};
use prm_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One failing field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// Path of the field in the request, e.g. `estimated_revenue.amount`.
    #[schema(example = "topic")]
    pub field: String,
    #[schema(example = "must not be blank")]
    pub message: String,
}

/// An RFC 9457 problem document. `code` is stable: clients switch on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI naming the problem type (`urn:prm:problem:<code>`).
    #[schema(example = "urn:prm:problem:validation_failed")]
    #[serde(rename = "type")]
    pub problem_type: String,
    #[schema(example = "Validation failed")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "2 fields failed validation")]
    pub detail: String,
    /// Stable machine-readable code, e.g. `validation_failed`,
    /// `invalid_transition`, `version_mismatch`, `not_found`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Every failing field (empty unless the request was invalid).
    pub errors: Vec<ProblemField>,
    /// For `invalid_transition`: the resource's current status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// For `invalid_transition`: what the caller may do now instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    /// For `version_mismatch`: the resource's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i32>,
    /// For a duplicate (`external_ref_exists`): the id of what already
    /// exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<uuid::Uuid>,
    /// For `version_mismatch` on an opportunity (not given for other
    /// resources): the fields of the opportunity, as its representation
    /// names them, that changed after the version `If-Match` named (the
    /// oldest, when it named several). When that cannot be known (a
    /// version it never had, or one older than the history the service
    /// keeps), every field that can change is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["topic", "status"]))]
    pub changed_fields: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("not found")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    Duplicate {
        code: &'static str,
        detail: String,
        existing_id: uuid::Uuid,
    },
    #[error("cannot {action}: the opportunity is {status}")]
    InvalidTransition {
        status: String,
        action: String,
        allowed: Vec<String>,
    },
    #[error("If-Match does not match the current version {current}")]
    VersionMismatch {
        current: i32,
        /// The fields changed since the version the client sent, where
        /// the resource keeps that history.
        changed_fields: Option<Vec<String>>,
    },
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Duplicate { code, .. } => code,
            ApiError::NotFound => "not_found",
            ApiError::InvalidTransition { .. } => "invalid_transition",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The problem to answer, the cause of a 5xx logged (never shown).
    pub fn logged_problem(&self) -> Problem {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
        self.problem()
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            ApiError::Validation(fields) if fields.len() == 1 => {
                "1 field failed validation".to_owned()
            }
            ApiError::Validation(fields) => format!("{} fields failed validation", fields.len()),
            ApiError::NotFound => "no such resource, or it is not visible to the caller".to_owned(),
            // Never show the cause of a server-side failure.
            ApiError::Unavailable(_) => {
                "the database is unavailable; retry after the indicated delay".to_owned()
            }
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let mut p = problem(status, self.code(), detail);
        match self {
            ApiError::Validation(fields) => {
                p.errors = fields
                    .iter()
                    .map(|f| ProblemField {
                        field: f.field.clone(),
                        message: f.message.clone(),
                    })
                    .collect();
            }
            ApiError::InvalidTransition {
                status, allowed, ..
            } => {
                p.current_status = Some(status.clone());
                p.allowed_actions = Some(allowed.clone());
            }
            ApiError::VersionMismatch {
                current,
                changed_fields,
            } => {
                p.current_version = Some(*current);
                p.changed_fields = changed_fields.clone();
            }
            ApiError::Duplicate { existing_id, .. } => p.existing_id = Some(*existing_id),
            _ => {}
        }
        p
    }
}

/// A problem with no field errors.
pub fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
    Problem {
        problem_type: format!("urn:prm:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.to_owned(),
        errors: Vec::new(),
        current_status: None,
        allowed_actions: None,
        current_version: None,
        existing_id: None,
        changed_fields: None,
    }
}

/// Writes a problem as a response with the problem content type.
pub fn problem_response(p: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
    res.body(serde_json::to_string(p).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. }
            | ApiError::Duplicate { .. }
            | ApiError::InvalidTransition { .. } => StatusCode::CONFLICT,
            ApiError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = problem_response(&self.logged_problem());
        let headers = res.headers_mut();
        match self {
            ApiError::Unauthorized { code, .. } => {
                let v = if *code == "missing_token" {
                    "Bearer realm=\"prm\"".to_owned()
                } else {
                    format!(
                        "Bearer realm=\"prm\", error=\"invalid_token\", error_description=\"{code}\""
                    )
                };
                if let Ok(v) = HeaderValue::from_str(&v) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        res
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Forbidden(detail) => ApiError::Forbidden {
                code: "forbidden",
                detail,
            },
            DomainError::NotFound => ApiError::NotFound,
            DomainError::InvalidTransition {
                status,
                action,
                allowed,
            } => ApiError::InvalidTransition {
                status,
                action,
                allowed,
            },
            DomainError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            DomainError::Duplicate {
                code,
                detail,
                existing_id,
            } => ApiError::Duplicate {
                code,
                detail,
                existing_id,
            },
            DomainError::Invalid(fields) => ApiError::Validation(fields),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<diesel_error::Error> for ApiError {
    fn from(e: diesel_error::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// Re-exported so handlers' transactions can use `?` on Diesel results.
pub mod diesel_error {
    pub use prm_store::diesel_result::Error;
}
