//! Group commit: the writer queue (LevelDB-style leader/follower) and the pure decisions
//! the leader makes — how many queued batches form a group, and what each op of each batch
//! does given the state left by everything before it.
//!
//! Writers enqueue their batch and sleep. The writer at the front of the queue becomes the
//! leader: it takes a group of batches from the front and appends them with one WAL write
//! (see `db.rs`), then takes the group off the queue and wakes the next front writer, who
//! leads the next group and appends it while the first group's fsync runs. Once its fsync
//! is done the leader hands every follower its result. No timer: a group is whatever
//! queued up while the previous group was being appended.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::batch::{Entry, Kind, Op, Record, WriteBatch, WriteMode};
use crate::error::{Error, Result};

/// Most batches one commit group holds.
pub const GROUP_BATCHES_MAX: usize = 256;
/// Most (estimated) bytes one commit group holds; the leader's own batch always goes in,
/// whatever its size.
pub const GROUP_BYTES_MAX: usize = 4 * 1024 * 1024;

/// What one write returns: per op, the live entry that was there before (always `None`
/// for a blind `Overwrite`, see [`WriteMode::Overwrite`]).
pub type WriteResult = Result<Vec<Option<Entry>>>;

/// How many of the queued batches, of the given sizes in queue order, the leader takes:
/// at least one (its own), then as many as fit [`GROUP_BATCHES_MAX`] and
/// [`GROUP_BYTES_MAX`]. Stops at the first batch that does not fit, so commit order stays
/// queue order.
pub fn group_len(sizes: impl IntoIterator<Item = usize>) -> usize {
    let mut n = 0;
    let mut bytes = 0usize;
    for size in sizes {
        if n > 0 && (n == GROUP_BATCHES_MAX || bytes.saturating_add(size) > GROUP_BYTES_MAX) {
            break;
        }
        n += 1;
        bytes = bytes.saturating_add(size);
    }
    n
}

/// A batch that passed its checks: the records to write (consecutive seqnos) and, per op,
/// the live entry it replaced (`None` for a blind `Overwrite`, which does not read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBatch {
    pub records: Vec<Record>,
    pub previous: Vec<Option<Entry>>,
}

/// Decides every batch of a group, in order, as if each committed right after the ones
/// before it: ops see the effects of earlier successful batches of the group and of earlier
/// ops of their own batch. A failing batch writes nothing and uses no seqnos.
///
/// `lookup` returns the live entry under a key in the committed state (before the group);
/// it is not called for a blind `Overwrite` (no `expect_seqno`). `now` decides liveness
/// (expiry). Seqnos are handed out from `first_seqno`.
pub fn check_group(
    batches: &[WriteBatch],
    first_seqno: u64,
    now: u64,
    lookup: &mut dyn FnMut(&[u8]) -> Result<Option<Entry>>,
) -> Vec<Result<CheckedBatch>> {
    // Live entry (or absence) under every key written by the group so far. Only an op
    // that reads the current entry looks at it, so a group of blind overwrites (the
    // common bulk write) skips keeping it.
    let mut overlay: HashMap<Bytes, Option<Entry>> = HashMap::new();
    let track = batches
        .iter()
        .any(|batch| batch.ops.iter().any(|op| !is_blind(op)));
    let mut next_seqno = first_seqno;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let result = check_batch(batch, next_seqno, now, &overlay, track, lookup);
        if let Ok(checked) = &result {
            next_seqno += checked.records.len() as u64;
            if track {
                for r in &checked.records {
                    overlay.insert(r.key.clone(), r.live_entry(now));
                }
            }
        }
        out.push(result);
    }
    out
}

/// Whether `op` neither checks nor reports the entry it replaces: an `Overwrite` without
/// an `expect_seqno` guard. Such an op is decided without reading the current entry, so a
/// blind write costs no point read of the tree.
fn is_blind(op: &Op) -> bool {
    op.mode == WriteMode::Overwrite && op.expect_seqno.is_none()
}

