//! Black-box tests of the HTTP API: the real app on port 0, a real Postgres
//! database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod batch;
mod concurrency;
mod contract;
mod customers;
mod deals;
mod distribution;
mod errors;
mod export;
mod external_refs;
mod feed;
mod health;
mod history;
mod idempotency;
mod imports;
mod input;
mod invariants;
mod lifecycle;
mod notifications;
mod openapi;
mod operations;
mod opportunities;
mod orgs;
mod queue;
mod reasons;
mod self_description;
mod startup;
mod sweep;
mod tasks_and_dashboards;
mod traces;
mod users;
mod world;
