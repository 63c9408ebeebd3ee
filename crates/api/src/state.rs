//! Shared application state and the one blocking unit of work per request.

use std::collections::HashMap;

use prm_domain::Actor;
use prm_store::actors::{ActorLookup, load_actor};
use prm_store::{PgConnection, PgPool};

use crate::error::ApiError;
use crate::jwt::JwtVerifier;
use crate::queue::{DbQueue, Kind};

/// The verified subject of a request's bearer token, with the user it
/// resolved to when the actor cache still held it. Otherwise resolving it
/// happens inside the request's database unit of work.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub cached: Option<Actor>,
    /// `Read` for a `GET` or `HEAD`, whose database work only reads and
    /// queues for the read share of the queue's threads (see
    /// `queue::DbQueue`); `Write` otherwise.
    pub kind: crate::queue::Kind,
    /// The request's own connection, when its work must commit as one with
    /// something the request does after it (see `idempotency`).
    pub pinned: Option<crate::queue::Pinned>,
}

#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: JwtVerifier,
    pub webhooks: crate::webhook_send::WebhookSettings,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub actors: ActorCache,
    /// Where each request's database work runs (see `queue::DbQueue`).
    pub queue: DbQueue,
}

/// Subject → actor, kept briefly so most requests skip the lookup. Cleared
/// here on changes to users and orgs; other replicas see them within the TTL.
#[derive(Debug, Clone)]
pub struct ActorCache {
    ttl: std::time::Duration,
    entries: std::sync::Arc<Entries>,
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
        let entries = self.entries.lock().ok()?;
        entries
            .map
            .get(subject)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(a, _)| a.clone())
    }

    /// How many times the cache has been cleared: read before an actor is
    /// looked up, and handed to `put` with it.
    pub fn generation(&self) -> u64 {
        self.entries.lock().map(|e| e.generation).unwrap_or(0)
    }

    /// Keeps `actor`, read when the cache was at `generation`, unless it
    /// has been cleared since: a lookup that raced a change (read before
    /// it committed, kept after its announcement cleared the cache) would
    /// otherwise serve the old actor until it expired.
    pub fn put(&self, subject: &str, actor: &Actor, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.map.len() > 10_000 {
                entries.map.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            entries.map.insert(
                subject.to_owned(),
                (actor.clone(), std::time::Instant::now()),
            );
        }
    }

    /// Forgets every entry (an org changed: memberships may have).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// A handle that clears this cache while it exists, and tells when it
    /// is gone (see `invalidation`).
    pub fn watch(&self) -> CacheWatch {
        CacheWatch(std::sync::Arc::downgrade(&self.entries))
    }
}

type Entries = std::sync::Mutex<Cached>;

#[derive(Debug, Default)]
struct Cached {
    map: HashMap<String, (Actor, std::time::Instant)>,
    generation: u64,
}

impl Cached {
    fn clear(&mut self) {
        self.map.clear();
        self.generation += 1;
    }
}

/// A cache's entries, held weakly: the listener for changes made elsewhere
/// clears them, and stops once the server that owned them is gone.
#[derive(Debug, Clone)]
pub struct CacheWatch(std::sync::Weak<Entries>);

impl CacheWatch {
    pub fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    pub fn clear(&self) {
        if let Some(entries) = self.0.upgrade()
            && let Ok(mut entries) = entries.lock()
        {
            entries.clear();
        }
    }
}

impl AppState {
    /// Runs `work` on the database queue with one connection: resolves the
    /// caller to an active user first, then hands both to `work`. Sync Diesel
    /// never runs on the event loop, and a request checks out one connection.
    pub async fn run<T, F>(&self, mut caller: Caller, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection, &Actor) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.actors.clone();
        let pinned = caller.pinned.take();
        self.queue
            .run_on(caller.kind, pinned.as_ref(), move |conn| {
                let actor = match caller.cached {
                    Some(a) => a,
                    None => {
                        let generation = cache.generation();
                        let a = resolve_actor(conn, &caller.subject)?;
                        cache.put(&caller.subject, &a, generation);
                        a
                    }
                };
                work(conn, &actor)
            })
            .await
    }

    /// Runs `work` on the database queue with one connection, unauthenticated.
    pub async fn with_conn<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.queue.run(Kind::Write, work).await
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

#[cfg(test)]
mod tests {
    use prm_domain::org::OrgKind;
    use prm_domain::{OrgId, Role, UserId};

    use super::*;

    fn actor() -> Actor {
        Actor {
            user_id: UserId::new(),
            org_id: OrgId::new(),
            org_kind: OrgKind::Reseller,
            role: Role::AccountManager,
            reseller_ids: Vec::new(),
        }
    }

    #[test]
    fn a_lookup_that_raced_a_clear_is_not_kept() {
        let cache = ActorCache::new(std::time::Duration::from_secs(60));
        let read_at = cache.generation();
        // The change commits and its announcement clears the cache while
        // the lookup that read the old row is still on its way.
        cache.watch().clear();
        cache.put("sub", &actor(), read_at);
        assert!(cache.get("sub").is_none());

        cache.put("sub", &actor(), cache.generation());
        assert!(cache.get("sub").is_some());
    }
}
