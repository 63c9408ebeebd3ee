//! The one error type of the domain: what a rule says when it refuses.

use thiserror::Error;

/// One failing field of a request, as listed in a 422 problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every failing field once, in field order, with its first message: what a
/// 422 lists.
pub fn one_per_field(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.dedup_by(|a, b| a.field == b.field);
    errors
}

/// Why the domain refused something. Each variant maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The caller may see the resource but may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The resource is absent or the caller may not see it (404).
    #[error("not found")]
    NotFound,
    /// The action is not allowed in the resource's current status (409).
    #[error("cannot {action} an opportunity that is {status}")]
    InvalidTransition {
        status: String,
        action: String,
        allowed: Vec<String>,
    },
    /// A state conflict other than a transition, e.g. a customer already held (409).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Something that must be unique already exists; its id is named (409).
    #[error("{detail}")]
    Duplicate {
        code: &'static str,
        detail: String,
        existing_id: uuid::Uuid,
    },
    /// Input that breaks a rule; every failing field is listed (422).
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }
}

/// Collects field errors so a request reports every failing field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Runs a parse and keeps its value, or records its message under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