fn check_batch(
    batch: &WriteBatch,
    first_seqno: u64,
    now: u64,
    group: &HashMap<Bytes, Option<Entry>>,
    track: bool,
    lookup: &mut dyn FnMut(&[u8]) -> Result<Option<Entry>>,
) -> Result<CheckedBatch> {
    // Effects of this batch's earlier ops, layered over the group's.
    let mut own: HashMap<Bytes, Option<Entry>> = HashMap::new();
    let mut records = Vec::with_capacity(batch.ops.len());
    let mut previous = Vec::with_capacity(batch.ops.len());
    for (index, op) in batch.ops.iter().enumerate() {
        let current = if is_blind(op) {
            // Nothing to check and, by `Overwrite`'s contract, nothing to report.
            None
        } else {
            match own.get(&op.key).or_else(|| group.get(&op.key)) {
                Some(entry) => entry.clone(),
                None => lookup(&op.key)?,
            }
        };
        if let Some(expected) = op.expect_seqno {
            if current.as_ref().map(|e| e.seqno) != Some(expected) {
                return Err(Error::Conflict { index });
            }
        }
        match op.mode {
            WriteMode::Insert if current.is_some() => return Err(Error::Conflict { index }),
            WriteMode::Update | WriteMode::Delete if current.is_none() => {
                return Err(Error::NotFound { index })
            }
            _ => {}
        }
        let (kind, value) = match op.mode {
            WriteMode::Delete => (Kind::Delete, Bytes::new()),
            _ => (Kind::Put, op.value.clone()),
        };
        let record = Record {
            key: op.key.clone(),
            seqno: first_seqno + index as u64,
            kind,
            // 0 means "never" on disk; validation rejected `Some(0)`.
            expires_at: op.expires_at.unwrap_or(0),
            value,
        };
        if track {
            own.insert(op.key.clone(), record.live_entry(now));
        }
        records.push(record);
        previous.push(current);
    }
    Ok(CheckedBatch { records, previous })
}

/// A copy of `e` for another waiter of the same failed group (`Error` is not `Clone`
/// because `io::Error` is not).
pub fn error_copy(e: &Error) -> Error {
    match e {
        // Keep the errno when there is one, so callers can tell EIO from ENOSPC.
        Error::Io(io) => Error::Io(match io.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(io.kind(), io.to_string()),
        }),
        Error::Corruption {
            path,
            offset,
            reason,
        } => Error::Corruption {
            path: path.clone(),
            offset: *offset,
            reason: reason.clone(),
        },
        Error::Conflict { index } => Error::Conflict { index: *index },
        Error::NotFound { index } => Error::NotFound { index: *index },
        Error::Poisoned => Error::Poisoned,
        Error::Locked { path } => Error::Locked { path: path.clone() },
        Error::InvalidArgument(msg) => Error::InvalidArgument(msg.clone()),
        Error::Closed => Error::Closed,
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves its state whole
/// before anything that could panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a queued writer sleeps and is told what to do next. Each writer has its own, so
/// a leader finishing a group of N wakes exactly those N writers, and each wakes on its own
/// lock instead of all of them fighting for the queue's (64 writers on 2 CPUs spent a
/// third of their time in futex sleeps and wake-ups with one shared lock).
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
}

#[derive(Default)]
enum SlotState {
    /// Queued: neither led nor answered yet.
    #[default]
    Waiting,
    /// At the front of the queue: the writer leads the next group.
    Lead,
    /// Committed (or failed) by another writer's group.
    Done(WriteResult),
}

impl Slot {
    fn set(&self, to: SlotState) {
        *lock(&self.state) = to;
        self.wake.notify_one();
    }
}

thread_local! {
    /// The slot a thread's writes sleep on, made once per thread instead of once per write.
    /// A thread waits in one `join` at a time, and a slot is only written while its writer
    /// is queued, so reusing it across the thread's writes is safe.
    static THREAD_SLOT: Arc<Slot> = Arc::new(Slot::default());
}

struct Pending {
    /// Taken by the leader whose group includes it.
    batch: Option<WriteBatch>,
    bytes: usize,
    slot: Arc<Slot>,
}

/// The writer queue: writers in arrival order; the front one leads. A group stays queued
/// until its leader has appended it, so no one else can become leader meanwhile.
#[derive(Default)]
pub struct CommitQueue {
    pending: Mutex<VecDeque<Pending>>,
}

