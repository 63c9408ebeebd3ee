//! The deadline and delivery worker: expires offers past `accept_by`,
//! re-assigns them (and declined ones) when the policy says so, expires deal
//! registrations past `exclusive_until`, and sends webhook deliveries. It
//! runs inside `prm serve` and alone as `prm worker`; several may run at
//! once — rows are claimed with `FOR UPDATE SKIP LOCKED` (and deliveries
//! with a lease), so no item is handled twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use prm_domain::deal::RegStatus;
use prm_domain::events::EventType;
use prm_domain::lifecycle::{SystemCommand, system_transition};
use prm_domain::opportunity::Status;
use prm_store::assignment::{
    lock_lapsed_registrations, lock_overdue_offers, lock_pending_reassignments, mark_assigned,
    set_reassign,
};
use prm_store::deals::{Registration, RegistrationChanges};
use prm_store::opportunities::{self as store, NewEvent, Opportunity, StateChanges};
use prm_store::policies::PolicyRow;
use prm_store::webhooks::{attempt_failed, claim_due, succeeded};
use prm_store::{Connection, PgConnection, PgPool, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::notify;
use crate::routes::assignment::{mark_reassignment, ranking_for};
use crate::routes::opportunities::locked;
use crate::webhook_send::{Sent, WebhookSettings, client, send};

/// Items handled per batch and transaction.
const BATCH: i64 = 50;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub expired: usize,
    pub reassigned: usize,
    pub registrations_expired: usize,
    pub delivered: usize,
    pub delivery_failures: usize,
}

pub struct Worker {
    pool: PgPool,
    settings: WebhookSettings,
    http: reqwest::blocking::Client,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn system_event(
    conn: &mut PgConnection,
    id: Uuid,
    action: &'static str,
    from: &str,
    to: Status,
    partner: Option<Uuid>,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    store::record_event(
        conn,
        &NewEvent {
            id: Uuid::now_v7(),
            opportunity_id: id,
            actor_user_id: None,
            actor_org_id: None,
            partner_org_id: partner,
            action,
            from_status: Some(from),
            to_status: to.as_str(),
            reason,
        },
    )?;
    Ok(())
}

/// Expires one locked, overdue offer, and marks it for re-assignment when
/// the policy says so.
fn expire_offer(conn: &mut PgConnection, id: Uuid) -> Result<bool, ApiError> {
    let (row, before) = locked(conn, id)?;
    let Ok(outcome) = system_transition(&before, row.accept_by, Utc::now(), SystemCommand::Expire)
    else {
        return Ok(false);
    };
    Opportunity::change_state(
        conn,
        id,
        &StateChanges {
            status: Some(outcome.to.as_str().to_owned()),
            accept_by: Some(None),
            ..StateChanges::default()
        },
    )?;
    let partner = outcome.partner.map(|p| p.0);
    system_event(
        conn,
        id,
        "expire",
        &row.status,
        outcome.to,
        partner,
        Some("no answer before the deadline"),
    )?;
    let policy = PolicyRow::load(conn)?.policy();
    mark_reassignment(conn, &policy, &row, outcome.to, false)?;
    notify::opportunity(
        conn,
        EventType::OpportunityExpired,
        Some(&before),
        id,
        json!({"action": "expire"}),
    )?;
    Ok(true)
}

/// Offers one locked opportunity awaiting re-assignment to the next
/// candidate (excluding those who declined, returned or let it expire).
fn reassign(conn: &mut PgConnection, id: Uuid) -> Result<bool, ApiError> {
    let (row, before) = locked(conn, id)?;
    let policy = PolicyRow::load(conn)?.policy();
    let ranking = ranking_for(conn, &row, policy.weights)?;
    let Some(best) = ranking.best() else {
        tracing::info!(opportunity = %id, excluded = ranking.excluded.len(), "no candidate to re-assign to");
        set_reassign(conn, id, false, false)?;
        return Ok(false);
    };
    let partner = best.id;
    let Ok(outcome) = system_transition(
        &before,
        row.accept_by,
        Utc::now(),
        SystemCommand::Reassign { partner },
    ) else {
        set_reassign(conn, id, false, false)?;
        return Ok(false);
    };
    let window = policy.acceptance_window_hours;
    Opportunity::change_state(
        conn,
        id,
        &StateChanges {
            status: Some(outcome.to.as_str().to_owned()),
            primary_partner_id: Some(Some(partner.0)),
            accept_by: Some(Some(
                Utc::now() + chrono::Duration::hours(i64::from(window)),
            )),
            ..StateChanges::default()
        },
    )?;
    store::set_collaborators(conn, id, &[])?;
    system_event(
        conn,
        id,
        "auto_assign",
        &row.status,
        outcome.to,
        Some(partner.0),
        Some("automatic re-assignment"),
    )?;
    mark_assigned(conn, partner.0)?;
    set_reassign(conn, id, false, true)?;
    notify::opportunity(
        conn,
        EventType::OpportunityDelivered,
        Some(&before),
        id,
        json!({"action": "auto_assign"}),
    )?;
    Ok(true)
}

fn expire_registration(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let r = Registration::update(
        conn,
        id,
        &RegistrationChanges {
            status: Some(RegStatus::Expired.as_str().to_owned()),
            ..RegistrationChanges::default()
        },
    )?;
    notify::registration(conn, EventType::DealRegistrationExpired, &r)
}

/// Runs `each` for every id `lock` returns, in one transaction per batch.
fn batch(
    conn: &mut PgConnection,
    lock: impl Fn(&mut PgConnection) -> Result<Vec<Uuid>, StoreError>,
    each: impl Fn(&mut PgConnection, Uuid) -> Result<bool, ApiError>,
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
    pub fn new(pool: PgPool, settings: WebhookSettings) -> Result<Self, String> {
        let http = client(&settings)?;
        Ok(Self {
            pool,
            settings,
            http,
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
            expire_offer,
        )?;
        let reassigned = batch(
            conn,
            |c| Ok(lock_pending_reassignments(c, BATCH)?),
            reassign,
        )?;
        let registrations_expired = batch(
            conn,
            |c| Ok(lock_lapsed_registrations(c, now.date_naive(), BATCH)?),
            |c, id| expire_registration(c, id).map(|()| true),
        )?;
        let (delivered, delivery_failures) = self.deliver(conn)?;
        prm_store::idempotency::purge(conn)?;
        Ok(TickReport {
            expired,
            reassigned,
            registrations_expired,
            delivered,
            delivery_failures,
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
    interval: Duration,
) -> Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("prm-worker".to_owned())
        .spawn(move || match Worker::new(pool, settings) {
            Ok(worker) => worker.run(interval, &flag),
            Err(e) => tracing::error!(error = %e, "worker could not start"),
        })
        .map_err(|e| e.to_string())?;
    Ok((stop, handle))
}
