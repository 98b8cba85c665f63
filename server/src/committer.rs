//! The commit threads: request handlers hand their batch to the append thread, which takes
//! whatever queued up while it was busy and appends it with [`Db::append_many`] (one WAL
//! write per group), then passes it on to the sync thread. The sync thread waits in
//! [`Db::finish_writes`] until the writes are durable and answers each handler through a
//! oneshot channel.
//!
//! Two threads so that appending never waits for an fdatasync: while one runs, the append
//! thread keeps appending, and the next fdatasync covers everything appended meanwhile (the
//! engine's pipelined commit). Each request then waits for about one and a half fdatasyncs.
//!
//! Why not `spawn_blocking(|| db.write(batch))`: then every durable write parks one blocking
//! thread in the engine's group commit, and each write costs a blocking-pool handoff, a
//! condvar wake-up and a handoff back (4.7 context switches per write, measured with 64
//! connections; see docs/benchmarks.md). Here a group of N writes costs two thread wake-ups
//! and N task wake-ups, and the engine's own writer queue is uncontended.
//!
//! Ordering: batches are committed in the order they were queued; each is decided as if
//! written right after the ones before it (as with concurrent `Db::write` calls). A handler
//! that goes away after queueing its batch (client disconnect) does not cancel the write.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc as std_mpsc, Arc};

use strata_engine::commit::GROUP_BATCHES_MAX;
use strata_engine::{Db, Entry, Error, PendingWrites, WriteBatch};
use tokio::sync::{mpsc, oneshot};

/// Batches that may wait for the append thread; a handler beyond this waits to queue.
pub const COMMIT_QUEUE_BATCHES_MAX: usize = 4 * GROUP_BATCHES_MAX;
/// Appended groups that may wait for the sync thread; the append thread waits beyond this.
pub const SYNC_QUEUE_GROUPS_MAX: usize = 64;

/// What a write returns: per op, the live entry that was there before.
pub type WriteResult = strata_engine::Result<Vec<Option<Entry>>>;

/// A batch, where its result goes, and whom to tell once it is appended (staged writes).
type Job = (WriteBatch, Reply, Option<oneshot::Sender<()>>);
type Reply = oneshot::Sender<WriteResult>;

/// A group appended by the append thread, to be finished by the sync thread; `Err` when
/// the engine panicked while appending it.
type Appended = (std::result::Result<PendingWrites, String>, Vec<Reply>);

/// The handle handlers write through. The threads end (and drop their `Db` clones) once
/// the handle is dropped and the queues are empty.
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the append and sync threads for `db`.
    pub fn start(db: Arc<Db>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(COMMIT_QUEUE_BATCHES_MAX);
        let (appended, to_sync) = std_mpsc::sync_channel(SYNC_QUEUE_GROUPS_MAX);
        let sync_db = Arc::clone(&db);
        std::thread::Builder::new()
            .name("strata-sync".into())
            .spawn(move || sync_loop(&sync_db, &to_sync))?;
        std::thread::Builder::new()
            .name("strata-append".into())
            .spawn(move || append_loop(&db, queue, &appended))?;
        Ok(Self { jobs })
    }

    /// Commits `batch`; the result is `Db::write`'s. `Error::Closed` once the threads are
    /// gone.
    pub async fn write(&self, batch: WriteBatch) -> WriteResult {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((batch, reply, None)).await.is_err() {
            return Err(Error::Closed);
        }
        answer.await.unwrap_or(Err(Error::Closed))
    }

    /// Queues `batch` like [`Committer::write`], for a caller that wants to know when it is
    /// appended as well as when it is done: see [`StagedWrite`].
    pub async fn write_staged(&self, batch: WriteBatch) -> StagedWrite {
        let (reply, done) = oneshot::channel();
        let (told, appended) = oneshot::channel();
        // If the threads are gone, the job (and both senders) is dropped: `appended`
        // returns at once and `done` answers `Closed`.
        let _ = self.jobs.send((batch, reply, Some(told))).await;
        StagedWrite { appended, done }
    }
}

/// A write in flight whose two stages can be awaited apart.
pub struct StagedWrite {
    appended: oneshot::Receiver<()>,
    done: oneshot::Receiver<WriteResult>,
}

impl StagedWrite {
    /// Returns once the batch is appended (or failed to be): from then on later writes are
    /// decided after it, and `Db::get_appended` sees it. Nothing of it may be acknowledged
    /// yet.
    pub async fn appended(&mut self) {
        let _ = (&mut self.appended).await;
    }

    /// The write's result, once durable: `Db::write`'s.
    pub async fn done(self) -> WriteResult {
        self.done.await.unwrap_or(Err(Error::Closed))
    }
}

fn append_loop(db: &Db, mut queue: mpsc::Receiver<Job>, appended: &std_mpsc::SyncSender<Appended>) {
    while let Some(job) = queue.blocking_recv() {
        let mut batches = Vec::with_capacity(GROUP_BATCHES_MAX);
        let mut replies = Vec::with_capacity(GROUP_BATCHES_MAX);
        let mut staged = Vec::new();
        let mut next = Some(job);
        while let Some((batch, reply, told)) = next.take() {
            batches.push(batch);
            replies.push(reply);
            staged.extend(told);
            if batches.len() < GROUP_BATCHES_MAX {
                next = queue.try_recv().ok();
            }
        }
        // A panic is a broken engine invariant: fail this group's requests (their handlers
        // answer 5xx) rather than leave every later write without a commit thread.
        let pending = panic::catch_unwind(AssertUnwindSafe(|| db.append_many(batches)))
            .map_err(|panic| panic_message(&*panic));
        for told in staged {
            let _ = told.send(());
        }
        if appended.send((pending, replies)).is_err() {
            return; // the sync thread is gone; dropping the replies answers `Closed`
        }
    }
}

fn sync_loop(db: &Db, to_sync: &std_mpsc::Receiver<Appended>) {
    while let Ok((pending, replies)) = to_sync.recv() {
        let count = replies.len();
        let results = pending
            .and_then(|pending| {
                panic::catch_unwind(AssertUnwindSafe(|| db.finish_writes(pending)))
                    .map_err(|panic| panic_message(&*panic))
            })
            .unwrap_or_else(|what| {
                tracing::error!(panic = %what, "the engine panicked while committing");
                (0..count)
                    .map(|_| {
                        Err(Error::Io(std::io::Error::other(format!(
                            "engine panic: {what}"
                        ))))
                    })
                    .collect()
            });
        for (result, reply) in results.into_iter().zip(replies) {
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
