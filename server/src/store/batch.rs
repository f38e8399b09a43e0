//! Batched writes: the rows of several concurrent requests committed in one transaction.
//!
//! SQLite has one writer at a time, so every write request of the relay passes through one turn
//! ([`Store::write`]). A small upload's turn is about ten statements, each a round trip to the
//! connection's worker thread, and the wake-up after each one waits on a runtime that is busy with
//! the other clients' TLS and signature work: the turn, not the disk or the CPU, set the upload rate.
//!
//! PostgreSQL runs writers side by side, but every upload's log append holds the row lock on
//! `log_head` until its commit has flushed the WAL, so uploads still commit one after another there.
//! A batch takes that lock and waits for that flush once for all of its jobs.
//!
//! Jobs sent here are taken by a writer: on SQLite one, on a thread and runtime of its own (so its
//! wake-ups are not queued behind request work); on PostgreSQL [`POSTGRES_WRITERS`] tasks. A
//! writer takes every job that has queued up (at most [`MAX_JOBS`]), opens one transaction, reads
//! the policy counter once for all of them, runs each job's writes, appends all of their log
//! entries at the end in one go ([`log::append_many`]), commits once, and waits once for the
//! commit to be durable (group commit's `fsync` on SQLite). Only then is any job answered, so an
//! acknowledged request is on disk exactly as with a transaction of its own.
//!
//! Each job stays atomic: if one job's writes fail (a conflicting id, say), the whole transaction
//! is rolled back, that job is answered with its error, and the others are written again without
//! it in a fresh transaction; it is answered after they are committed. A job's
//! [`BatchJob::write`] must therefore be able to run more than once. A job that finds it has
//! nothing to write (its decision is stale) returns `Ok(None)` having written nothing.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError, StoreResult, Tx, log};

/// The most jobs committed in one transaction (bounds a batch's turn, and so the wait of the
/// requests that need the turn for something else).
pub const MAX_JOBS: usize = 64;

/// Writers on PostgreSQL, each with its own connection and transaction. Their rows go in side by
/// side; only the end of each transaction (the log append, which locks `log_head`, and the
/// commit's WAL flush) takes turns. SQLite has one writer at a time, so there it is one.
const POSTGRES_WRITERS: usize = 4;

/// Queued jobs beyond this make senders wait (back-pressure on uploads, not unbounded memory).
const QUEUE: usize = 1024;

/// A request's part of a shared transaction.
pub trait BatchJob: Send + 'static {
    /// What the request learns once its writes are durable.
    type Output: Send + 'static;

    /// Writes this job's rows in `tx` and returns the access-log entry that records them, or
    /// `None` if it wrote nothing. `policy` is the policy counter as the transaction sees and
    /// holds it ([`Store::policy_version_held`]), read once per transaction. May run more than
    /// once (see the module documentation); an `Err` rolls back the whole transaction. The
    /// entries of a batch are appended together after every job has written
    /// ([`log::append_many`]), so the log's head is locked only for the end of the transaction.
    fn write<'a>(&'a mut self, tx: &'a mut Tx, policy: i64)
    -> BoxFuture<'a, StoreResult<Option<log::Entry>>>;

    /// The answer once the batch is durable: `index` is the log index of the entry `write`
    /// returned, `None` if it returned none.
    fn output(self, index: Option<u64>) -> Self::Output;
}

/// A job with its reply channel, its output type erased so that one queue carries every kind.
trait Queued: Send {
    fn write<'a>(&'a mut self, tx: &'a mut Tx, policy: i64)
    -> BoxFuture<'a, StoreResult<Option<log::Entry>>>;
    /// Answers the request: its log index once committed, or the error.
    fn finish(self: Box<Self>, result: StoreResult<Option<u64>>);
}

struct Pending<J: BatchJob> {
    job: J,
    reply: oneshot::Sender<StoreResult<J::Output>>,
}

impl<J: BatchJob> Queued for Pending<J> {
    fn write<'a>(
        &'a mut self,
        tx: &'a mut Tx,
        policy: i64,
    ) -> BoxFuture<'a, StoreResult<Option<log::Entry>>> {
        self.job.write(tx, policy)
    }

    fn finish(self: Box<Self>, result: StoreResult<Option<u64>>) {
        let Pending { job, reply } = *self;
        // The request may have given up (its timeout): the rows are committed all the same, as a
        // request's own transaction would have been.
        let _ = reply.send(result.map(|index| job.output(index)));
    }
}

/// The sending side, kept in [`Store`]; the writer stops when every copy is dropped.
#[derive(Clone, Debug)]
pub struct Batcher {
    queue: mpsc::Sender<Box<dyn Queued>>,
    counts: Arc<Counts>,
}

/// What the writer has done, for `/metrics` and the tests.
#[derive(Debug, Default)]
pub struct Counts {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Jobs committed (so `jobs / commits` is the mean batch).
    pub jobs: AtomicU64,
    /// Transactions rolled back because one job's writes failed (its batch was written again).
    pub rollbacks: AtomicU64,
}

