//! The HTTP face of prm: configuration, authentication, extractors, errors
//! as problem+json, handlers, the OpenAPI document and server start-up.

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod invalidation;
pub mod json;
pub mod jwks;
pub mod jwt;
pub mod observe;
pub mod openapi;
pub mod otlp;
pub mod pagination;
pub mod queue;
pub mod routes;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod trace;
pub mod webhook_send;
pub mod worker;

/// Sets up JSON logs on stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}
