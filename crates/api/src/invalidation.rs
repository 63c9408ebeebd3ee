//! Replicas answer as one (API.md, "Many replicas"): a change to a user or
//! an org, through any replica, is announced by Postgres on the
//! `prm_actors` channel as it commits (a trigger; see the migration
//! `actor_notifications`), and every replica listening forgets the actors
//! it cached. Each replica listens on a connection of its own, polled every
//! 50 ms and checked every 2 s; while that connection is down the cache
//! falls back to its expiry (`PRM_AUTH_CACHE_MS`), and on reconnecting it
//! is cleared, since notifications may have been missed meanwhile.

use std::time::{Duration, Instant};

use prm_store::notifications::Listener;

use crate::state::CacheWatch;

/// The channel the trigger announces changes on.
pub const CHANNEL: &str = "prm_actors";

const POLL: Duration = Duration::from_millis(50);
const HEARTBEAT: Duration = Duration::from_secs(2);
const RECONNECT: Duration = Duration::from_secs(1);

/// Listens for actor changes on a thread of its own until the cache it
/// watches is gone (its server stopped).
pub fn spawn(database_url: String, cache: CacheWatch) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("prm-invalidation".to_owned())
        .spawn(move || listen(&database_url, &cache))
        .map(|_| ())
}

fn listen(url: &str, cache: &CacheWatch) {
    let mut was_down = false;
    while cache.alive() {
        match Listener::connect(url, CHANNEL) {
            Ok(mut conn) => {
                if was_down {
                    tracing::info!("actor notifications listening again");
                }
                was_down = false;
                // What changed while nobody listened is unknown.
                cache.clear();
                if let Err(e) = follow(&mut conn, cache) {
                    tracing::warn!(error = %e, "actor notifications lost; the cache falls back to its expiry");
                    was_down = true;
                }
            }
            Err(e) => {
                if !was_down {
                    tracing::warn!(error = %e, "actor notifications unavailable; the cache falls back to its expiry");
                }
                was_down = true;
                std::thread::sleep(RECONNECT);
            }
        }
    }
}

/// Clears the cache on every notification until the connection fails or
/// the cache is gone.
fn follow(conn: &mut Listener, cache: &CacheWatch) -> Result<(), prm_store::StoreError> {
    let mut checked = Instant::now();
    while cache.alive() {
        if conn.drain()? {
            cache.clear();
        }
        if checked.elapsed() >= HEARTBEAT {
            // A connection dropped without a word is found out here.
            conn.ping()?;
            checked = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
