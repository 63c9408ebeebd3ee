//! The database queue: every request's database work runs as one job on a
//! fixed set of threads, first come first served, never on an event loop.
//!
//! One thread per pooled connection takes the oldest job it may run, checks
//! out a connection, runs the job and, still running, takes the next one.
//! Under load a finished job's slot passes straight to the next job on the
//! same thread: no event loop has to be scheduled in between (it would be, to
//! wake a waiter on an async semaphore) and no thread has to be woken (it
//! would be, to start a `web::block` task), which on two busy cores cost the
//! list about a quarter of each slot's time in hand-offs (docs/performance.md).
//!
//! Reads may hold only `reads` of the threads at once (one per core, plus
//! one). Reads keep the cores busy, so more of them at once only share the
//! cores between more Postgres backends and lengthen their tail; writes
//! mostly wait for their commit to reach the disk, and more of them at once
//! share each flush. A write may pass reads waiting for a read slot; among
//! reads, and among writes, the order is arrival.
//!
//! A job waits at most `timeout` for a thread (the pool's checkout timeout);
//! after that its request answers 503 and the job never runs. Once a job has
//! started it runs to the end even if its request goes away, as a write's
//! caller must be able to rely on: what was committed was committed.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use prm_store::pool::PooledConn;
use prm_store::{PgConnection, PgPool, StoreError};

use crate::error::ApiError;

/// A connection checked out of the pool for the whole of one request, so
/// that all its jobs run in one transaction the request commits at its end
/// (an idempotent POST: its work and its key commit together or not at all).
/// A connection still in a transaction when the last clone is dropped (its
/// request went away) is closed by the pool, not reused, so Postgres rolls
/// the transaction back.
#[derive(Clone)]
pub struct Pinned {
    conn: Arc<Mutex<PooledConn>>,
    _permit: Arc<tokio::sync::OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinned").finish_non_exhaustive()
    }
}

/// Which share of the threads a job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// The queue and its threads. Dropping it lets the threads finish what is
/// queued and exit.
#[derive(Debug)]
pub struct DbQueue {
    shared: Arc<Shared>,
    timeout: Duration,
    /// What this queue's thread names start with, unique in the process.
    prefix: String,
    /// Connections that may be pinned at once (see [`DbQueue::pin`]).
    pins: Arc<tokio::sync::Semaphore>,
}

