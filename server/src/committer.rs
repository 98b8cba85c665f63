//! The commit thread: request handlers hand their batch to one thread, which commits
//! whatever queued up while it was busy with [`Db::write_many`] (one WAL append and at most
//! one fsync per group) and answers each handler through a oneshot channel.
//!
//! Why not `spawn_blocking(|| db.write(batch))`: then every durable write parks one blocking
//! thread in the engine's group commit, and each write costs a blocking-pool handoff, a
//! condvar wake-up and a handoff back (4.7 context switches per write, measured with 64
//! connections; see docs/benchmarks.md). Here a group of N writes costs one thread wake-up
//! and N task wake-ups, and the engine's own writer queue is uncontended.
//!
//! Ordering: batches are committed in the order they were queued; each is decided as if
//! written right after the ones before it (as with concurrent `Db::write` calls). A handler
//! that goes away after queueing its batch (client disconnect) does not cancel the write.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use strata_engine::commit::GROUP_BATCHES_MAX;
use strata_engine::{Db, Entry, Error, WriteBatch};
use tokio::sync::{mpsc, oneshot};

/// Batches that may wait for the commit thread; a handler beyond this waits to queue.
pub const COMMIT_QUEUE_BATCHES_MAX: usize = 4 * GROUP_BATCHES_MAX;

/// What a write returns: per op, the live entry that was there before.
pub type WriteResult = strata_engine::Result<Vec<Option<Entry>>>;

type Job = (WriteBatch, oneshot::Sender<WriteResult>);

/// The handle handlers write through. The thread ends (and drops its `Db` clone) once the
/// handle is dropped and the queue is empty.
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the commit thread for `db`.
    pub fn start(db: Arc<Db>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(COMMIT_QUEUE_BATCHES_MAX);
        std::thread::Builder::new()
            .name("strata-commit".into())
            .spawn(move || run(&db, queue))?;
        Ok(Self { jobs })
    }

    /// Commits `batch`; the result is `Db::write`'s. `Error::Closed` once the thread is gone.
    pub async fn write(&self, batch: WriteBatch) -> WriteResult {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((batch, reply)).await.is_err() {
            return Err(Error::Closed);
        }
        answer.await.unwrap_or(Err(Error::Closed))
    }
}

fn run(db: &Db, mut queue: mpsc::Receiver<Job>) {
    let mut batches = Vec::with_capacity(GROUP_BATCHES_MAX);
    let mut replies = Vec::with_capacity(GROUP_BATCHES_MAX);
    while let Some((batch, reply)) = queue.blocking_recv() {
        batches.push(batch);
        replies.push(reply);
        while batches.len() < GROUP_BATCHES_MAX {
            let Ok((batch, reply)) = queue.try_recv() else {
                break;
            };
            batches.push(batch);
            replies.push(reply);
        }
        let group = std::mem::replace(&mut batches, Vec::with_capacity(GROUP_BATCHES_MAX));
        let count = group.len();
        // A panic is a broken engine invariant: fail this group's requests (their handlers
        // answer 5xx) rather than leave every later write without a commit thread.
        let results = panic::catch_unwind(AssertUnwindSafe(|| db.write_many(group)))
            .unwrap_or_else(|panic| {
                let what = panic_message(&*panic);
                tracing::error!(panic = %what, "the engine panicked while committing");
                (0..count)
                    .map(|_| {
                        Err(Error::Io(std::io::Error::other(format!(
                            "engine panic: {what}"
                        ))))
                    })
                    .collect()
            });
        for (result, reply) in results.into_iter().zip(replies.drain(..)) {
            // The handler may have gone away; its write stands.
            let _ = reply.send(result);
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into())
}
