//! The deadline and delivery worker: expires offers past `accept_by`,
//! re-assigns them (and declined ones) when the policy says so, expires deal
//! registrations past `exclusive_until`, and sends webhook deliveries. Each
//! transition is the lifecycle service's, taken by the system actor. It
//! runs inside `prm serve` and alone as `prm worker`; several may run at
//! once — rows are claimed with `FOR UPDATE SKIP LOCKED` (and deliveries
//! with a lease), so no item is handled twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use prm_store::assignment::{
    lock_lapsed_registrations, lock_overdue_offers, lock_pending_reassignments,
};
use prm_store::webhooks::{attempt_failed, claim_due, succeeded};
use prm_store::{Connection, PgConnection, PgPool, StoreError};
use serde_json::json;

use crate::error::ApiError;
use crate::service::imports::{self, RowReader};
use crate::service::{deals, lifecycle};
use crate::webhook_send::{Sent, WebhookSettings, client, send};

/// Items handled per batch and transaction.
const BATCH: i64 = 50;

/// The longest a pass runs imports before the other queues get their turn;
/// a pass that ran import rows is followed by the next one at once.
const IMPORT_BUDGET: Duration = Duration::from_secs(2);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub expired: usize,
    pub reassigned: usize,
    pub registrations_expired: usize,
    pub delivered: usize,
    pub delivery_failures: usize,
    /// Events given their feed position (see `outbox::sequence`).
    pub sequenced: usize,
    /// Import rows run (created or rejected).
    pub imported: usize,
}

pub struct Worker {
    pool: PgPool,
    settings: WebhookSettings,
    http: reqwest::blocking::Client,
    /// How an import's rows become creates (the edge's reading of a row).
    rows: Arc<dyn RowReader>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Runs `each` for every id `lock` returns, in one transaction per batch.
fn batch<Id>(
    conn: &mut PgConnection,
    lock: impl Fn(&mut PgConnection) -> Result<Vec<Id>, StoreError>,
    each: impl Fn(&mut PgConnection, Id) -> Result<bool, ApiError>,
) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let ids = lock(conn)?;
        let mut n = 0;
        for id in ids {
            if each(conn, id)? {
                n += 1;
            }
        }
        Ok(n)
    })
}

impl Worker {
    pub fn new(
        pool: PgPool,
        settings: WebhookSettings,
        rows: Arc<dyn RowReader>,
    ) -> Result<Self, String> {
        let http = client(&settings)?;
        Ok(Self {
            pool,
            settings,
            http,
            rows,
        })
    }

    /// One pass over every queue.
    pub fn tick(&self) -> Result<TickReport, ApiError> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let conn = &mut *conn;
        let now = Utc::now();
        let expired = batch(
            conn,
            |c| Ok(lock_overdue_offers(c, now, BATCH)?),
            lifecycle::expire,
        )?;
        let reassigned = batch(
            conn,
            |c| Ok(lock_pending_reassignments(c, BATCH)?),
            lifecycle::reassign,
        )?;
        let registrations_expired = batch(
            conn,
            |c| Ok(lock_lapsed_registrations(c, now.date_naive(), BATCH)?),
            |c, id| deals::expire(c, id).map(|()| true),
        )?;
        let (delivered, delivery_failures) = self.deliver(conn)?;
        // A reader numbers what has committed too; doing it here keeps each
        // reader's batch small when the feed is read rarely.
        let sequenced = crate::service::webhooks::sequence_feed(conn)?;
        prm_store::idempotency::purge(conn)?;
        let imported = imports::run(conn, self.rows.as_ref(), IMPORT_BUDGET)?;
        Ok(TickReport {
            expired,
            reassigned,
            registrations_expired,
            delivered,
            delivery_failures,
            sequenced,
            imported,
        })
    }

    /// Sends due deliveries. Each is claimed with a lease first, so the HTTP
    /// call happens outside any transaction and no other worker sends it.
    fn deliver(&self, conn: &mut PgConnection) -> Result<(usize, usize), ApiError> {
        let lease = i32::try_from(self.settings.timeout.as_secs() * 2 + 5).unwrap_or(60);
        let claimed = claim_due(conn, 20, lease)?;
        let (mut ok, mut failed) = (0, 0);
        for c in claimed {
            let body = json!({
                "id": c.event.id,
                "type": c.event.type_,
                "created_at": c.event.created_at,
                "data": c.event.data,
            })
            .to_string();
            match send(
                &self.http,
                &self.settings,
                &c.webhook.url,
                &c.webhook.secret,
                c.event.id,
                &body,
            ) {
                Sent::Delivered(code) => {
                    succeeded(conn, c.delivery.id, i32::from(code))?;
                    ok += 1;
                }
                Sent::Failed { status, error } => {
                    // The claim already counted this attempt.
                    let attempts = u32::try_from(c.delivery.attempts).unwrap_or(u32::MAX);
                    let retry_at = (attempts < self.settings.max_attempts).then(|| {
                        let factor = 2u32.saturating_pow(attempts.saturating_sub(1)).min(1800);
                        let delay =
                            (self.settings.retry_base * factor).min(Duration::from_secs(3600));
                        Utc::now()
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::hours(1))
                    });
                    attempt_failed(conn, c.delivery.id, status.map(i32::from), &error, retry_at)?;
                    tracing::warn!(delivery = %c.delivery.id, attempts, error = %error, "webhook delivery failed");
                    failed += 1;
                }
            }
        }
        Ok((ok, failed))
    }

    /// Ticks every `interval` until `stop` is set. Errors (the database
    /// being down, say) are logged and the next tick tries again.
    pub fn run(&self, interval: Duration, stop: &AtomicBool) {
        let mut failing = false;
        while !stop.load(Ordering::Relaxed) {
            match self.tick() {
                Ok(report) => {
                    if failing {
                        tracing::info!("worker recovered");
                        failing = false;
                    }
                    if report != TickReport::default() {
                        tracing::info!(?report, "worker tick");
                    }
                    if report.imported > 0 {
                        // More of an import may be waiting: no pause.
                        continue;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "worker tick failed; retrying every tick");
                    }
                    failing = true;
                }
            }
            std::thread::sleep(interval);
        }
    }
}

/// Starts a worker on its own thread; set the flag to stop it.
/// The blocking HTTP client is built on the worker's own thread: it must not
/// be created or dropped inside an async runtime.
pub fn spawn(
    pool: PgPool,
    settings: WebhookSettings,
    rows: Arc<dyn RowReader>,
    interval: Duration,
) -> Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("prm-worker".to_owned())
        .spawn(move || match Worker::new(pool, settings, rows) {
            Ok(worker) => worker.run(interval, &flag),
            Err(e) => tracing::error!(error = %e, "worker could not start"),
        })
        .map_err(|e| e.to_string())?;
    Ok((stop, handle))
}