/// What [`CommitQueue::join`] made of the caller.
pub enum Joined<'a> {
    /// Another leader committed (or failed) the caller's batch.
    Done(WriteResult),
    /// The caller leads this group and must call [`LeaderGroup::finish`].
    Leader(LeaderGroup<'a>),
}

/// A group being committed by its leader. `batches[0]` is the leader's own.
///
/// The leader appends the group to the WAL, then [`release`](LeaderGroup::release)s the
/// queue so the next group can form and append while this one waits for its fsync
/// (pipelined commit), then [`finish`](LeaderGroup::finish)es it with the results.
pub struct LeaderGroup<'a> {
    queue: &'a CommitQueue,
    /// Writers in the group (kept apart from `batches`, which the caller may move out).
    len: usize,
    /// The followers' slots, in queue order.
    followers: Vec<Arc<Slot>>,
    pub batches: Vec<WriteBatch>,
    released: bool,
    finished: bool,
}

impl CommitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `batch` (of about `bytes` bytes) and blocks until either a leader has
    /// committed it or the caller is at the front and leads a group.
    pub fn join(&self, batch: WriteBatch, bytes: usize) -> Joined<'_> {
        let slot = THREAD_SLOT.with(Arc::clone);
        *lock(&slot.state) = SlotState::Waiting;
        let mut pending = lock(&self.pending);
        pending.push_back(Pending {
            batch: Some(batch),
            bytes,
            slot: Arc::clone(&slot),
        });
        if pending.len() > 1 {
            drop(pending);
            let mut state = lock(&slot.state);
            loop {
                match std::mem::take(&mut *state) {
                    SlotState::Waiting => {}
                    SlotState::Lead => break,
                    SlotState::Done(result) => return Joined::Done(result),
                }
                state = slot
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            drop(state);
            pending = lock(&self.pending);
        }
        debug_assert!(
            pending.front().is_some_and(|p| Arc::ptr_eq(&p.slot, &slot)),
            "a writer leads only from the front of the queue"
        );
        let n = group_len(pending.iter().map(|p| p.bytes));
        let mut batches = Vec::with_capacity(n);
        let mut followers = Vec::with_capacity(n - 1);
        for (i, p) in pending.iter_mut().take(n).enumerate() {
            batches.push(p.batch.take().expect("queued batch taken by one leader"));
            if i > 0 {
                followers.push(Arc::clone(&p.slot));
            }
        }
        Joined::Leader(LeaderGroup {
            queue: self,
            len: n,
            followers,
            batches,
            released: false,
            finished: false,
        })
    }
}

impl LeaderGroup<'_> {
    /// Takes the group off the queue and tells the writer now at the front to lead the next
    /// group. The followers keep waiting for their results. Idempotent.
    pub fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        let mut pending = lock(&self.queue.pending);
        for _ in 0..self.len {
            let p = pending.pop_front().expect("group still queued");
            debug_assert!(p.batch.is_none(), "the group is the queue's front");
        }
        let next = pending.front().map(|p| Arc::clone(&p.slot));
        drop(pending);
        if let Some(next) = next {
            next.set(SlotState::Lead);
        }
    }

    /// Releases the group if not yet done, hands each follower its result and returns the
    /// leader's own. `results` is in `batches` order.
    pub fn finish(mut self, results: Vec<WriteResult>) -> WriteResult {
        assert_eq!(results.len(), self.len, "one result per batch");
        self.finished = true;
        let mut results = results.into_iter();
        let own = results.next().expect("a group holds the leader's batch");
        self.complete(results);
        own
    }

    /// Hands the followers their results, waking each.
    fn complete(&mut self, follower_results: impl Iterator<Item = WriteResult>) {
        self.release();
        for (slot, result) in self.followers.iter().zip(follower_results) {
            slot.set(SlotState::Done(result));
        }
    }
}

