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
//! Jobs sent here are taken by one writer task, which runs on a thread and runtime of its own (so
//! its wake-ups are not queued behind request work; on PostgreSQL a task). It takes every job that has queued up (at most
//! [`MAX_JOBS`]), opens one transaction, reads the policy counter once for all of them, runs each
//! job's writes, commits once, and waits once for group commit's `fsync`. Only then is any job
//! answered, so an acknowledged request is on disk exactly as with a transaction of its own.
//!
//! Each job stays atomic: if one job's writes fail (a conflicting id, say), the whole transaction
//! is rolled back, that job is answered with its error, and the others are written again without
//! it in a fresh transaction. A job's [`BatchJob::write`] must therefore be able to run more than
//! once, and must return `Ok` only for writes that are to be committed. A job that finds it has
//! nothing to write (its decision is stale) returns `Ok` having written nothing.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError, StoreResult, Tx};

/// The most jobs committed in one transaction (bounds a batch's turn, and so the wait of the
/// requests that need the turn for something else).
pub const MAX_JOBS: usize = 64;

/// Queued jobs beyond this make senders wait (back-pressure on uploads, not unbounded memory).
const QUEUE: usize = 1024;

/// A request's part of a shared transaction.
pub trait BatchJob: Send + 'static {
    /// What the request learns once its writes are durable.
    type Output: Send + 'static;

    /// Writes this job's rows in `tx`. `policy` is the policy counter as the transaction sees and
    /// holds it ([`Store::policy_version_held`]), read once per transaction. May run more than once (see the
    /// module documentation); an `Err` rolls back the whole transaction.
    fn write<'a>(&'a mut self, tx: &'a mut Tx, policy: i64) -> BoxFuture<'a, StoreResult<Self::Output>>;
}

/// A job with its reply channel, its output type erased so that one queue carries every kind.
trait Queued: Send {
    fn write<'a>(&'a mut self, tx: &'a mut Tx, policy: i64) -> BoxFuture<'a, StoreResult<()>>;
    /// Answers the request: its output once committed, or the error.
    fn finish(self: Box<Self>, result: StoreResult<()>);
}

struct Pending<J: BatchJob> {
    job: J,
    output: Option<J::Output>,
    reply: oneshot::Sender<StoreResult<J::Output>>,
}

impl<J: BatchJob> Queued for Pending<J> {
    fn write<'a>(&'a mut self, tx: &'a mut Tx, policy: i64) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.output = Some(self.job.write(tx, policy).await?);
            Ok(())
        })
    }

    fn finish(self: Box<Self>, result: StoreResult<()>) {
        let Pending { output, reply, .. } = *self;
        let answer = result.and_then(|()| {
            output.ok_or_else(|| StoreError::Other("a batched job was committed without running".into()))
        });
        // The request may have given up (its timeout): the rows are committed all the same, as a
        // request's own transaction would have been.
        let _ = reply.send(answer);
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
    /// Starts the writer for `store` (a copy without a batcher of its own). On SQLite it runs on a
    /// thread and runtime of its own: SQLite connections do their I/O on sqlx's worker threads, so
    /// they serve any runtime. PostgreSQL connections are sockets registered with the runtime that
    /// opened them, so there the writer is a task on the caller's runtime.
    pub fn start(store: Store) -> StoreResult<Batcher> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        if store.backend() == super::Backend::Postgres {
            tokio::spawn(run(store, jobs, counts.clone()));
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
        let pending: Box<dyn Queued> = Box::new(Pending { job, output: None, reply });
        self.queue.send(pending).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the relay's batch writer has stopped".into())
}

async fn run(store: Store, mut jobs: mpsc::Receiver<Box<dyn Queued>>, counts: Arc<Counts>) {
    let mut batch = Vec::with_capacity(MAX_JOBS);
    while jobs.recv_many(&mut batch, MAX_JOBS).await > 0 {
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
        let mut failed = None;
        for (i, job) in batch.iter_mut().enumerate() {
            if let Err(e) = job.write(&mut tx, policy).await {
                failed = Some((i, e));
                break;
            }
        }
        let Some((i, e)) = failed else {
            match tx.commit().await {
                Ok(()) => {
                    counts.commits.fetch_add(1, Ordering::Relaxed);
                    counts.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.into_iter().for_each(|job| job.finish(Ok(())));
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