impl Batcher {
    /// Starts the writers for `store` (a copy without a batcher of its own). On SQLite the one
    /// writer runs on a thread and runtime of its own: SQLite connections do their I/O on sqlx's
    /// worker threads, so they serve any runtime. PostgreSQL connections are sockets registered
    /// with the runtime that opened them, so there the writers are tasks on the caller's runtime.
    /// Two uploads of one id in two PostgreSQL writers' batches meet at the unique index: the
    /// second waits for the first batch's commit, fails, and is answered as a retry of it (or
    /// `conflict` if its content differs).
    pub fn start(store: Store) -> StoreResult<Batcher> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        if store.backend() == super::Backend::Postgres {
            for _ in 0..POSTGRES_WRITERS {
                tokio::spawn(run(store.clone(), jobs.clone(), counts.clone()));
            }
            return Ok(Batcher { queue, counts });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Other(format!("cannot start the batch writer: {e}")))?;
        std::thread::Builder::new()
            .name("samordna-batch-writer".into())
            .spawn({
                let counts = counts.clone();
                move || runtime.block_on(run(store, jobs, counts))
            })
            .map_err(|e| StoreError::Other(format!("cannot start the batch writer: {e}")))?;
        Ok(Batcher { queue, counts })
    }

    /// What the writer has done so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Runs `job` in the next batch; returns once its writes are durable (or failed).
    pub async fn submit<J: BatchJob>(&self, job: J) -> StoreResult<J::Output> {
        let (reply, answer) = oneshot::channel();
        let pending: Box<dyn Queued> = Box::new(Pending { job, reply });
        self.queue.send(pending).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the relay's batch writer has stopped".into())
}

/// One writer: takes what has queued up (waiting for the first job), commits it, and again.
async fn run(
    store: Store,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Box<dyn Queued>>>>,
    counts: Arc<Counts>,
) {
    let mut batch = Vec::with_capacity(MAX_JOBS);
    loop {
        let taken = jobs.lock().await.recv_many(&mut batch, MAX_JOBS).await;
        if taken == 0 {
            return;
        }
        commit_batch(&store, std::mem::take(&mut batch), &counts).await;
    }
}

/// Writes and commits `batch`, dropping any job whose writes fail, and answers every job.
///
/// A dropped job is answered only after the rest of its batch is committed (or has failed too):
/// its error may be a conflict with a job of the same batch (two uploads of one envelope), and the
/// request then looks for the envelope that won, which must be visible by then.
async fn commit_batch(store: &Store, mut batch: Vec<Box<dyn Queued>>, counts: &Counts) {
    let mut dropped: Vec<(Box<dyn Queued>, StoreError)> = Vec::new();
    while !batch.is_empty() {
        let mut tx = match store.write().await {
            Ok(tx) => tx,
            Err(e) => {
                fail_all(batch, &e);
                break;
            }
        };
        let policy = match store.policy_version_held(&mut tx).await {
            Ok(v) => v,
            Err(e) => {
                drop(tx);
                fail_all(batch, &e);
                break;
            }
        };
        // Each job's position among the batch's log entries, if it has one.
        let mut entries = Vec::with_capacity(batch.len());
        let mut slots = Vec::with_capacity(batch.len());
        let mut failed = None;
        for (i, job) in batch.iter_mut().enumerate() {
            match job.write(&mut tx, policy).await {
                Ok(entry) => {
                    slots.push(entry.is_some().then_some(entries.len() as u64));
                    entries.extend(entry);
                }
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let Some((i, e)) = failed else {
            let logged = match log::append_many(&mut tx, &entries).await {
                Ok(first) => tx.commit().await.map(|()| first),
                Err(e) => Err(e),
            };
            match logged {
                Ok(first) => {
                    counts.commits.fetch_add(1, Ordering::Relaxed);
                    counts.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for (job, slot) in batch.into_iter().zip(slots) {
                        job.finish(Ok(slot.map(|pos| first + pos)));
                    }
                }
                Err(e) => fail_all(batch, &e),
            }
            break;
        };
        counts.rollbacks.fetch_add(1, Ordering::Relaxed);
        if let Err(rollback) = tx.rollback().await {
            // The connection is not returned to the pool in a transaction (after_release).
            tracing::warn!(error = %rollback, "cannot roll back a failed batch");
        }
        dropped.push((batch.remove(i), e));
    }
    for (job, e) in dropped {
        job.finish(Err(e));
    }
}

fn fail_all(batch: Vec<Box<dyn Queued>>, e: &StoreError) {
    for job in batch {
        job.finish(Err(e.same()));
    }
}

impl StoreError {
    /// The same error, for each of several requests that share it.
    fn same(&self) -> StoreError {
        match self {
            StoreError::Conflict => StoreError::Conflict,
            StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
            StoreError::Full(s) => StoreError::Full(s.clone()),
            StoreError::Corrupt(s) => StoreError::Corrupt(s.clone()),
            StoreError::Other(s) => StoreError::Other(s.clone()),
        }
    }
}
