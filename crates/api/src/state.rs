//! Shared application state and the one blocking unit of work per request.

use std::collections::HashMap;

use actix_web::web;
use prm_domain::Actor;
use prm_store::actors::{ActorLookup, load_actor};
use prm_store::{PgConnection, PgPool, StoreError};

use crate::auth::{Caller, JwtVerifier};
use crate::error::ApiError;

#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: JwtVerifier,
    pub webhooks: crate::webhook_send::WebhookSettings,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub actors: ActorCache,
    /// Requests waiting for the database queue here, first come first
    /// served, one permit per pooled connection (see `Gate`).
    pub gate: Gate,
}

/// A fair queue in front of the connection pool. r2d2 hands a returned
/// connection to whichever thread asks first, so under load some requests
/// wait many turns while others barge ahead; queueing on a FIFO semaphore
/// before taking a blocking thread keeps the latency tail close to the
/// median, and keeps blocking threads from piling up behind the pool.
///
/// Reads first queue for a share of the pool (`reads` permits, two per
/// core). Reads keep the cores busy, so more of them at once only adds
/// context switches to their tail; writes mostly wait for their commit to
/// reach the disk, and more of them at once share each flush. On two cores
/// a pool of 4 gave the list its best p99 and a pool of 8 the writes their
/// best throughput (docs/performance.md); the split gives each its own.
#[derive(Debug, Clone)]
pub struct Gate {
    pool: std::sync::Arc<tokio::sync::Semaphore>,
    reads: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a request may wait in the queue: the pool's checkout timeout.
    timeout: std::time::Duration,
}

/// A place in the queue, held for the request's unit of work.
#[derive(Debug)]
pub struct Turn {
    _connection: tokio::sync::OwnedSemaphorePermit,
    _read: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Gate {
    /// One permit per pooled connection, `reads` of them for reads at once.
    pub fn new(connections: usize, reads: usize, timeout: std::time::Duration) -> Self {
        Self {
            pool: std::sync::Arc::new(tokio::sync::Semaphore::new(connections)),
            reads: std::sync::Arc::new(tokio::sync::Semaphore::new(
                reads.clamp(1, connections.max(1)),
            )),
            timeout,
        }
    }

    async fn enter(&self, reads: bool) -> Result<Turn, ApiError> {
        let wait = async {
            let read = match reads {
                true => Some(self.reads.clone().acquire_owned().await?),
                false => None,
            };
            let connection = self.pool.clone().acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(Turn {
                _connection: connection,
                _read: read,
            })
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) => Err(ApiError::Unavailable("request queue closed".to_owned())),
            Err(_) => Err(ApiError::Unavailable(
                "timed out waiting for a database connection".to_owned(),
            )),
        }
    }
}

/// Subject → actor, kept briefly so most requests skip the lookup. Cleared
/// here on changes to users and orgs; other replicas see them within the TTL.
#[derive(Debug, Clone)]
pub struct ActorCache {
    ttl: std::time::Duration,
    entries: std::sync::Arc<std::sync::Mutex<HashMap<String, (Actor, std::time::Instant)>>>,
}

impl ActorCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            entries: Default::default(),
        }
    }

    pub fn get(&self, subject: &str) -> Option<Actor> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.entries.lock().ok()?;
        map.get(subject)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(a, _)| a.clone())
    }

    pub fn put(&self, subject: &str, actor: &Actor) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            map.insert(
                subject.to_owned(),
                (actor.clone(), std::time::Instant::now()),
            );
        }
    }

    /// Forgets every entry (an org changed: memberships may have).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

impl AppState {
    /// Runs `work` on the blocking pool with one connection: resolves the
    /// caller to an active user first, then hands both to `work`. Sync Diesel
    /// never runs on the event loop, and a request checks out one connection.
    pub async fn run<T, F>(&self, caller: Caller, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection, &Actor) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.actors.clone();
        let reads = caller.reads;
        self.queued(reads, move |conn| {
            let actor = match caller.cached {
                Some(a) => a,
                None => {
                    let a = resolve_actor(conn, &caller.subject)?;
                    cache.put(&caller.subject, &a);
                    a
                }
            };
            work(conn, &actor)
        })
        .await
    }

    /// Runs `work` on the blocking pool with one connection, unauthenticated.
    pub async fn with_conn<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.queued(false, work).await
    }

    async fn queued<T, F>(&self, reads: bool, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let _turn = self.gate.enter(reads).await?;
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            work(&mut conn)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
    }
}

fn resolve_actor(conn: &mut PgConnection, subject: &str) -> Result<Actor, ApiError> {
    match load_actor(conn, subject)? {
        ActorLookup::Found(actor) => Ok(actor),
        ActorLookup::UnknownSubject => Err(ApiError::Unauthorized {
            code: "unknown_subject",
            detail: "the token's subject is not a user of this service".to_owned(),
        }),
        ActorLookup::UserInactive => Err(ApiError::Forbidden {
            code: "user_inactive",
            detail: "this user has been deactivated".to_owned(),
        }),
        ActorLookup::OrgInactive => Err(ApiError::Forbidden {
            code: "org_inactive",
            detail: "this user's organization has been deactivated".to_owned(),
        }),
    }
}