/// Numbers the queues of a process, so each one's threads can be told apart.
static QUEUES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Debug)]
struct Shared {
    pool: PgPool,
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct State {
    reads: VecDeque<Job>,
    writes: VecDeque<Job>,
    running_reads: usize,
    max_reads: usize,
    next_seq: u64,
    closed: bool,
}

struct Job {
    seq: u64,
    run: Box<dyn FnOnce(&PgPool) + Send>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// Withdraws a job that has not started when its request goes away.
struct Withdraw(Arc<AtomicU8>);

impl Withdraw {
    /// True if the job had not started and now never will.
    fn cancel(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl DbQueue {
    /// Starts one thread per connection of `pool`; at most `reads` of them
    /// run reads at once.
    pub fn start(pool: PgPool, reads: usize, timeout: Duration) -> std::io::Result<Self> {
        let threads = (pool.max_size() as usize).max(1);
        let shared = Arc::new(Shared {
            pool,
            state: Mutex::new(State {
                max_reads: reads.clamp(1, threads),
                ..State::default()
            }),
            ready: Condvar::new(),
        });
        // Built first, so that if a thread cannot start, dropping it stops
        // the threads that did.
        let q = QUEUES.fetch_add(1, Ordering::Relaxed);
        let queue = Self {
            shared,
            timeout,
            prefix: format!("prm-db{q}-"),
            pins: Arc::new(tokio::sync::Semaphore::new((threads / 2).max(1))),
        };
        for n in 0..threads {
            let shared = queue.shared.clone();
            std::thread::Builder::new()
                .name(format!("{}{n}", queue.prefix))
                .spawn(move || shared.serve())?;
        }
        Ok(queue)
    }

    /// What the names of this queue's threads start with (`prm-db<queue>-`).
    pub fn thread_prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `work` with one pooled connection on a queue thread and returns
    /// what it returned.
    pub async fn run<T, F>(&self, kind: Kind, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.job(kind, move |pool| {
            let mut conn = pool.get().map_err(StoreError::from)?;
            work(&mut conn)
        })
        .await
    }

    /// Runs `work` on a queue thread with `on`'s connection, or with a
    /// pooled one when there is none.
    pub async fn run_on<T, F>(
        &self,
        kind: Kind,
        on: Option<&Pinned>,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(pinned) = on else {
            return self.run(kind, work).await;
        };
        let conn = pinned.conn.clone();
        self.job(kind, move |_| {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
    }

    /// Checks a connection out of the pool for one request's whole unit of
    /// work (see [`Pinned`]). At most half the pool is pinned at once, so
    /// that the other jobs, which a pinned request may wait for, always find
    /// a connection; beyond that a request waits here.
    pub async fn pin(&self) -> Result<Pinned, ApiError> {
        let permit = tokio::time::timeout(self.timeout, self.pins.clone().acquire_owned())
            .await
            .map_err(|_| {
                ApiError::Unavailable("timed out waiting for a database connection".to_owned())
            })?
            .map_err(|_| ApiError::Unavailable("the database queue has stopped".to_owned()))?;
        let conn = self
            .job(Kind::Write, |pool| {
                Ok(pool.get().map_err(StoreError::from)?)
            })
            .await?;
        Ok(Pinned {
            conn: Arc::new(Mutex::new(conn)),
            _permit: Arc::new(permit),
        })
    }

    /// Submits `work` as a job and waits for what it returns.
    async fn job<T, F>(&self, kind: Kind, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&PgPool) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let status = Arc::new(AtomicU8::new(QUEUED));
        let withdraw = Withdraw(status.clone());
        // The submitting request's span, entered around the job on the
        // queue thread, so that what the job logs names the request (its id
        // and its trace) as a line logged on the event loop does.
        let span = tracing::Span::current();
        let run = Box::new(move |pool: &PgPool| {
            // Its request went away or gave up while it waited.
            if status
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return;
            }
            let result = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| work(pool))));
            // A panic drops the sender: the request answers 500.
            if let Ok(result) = result {
                let _ = tx.send(result);
            }
        });
        self.shared.submit(kind, run);
        let outcome = match tokio::time::timeout(self.timeout, &mut rx).await {
            Ok(outcome) => outcome,
            Err(_) if withdraw.cancel() => {
                return Err(ApiError::Unavailable(
                    "timed out waiting for a database connection".to_owned(),
                ));
            }
            // It started just in time: its outcome is on the way.
            Err(_) => rx.await,
        };
        outcome.map_err(|_| ApiError::Internal("the database job panicked".to_owned()))?
    }

    /// Jobs waiting for a thread: reads, writes. Includes jobs whose request
    /// has gone away until a thread discards them.
    pub fn waiting(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (state.reads.len(), state.writes.len())
    }
}

impl Drop for DbQueue {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job never runs under the lock, so a poisoned lock only means a
        // panic between two plain field updates: the state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, kind: Kind, run: Box<dyn FnOnce(&PgPool) + Send>) {
        let mut state = self.lock();
        let job = Job {
            seq: state.next_seq,
            run,
        };
        state.next_seq += 1;
        // Wake a thread only if one could take the job now; otherwise the
        // thread that finishes a read takes it.
        let runnable = match kind {
            Kind::Read => {
                state.reads.push_back(job);
                state.running_reads + state.reads.len() <= state.max_reads
            }
            Kind::Write => {
                state.writes.push_back(job);
                true
            }
        };
        drop(state);
        if runnable {
            self.ready.notify_one();
        }
    }

    /// A queue thread: takes the oldest job it may run until the queue closes.
    fn serve(&self) {
        let mut finished = None;
        loop {
            let (job, kind) = {
                let mut state = self.lock();
                if finished.take() == Some(Kind::Read) {
                    state.running_reads -= 1;
                }
                loop {
                    if let Some(next) = state.take() {
                        break next;
                    }
                    if state.closed {
                        return;
                    }
                    state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            (job.run)(&self.pool);
            finished = Some(kind);
        }
    }
}

impl State {
    /// The oldest job that may run now: reads only while a read slot is free.
    fn take(&mut self) -> Option<(Job, Kind)> {
        let read_ok = self.running_reads < self.max_reads;
        let read_seq = self.reads.front().filter(|_| read_ok).map(|j| j.seq);
        let write_seq = self.writes.front().map(|j| j.seq);
        let kind = match (read_seq, write_seq) {
            (Some(r), Some(w)) if r < w => Kind::Read,
            (_, Some(_)) => Kind::Write,
            (Some(_), None) => Kind::Read,
            (None, None) => return None,
        };
        let job = match kind {
            Kind::Read => {
                self.running_reads += 1;
                self.reads.pop_front()
            }
            Kind::Write => self.writes.pop_front(),
        };
        job.map(|j| (j, kind))
    }
}