impl Drop for LeaderGroup<'_> {
    /// A leader that unwinds (a panic) without finishing must not strand its followers:
    /// they get `Poisoned`.
    fn drop(&mut self) {
        if !self.finished {
            let n = self.len - 1;
            self.complete((0..n).map(|_| Err(Error::Poisoned)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn error_copy_keeps_the_errno_of_io_errors() {
        let enospc = Error::Io(io::Error::from_raw_os_error(libc::ENOSPC));
        match error_copy(&enospc) {
            Error::Io(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("expected Io, got {other:?}"),
        }
        let custom = Error::Io(io::Error::other("boom"));
        match error_copy(&custom) {
            Error::Io(e) => assert_eq!(e.to_string(), "boom"),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    fn entry(key: &str, value: &str, seqno: u64) -> Entry {
        Entry {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            expires_at: None,
            seqno,
        }
    }

    /// Runs `check_group` against a committed state given as a map.
    fn check(committed: &[Entry], batches: &[WriteBatch], now: u64) -> Vec<Result<CheckedBatch>> {
        let state: BTreeMap<Bytes, Entry> = committed
            .iter()
            .map(|e| (e.key.clone(), e.clone()))
            .collect();
        check_group(batches, 100, now, &mut |k| Ok(state.get(k).cloned()))
    }

    #[test]
    fn group_len_respects_both_bounds_and_always_takes_the_leader() {
        assert_eq!(group_len([]), 0);
        assert_eq!(group_len([GROUP_BYTES_MAX * 2]), 1);
        assert_eq!(group_len([10, 20, 30]), 3);
        assert_eq!(group_len([GROUP_BYTES_MAX - 5, 5, 1]), 2);
        assert_eq!(
            group_len([GROUP_BYTES_MAX - 5, 6, 1]),
            1,
            "stops at the first misfit"
        );
        assert_eq!(
            group_len(vec![1; GROUP_BATCHES_MAX + 10]),
            GROUP_BATCHES_MAX
        );
    }

    #[test]
    fn modes_against_committed_state() {
        let committed = [entry("a", "old", 7)];
        let batches = [
            WriteBatch::from(Op::insert("a", "x")),
            WriteBatch::from(Op::insert("b", "x")),
            WriteBatch::from(Op::update("c", "x")),
            WriteBatch::from(Op::delete("c")),
            WriteBatch::from(Op::update("a", "new")),
        ];
        let out = check(&committed, &batches, 0);
        assert!(matches!(out[0], Err(Error::Conflict { index: 0 })));
        let b = out[1].as_ref().unwrap();
        assert_eq!(b.previous, vec![None]);
        assert_eq!(b.records[0].seqno, 100);
        assert!(matches!(out[2], Err(Error::NotFound { index: 0 })));
        assert!(matches!(out[3], Err(Error::NotFound { index: 0 })));
        let u = out[4].as_ref().unwrap();
        assert_eq!(u.previous, vec![Some(entry("a", "old", 7))]);
        assert_eq!(u.records[0].seqno, 101, "failed batches use no seqnos");
    }

    #[test]
    fn later_batches_see_earlier_ones_and_ops_see_earlier_ops() {
        let batches = [
            WriteBatch::new()
                .with(Op::insert("k", "1"))
                .with(Op::update("k", "2")),
            WriteBatch::from(Op::insert("k", "3")),
            WriteBatch::new()
                .with(Op::delete("k"))
                .with(Op::insert("k", "4")),
        ];
        let out = check(&[], &batches, 0);
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.previous[1], Some(entry("k", "1", 100)));
        assert!(matches!(out[1], Err(Error::Conflict { index: 0 })));
        let third = out[2].as_ref().unwrap();
        assert_eq!(third.previous[0], Some(entry("k", "2", 101)));
        assert_eq!(third.previous[1], None);
        assert_eq!(
            third.records.iter().map(|r| r.seqno).collect::<Vec<_>>(),
            vec![102, 103]
        );
        assert_eq!(third.records[0].kind, Kind::Delete);
    }

    #[test]
    fn a_failing_op_fails_its_whole_batch_only() {
        let batches = [
            WriteBatch::new()
                .with(Op::insert("x", "1"))
                .with(Op::update("missing", "1")),
            WriteBatch::from(Op::insert("x", "2")),
        ];
        let out = check(&[], &batches, 0);
        assert!(matches!(out[0], Err(Error::NotFound { index: 1 })));
        let second = out[1].as_ref().unwrap();
        assert_eq!(
            second.previous,
            vec![None],
            "the failed batch left no trace"
        );
        assert_eq!(second.records[0].seqno, 100);
    }

    #[test]
    fn expect_seqno_guards() {
        let committed = [entry("a", "v", 7)];
        let batches = [
            WriteBatch::from(Op::upsert("a", "w").expect_seqno(6)),
            WriteBatch::from(Op::upsert("b", "w").expect_seqno(6)),
            WriteBatch::from(Op::upsert("a", "w").expect_seqno(7)),
            WriteBatch::from(Op::delete("a").expect_seqno(100)),
        ];
        let out = check(&committed, &batches, 0);
        assert!(matches!(out[0], Err(Error::Conflict { index: 0 })));
        assert!(matches!(out[1], Err(Error::Conflict { index: 0 })));
        assert!(out[2].is_ok());
        assert!(out[3].is_ok(), "guards see the group's earlier writes");
    }

    #[test]
    fn expired_writes_are_not_live_for_later_ops() {
        let batches = [
            WriteBatch::from(Op::upsert("t", "v").expires_at(Some(50))),
            WriteBatch::from(Op::insert("t", "again")),
        ];
        let out = check(&[], &batches, 50);
        assert!(out[0].is_ok());
        assert_eq!(out[1].as_ref().unwrap().previous, vec![None]);
        assert_eq!(out[0].as_ref().unwrap().records[0].expires_at, 50);
    }

    #[test]
    fn a_blind_overwrite_neither_reads_nor_reports_the_replaced_entry() {
        let committed = [entry("a", "old", 7)];
        let batches = [
            WriteBatch::from(Op::overwrite("a", "new")),
            WriteBatch::from(Op::overwrite("fresh", "x")),
        ];
        let mut lookups = 0;
        let out = check_group(&batches, 100, 0, &mut |_| {
            lookups += 1;
            Ok(Some(committed[0].clone()))
        });
        assert_eq!(lookups, 0, "a blind write does no point read");
        for (i, result) in out.iter().enumerate() {
            let checked = result.as_ref().unwrap();
            assert_eq!(checked.previous, vec![None]);
            assert_eq!(checked.records[0].seqno, 100 + i as u64);
            assert_eq!(checked.records[0].kind, Kind::Put);
        }
        assert_eq!(out[0].as_ref().unwrap().records[0].value, "new");
    }

    #[test]
    fn a_guarded_overwrite_reads_checks_and_reports() {
        let committed = [entry("a", "old", 7)];
        let batches = [
            WriteBatch::from(Op::overwrite("a", "x").expect_seqno(6)),
            WriteBatch::from(Op::overwrite("a", "y").expect_seqno(7)),
        ];
        let out = check(&committed, &batches, 0);
        assert!(matches!(out[0], Err(Error::Conflict { index: 0 })));
        assert_eq!(
            out[1].as_ref().unwrap().previous,
            vec![Some(entry("a", "old", 7))]
        );
    }

    #[test]
    fn ops_that_read_see_blind_overwrites_before_them() {
        let committed = [entry("k", "old", 7)];
        let batches = [
            // Within one batch: the overwrite reports nothing, the ops after it see it.
            WriteBatch::new()
                .with(Op::overwrite("k", "1"))
                .with(Op::upsert("k", "2"))
                .with(Op::overwrite("k", "3")),
            // Across batches of one group.
            WriteBatch::from(Op::overwrite("g", "1")),
            WriteBatch::from(Op::insert("g", "2")),
            WriteBatch::from(Op::update("k", "4").expect_seqno(102)),
        ];
        let out = check(&committed, &batches, 0);
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.previous, vec![None, Some(entry("k", "1", 100)), None]);
        assert_eq!(out[1].as_ref().unwrap().previous, vec![None]);
        assert!(
            matches!(out[2], Err(Error::Conflict { index: 0 })),
            "the insert sees the overwrite of an earlier batch"
        );
        assert_eq!(
            out[3].as_ref().unwrap().previous,
            vec![Some(entry("k", "3", 102))]
        );
    }

    #[test]
    fn lookup_errors_fail_the_batch() {
        let batches = [WriteBatch::from(Op::upsert("a", "v"))];
        let out = check_group(&batches, 1, 0, &mut |_| Err(Error::Poisoned));
        assert!(matches!(out[0], Err(Error::Poisoned)));
    }

    #[test]
    fn queue_hands_every_writer_its_own_result() {
        let queue = Arc::new(CommitQueue::new());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        let key = format!("{t}-{i}");
                        let batch = WriteBatch::from(Op::upsert(key.clone(), "v"));
                        let result = match queue.join(batch, 1) {
                            Joined::Done(r) => r,
                            Joined::Leader(group) => {
                                // Echo every batch's key back as its "previous" value.
                                let results = group
                                    .batches
                                    .iter()
                                    .map(|b| {
                                        Ok(vec![Some(entry(
                                            std::str::from_utf8(&b.ops[0].key).unwrap(),
                                            "",
                                            0,
                                        ))])
                                    })
                                    .collect();
                                group.finish(results)
                            }
                        };
                        assert_eq!(result.unwrap()[0].as_ref().unwrap().key, key);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(lock(&queue.pending).is_empty());
    }

    #[test]
    fn an_unwinding_leader_fails_its_followers() {
        let queue = Arc::new(CommitQueue::new());
        let Joined::Leader(first) = queue.join(WriteBatch::from(Op::upsert("a", "v")), 1) else {
            panic!("the first writer leads");
        };
        // Two writers queue up behind the first group; the first of them will lead both.
        let spawn = |key: &'static str| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                match queue.join(WriteBatch::from(Op::upsert(key, "v")), 1) {
                    Joined::Done(result) => Some(result),
                    Joined::Leader(group) => {
                        assert_eq!(group.batches.len(), 2);
                        drop(group); // as if the commit panicked
                        None
                    }
                }
            })
        };
        let b = spawn("b");
        while lock(&queue.pending).len() < 2 {
            std::thread::yield_now();
        }
        let c = spawn("c");
        while lock(&queue.pending).len() < 3 {
            std::thread::yield_now();
        }
        assert!(first.finish(vec![Ok(vec![None])]).is_ok());
        let outcomes = [b.join().unwrap(), c.join().unwrap()];
        let failed: Vec<_> = outcomes.into_iter().flatten().collect();
        assert_eq!(failed.len(), 1, "one leader, one follower");
        assert!(matches!(failed[0], Err(Error::Poisoned)));
        assert!(lock(&queue.pending).is_empty());
    }

    #[test]
    fn a_released_group_lets_the_next_group_form_before_it_finishes() {
        let queue = CommitQueue::new();
        let queue = &queue;
        let join = |key: &'static str| queue.join(WriteBatch::from(Op::upsert(key, "v")), 1);
        let queued = |n: usize| {
            while lock(&queue.pending).len() < n {
                std::thread::yield_now();
            }
        };
        std::thread::scope(|scope| {
            let Joined::Leader(first) = join("p") else {
                panic!("the first writer leads");
            };
            // `a` and `x` queue behind the first group; `a` will lead both.
            let a = scope.spawn(move || join("a"));
            queued(2);
            let x = scope.spawn(move || match join("x") {
                Joined::Done(result) => result,
                Joined::Leader(_) => panic!("x follows a"),
            });
            queued(3);
            assert!(first.finish(vec![Ok(vec![None])]).is_ok());
            let Joined::Leader(mut group_a) = a.join().unwrap() else {
                panic!("a leads the second group");
            };
            assert_eq!(group_a.batches.len(), 2);
            group_a.release();
            assert!(lock(&queue.pending).is_empty());

            // The group after it forms, commits and finishes while `a`'s is still open.
            let Joined::Leader(group_y) = join("y") else {
                panic!("y leads once a's group is released");
            };
            assert_eq!(group_y.batches.len(), 1);
            assert!(group_y.finish(vec![Ok(vec![None])]).is_ok());
            assert!(!x.is_finished(), "x waits for its own group's result");

            let marker = entry("x", "done", 7);
            assert!(group_a
                .finish(vec![Ok(vec![None]), Ok(vec![Some(marker.clone())])])
                .is_ok());
            assert_eq!(x.join().unwrap().unwrap(), vec![Some(marker)]);
        });
        assert!(lock(&queue.pending).is_empty());
    }
}
