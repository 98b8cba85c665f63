//! Creates, updates and deletes of application keys, applied per store by one committer that
//! folds every change queued meanwhile into one engine batch with one budget update.
//!
//! Why: every change of a store's keys moves its budget record (the running sum of
//! `reserved_rate_limit` and the key count). When each request read the record and wrote it
//! back guarded by its seqno, concurrent requests of one store could only commit one per
//! fsync: the others failed with `Conflict` and retried (about 40 engine writes per success
//! under 64 connections), so the store managed ~1 000 changes/s.
//!
//! How: a request validates its input and submits a [`Change`] to its store's queue. Whoever
//! finds the queue idle spawns the store's committer (a task, so a client hanging up cannot
//! strand the queue). The committer takes what is queued (up to [`CHANGES_PER_BATCH_MAX`]),
//! reads the budget record once, checks each change in arrival order against the running
//! totals, writes the accepted ones and the new totals in **one** batch, waits for it to be
//! durable, then answers every request of the group. Changes arriving during that commit wait
//! for the next group. Then it takes the next group, and exits when the queue is empty.
//!
//! Pipelined: the committer does not wait for a group's fdatasync before planning the next
//! one, only for its append. It plans on top of the groups still in flight by reading what
//! was appended (`Db::get_appended`), so each group sees the totals and keys the group
//! before left, durable or not. That is safe because the engine commits batches in order:
//! if a group's fdatasync fails, every group appended after it fails too, and no answer
//! leaves before its own group (which waited for everything appended before it) is durable.
//! At most [`GROUPS_IN_FLIGHT_MAX`] groups of a store wait for their fdatasync; a task per
//! group answers it. A group that writes nothing (every change refused) is answered only
//! once nothing else of its store is in flight, planned again from the durable state, so no
//! refusal rests on a write that could still be lost.
//!
//! Why it is correct: a store has at most one committer at a time (its queue entry exists
//! exactly while it runs, and a committer is only started by whoever creates the entry), and
//! nothing else writes budget records, so each group sees the totals the group before left.
//! The checks are the same as a one-at-a-time run in queue order would make. The budget write
//! stays guarded by the seqno it read, as a backstop. Key records are also written by token
//! requests (`last_used_at`, guarded): a group that meets such a race fails as a whole with
//! `Conflict`; its changes go back to the front of the queue and are planned again from fresh
//! reads, at most `WRITE_ATTEMPTS_MAX` times each (then `429`). This relies on the daemon
//! being the only writer of its data directory (it holds the directory lock).

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use hyper::StatusCode;
use strata_engine::batch::BATCH_OPS_MAX;
use strata_engine::{Op, WriteBatch};
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use super::input::UpdateInput;
use super::keys::{
    budget_op, not_found, over_budget, read_budget, read_key, store_full, within_budget, ReadAt,
    KEYS_PER_STORE_MAX,
};
use super::layout::{self, BudgetRecord, ClientRecord, KeyRecord};
use super::{corrupt, engine_failure, error_response, is_retryable, too_much_contention};
use super::{secret, Failure, Timestamp, WRITE_ATTEMPTS_MAX};
use crate::config::AppKeysStore;
use crate::dialects::common;
use crate::http::Resp;
use crate::AppState;

/// Most changes folded into one batch. A change writes at most 3 ops (key, listing entry,
/// client-id index), plus one budget op per batch.
pub const CHANGES_PER_BATCH_MAX: usize = 256;
const _: () = assert!(CHANGES_PER_BATCH_MAX * 3 < BATCH_OPS_MAX);

/// Most groups of one store appended and waiting for their fdatasync.
pub const GROUPS_IN_FLIGHT_MAX: usize = 4;

/// A change to a store's keys, validated by the request handler.
#[derive(Debug)]
pub enum Change {
    Create(NewKey),
    Update { id: String, input: UpdateInput },
    Delete { id: String },
}

impl Change {
    /// The existing key this change reads and writes (creates make a fresh one).
    fn existing_id(&self) -> Option<&str> {
        match self {
            Change::Create(_) => None,
            Change::Update { id, .. } | Change::Delete { id } => Some(id),
        }
    }
}

/// What a create needs besides fresh ids: the secret itself stays with the request.
#[derive(Debug)]
pub struct NewKey {
    pub name: String,
    pub reserved_rate_limit: u64,
    pub secret_salt: String,
    pub secret_hash: String,
}

/// What a change came to.
#[derive(Debug)]
pub enum Outcome {
    /// Durable: the key as stored (`None` after a delete).
    Done(Option<KeyRecord>),
    /// Refused or failed, with the answer; nothing of it was stored.
    Refused(Resp),
}

struct Pending {
    change: Change,
    /// The store's `rate_limit` when the request arrived (a SIGHUP may change it).
    rate_limit: u64,
    reply: oneshot::Sender<Outcome>,
    /// Groups of this change that lost a race (`Conflict`) so far.
    attempts: usize,
}

/// A store's queue: the server (the address of its `AppState`, since tests run several
/// servers in one process) and the store id. The entry exists exactly while the store's
/// committer runs, and the committer holds the `Arc<AppState>`, so the address cannot be
/// reused by another server while an entry names it.
type QueueKey = (usize, String);

/// A store's queued changes, and how its committer learns of new ones while it waits for
/// groups in flight.
struct StoreQueue {
    pending: VecDeque<Pending>,
    arrived: Arc<Notify>,
}

static QUEUES: LazyLock<Mutex<HashMap<QueueKey, StoreQueue>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The queues, also after a panic elsewhere (they hold no invariant a panic could break
/// half-way: every access is one push, one take or one removal).
fn queues() -> MutexGuard<'static, HashMap<QueueKey, StoreQueue>> {
    QUEUES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `change` for `store` and waits until it is durable (or refused).
pub async fn submit(state: &Arc<AppState>, store: &AppKeysStore, change: Change) -> Outcome {
    let (reply, answer) = oneshot::channel();
    let key: QueueKey = (Arc::as_ptr(state) as usize, store.store_id.clone());
    let pending = Pending {
        change,
        rate_limit: store.rate_limit,
        reply,
        attempts: 0,
    };
    enqueue(state, key, vec![pending], End::Back);
    answer.await.unwrap_or_else(|_| {
        // Only if the committer panicked (logged by the runtime) or the runtime is stopping.
        Outcome::Refused(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the change could not be applied; retry the request",
        ))
    })
}

/// Which end of a store's queue changes join.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// New changes.
    Back,
    /// Changes of a group that lost a race: they go first again, in their order.
    Front,
}

/// Adds `pendings` to the store's queue, starting its committer if none runs.
fn enqueue(state: &Arc<AppState>, key: QueueKey, pendings: Vec<Pending>, end: End) {
    let start_committer = match queues().entry(key.clone()) {
        MapEntry::Occupied(mut queue) => {
            let queue = queue.get_mut();
            match end {
                End::Back => queue.pending.extend(pendings),
                End::Front => {
                    for p in pendings.into_iter().rev() {
                        queue.pending.push_front(p);
                    }
                }
            }
            queue.arrived.notify_one();
            false
        }
        MapEntry::Vacant(slot) => {
            slot.insert(StoreQueue {
                pending: VecDeque::from(pendings),
                arrived: Arc::new(Notify::new()),
            });
            true
        }
    };
    if start_committer {
        // Made before the spawn, so that even a task that never runs (the runtime shutting
        // down) removes the entry when it is dropped.
        let registration = Registration(Some(key));
        tokio::spawn(run_committer(state.clone(), registration));
    }
}

/// Removes a committer's queue entry if the committer ends without doing so itself (a panic,
/// or the runtime dropping the task, even before it ran), so the next request starts a new
/// one. The requests still queued get no answer: their `oneshot` senders are dropped with the
/// entry.
struct Registration(Option<QueueKey>);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            queues().remove(&key);
        }
    }
}

async fn run_committer(state: Arc<AppState>, mut registration: Registration) {
    let key = registration
        .0
        .clone()
        .expect("armed until the committer returns");
    let in_flight = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT_MAX));
    let arrived = queues()
        .get(&key)
        .map(|queue| Arc::clone(&queue.arrived))
        .expect("a store's queue entry lives as long as its committer");
    loop {
        let group = {
            let mut queues = queues();
            let queue = &mut queues
                .get_mut(&key)
                .expect("a store's queue entry lives as long as its committer")
                .pending;
            if queue.is_empty() {
                // The committer outlives its groups in flight, so that a store's groups
                // are always counted by one semaphore (a group that loses a race comes
                // back to this queue).
                if in_flight.available_permits() == GROUPS_IN_FLIGHT_MAX {
                    queues.remove(&key);
                    registration.0 = None;
                    return;
                }
                None
            } else {
                Some(take_group(queue))
            }
        };
        match group {
            Some(group) => commit_group(&state, &key, group, &in_flight).await,
            // Until a change arrives or every group in flight is done. `Notify` keeps a
            // notification sent while nobody waited, so none is lost.
            None => tokio::select! {
                () = arrived.notified() => {}
                all = acquire(&in_flight, GROUPS_IN_FLIGHT_MAX) => drop(all),
            },
        }
    }
}

/// Takes the next group off the queue: at most `CHANGES_PER_BATCH_MAX` changes, and at most
/// one per existing key (a later change of the same key waits for the next group, so every
/// change reads what the one before it wrote). The rest stays queued in order.
fn take_group(queue: &mut VecDeque<Pending>) -> Vec<Pending> {
    let mut group = Vec::new();
    let mut touched = HashSet::new();
    let mut later = VecDeque::new();
    while let Some(p) = queue.pop_front() {
        if group.len() == CHANGES_PER_BATCH_MAX {
            later.push_back(p);
            later.append(queue);
            break;
        }
        match p.change.existing_id() {
            Some(id) if !touched.insert(id.to_owned()) => later.push_back(p),
            _ => group.push(p),
        }
    }
    *queue = later;
    group
}

/// Plans and appends one group, and leaves a task to answer it once durable.
async fn commit_group(
    state: &Arc<AppState>,
    key: &QueueKey,
    group: Vec<Pending>,
    in_flight: &Arc<Semaphore>,
) {
    let mut permit = acquire(in_flight, 1).await;
    let (batch, outcomes) = loop {
        let (batch, outcomes) = match plan(state, &key.1, &group) {
            Ok(planned) => planned,
            Err(f) => return answer_all(group, || f.response()),
        };
        let alone = in_flight.available_permits() + 1 == GROUPS_IN_FLIGHT_MAX;
        if !batch.is_empty() || alone {
            break (batch, outcomes);
        }
        // Every change refused, maybe on writes still in flight: wait until they are
        // durable (or failed), then plan again.
        drop(permit);
        drop(acquire(in_flight, GROUPS_IN_FLIGHT_MAX).await);
        permit = acquire(in_flight, 1).await;
    };
    if batch.is_empty() {
        return answer(group, outcomes);
    }
    let mut write = state.write_staged(batch).await;
    // The next group is planned on top of this one: it must be appended first.
    write.appended().await;
    let state = Arc::clone(state);
    let key = key.clone();
    tokio::spawn(async move {
        match write.done().await {
            Ok(_) => answer(group, outcomes),
            // A token request stamped a key of the group meanwhile: plan it again.
            Err(e) if is_retryable(&e) => retry(&state, key, group),
            Err(e) => answer_all(group, || engine_failure(&e)),
        }
        // Last: a retried group is back in the queue before the committer may see none
        // in flight and stop.
        drop(permit);
    });
}

async fn acquire(in_flight: &Arc<Semaphore>, permits: usize) -> OwnedSemaphorePermit {
    Arc::clone(in_flight)
        .acquire_many_owned(permits as u32)
        .await
        .expect("the semaphore is never closed")
}

fn answer(group: Vec<Pending>, outcomes: Vec<Outcome>) {
    for (p, outcome) in group.into_iter().zip(outcomes) {
        // The request may have gone (client hung up); the change stands.
        let _ = p.reply.send(outcome);
    }
}

/// Puts a group that lost a race back at the front of its queue, but answers `429` to the
/// changes that lost `WRITE_ATTEMPTS_MAX` times.
fn retry(state: &Arc<AppState>, key: QueueKey, group: Vec<Pending>) {
    let (again, exhausted): (Vec<Pending>, Vec<Pending>) = group
        .into_iter()
        .map(|mut p| {
            p.attempts += 1;
            p
        })
        .partition(|p| p.attempts < WRITE_ATTEMPTS_MAX);
    answer_all(exhausted, too_much_contention);
    if !again.is_empty() {
        enqueue(state, key, again, End::Front);
    }
}

fn answer_all(group: Vec<Pending>, response: impl Fn() -> Resp) {
    for p in group {
        let _ = p.reply.send(Outcome::Refused(response()));
    }
}

/// The batch of a group and each change's outcome, checked in order against the running
/// totals from one read of the budget record.
fn plan(
    state: &AppState,
    store_id: &str,
    group: &[Pending],
) -> Result<(WriteBatch, Vec<Outcome>), Failure> {
    let (before, seqno) = read_budget(state, store_id, ReadAt::Appended)?;
    let mut budget = before;
    let mut batch = WriteBatch::new();
    let outcomes = group
        .iter()
        .map(|p| apply(state, store_id, p, &mut budget, &mut batch))
        .collect();
    if budget != before {
        batch.push(budget_op(store_id, &budget, seqno));
    }
    Ok((batch, outcomes))
}

/// Checks one change against `budget`; if accepted, adds its ops to `batch` and moves
/// `budget`. A refused change adds nothing.
fn apply(
    state: &AppState,
    store_id: &str,
    p: &Pending,
    budget: &mut BudgetRecord,
    batch: &mut WriteBatch,
) -> Outcome {
    match &p.change {
        Change::Create(new) => {
            if budget.keys >= KEYS_PER_STORE_MAX {
                return Outcome::Refused(store_full());
            }
            let new_total = budget.reserved_total.checked_add(new.reserved_rate_limit);
            if !within_budget(budget.reserved_total, new_total, p.rate_limit) {
                return Outcome::Refused(over_budget());
            }
            let now = Timestamp::now();
            let record = KeyRecord {
                id: common::random_uuid().to_string(),
                name: new.name.clone(),
                client_id: secret::random_alphanumeric(secret::CLIENT_ID_CHARS),
                secret_salt: new.secret_salt.clone(),
                secret_hash: new.secret_hash.clone(),
                reserved_rate_limit: new.reserved_rate_limit,
                created_ms: now.ms,
                created_at: now.text.clone(),
                updated_at: now.text,
                last_used_at: None,
            };
            let client = ClientRecord {
                store_id: store_id.to_owned(),
                key_id: record.id.clone(),
            };
            batch
                .push(Op::insert(
                    layout::key_record_key(store_id, &record.id),
                    layout::encode(&record),
                ))
                .push(Op::insert(
                    layout::order_key(store_id, record.created_ms, &record.id),
                    Vec::new(),
                ))
                .push(Op::insert(
                    layout::client_key(&record.client_id),
                    layout::encode(&client),
                ));
            *budget = BudgetRecord {
                reserved_total: new_total.expect("within_budget refuses an overflow"),
                keys: budget.keys + 1,
            };
            Outcome::Done(Some(record))
        }
        Change::Update { id, input } => {
            let (mut record, entry) = match read_key(state, store_id, id, ReadAt::Appended) {
                Ok(Some(found)) => found,
                Ok(None) => return Outcome::Refused(not_found()),
                Err(f) => return Outcome::Refused(f.response()),
            };
            let old_limit = record.reserved_rate_limit;
            if let Some(name) = &input.name {
                record.name = name.clone();
            }
            if let Some(limit) = input.reserved_rate_limit {
                record.reserved_rate_limit = limit;
            }
            if record.reserved_rate_limit != old_limit {
                let Some(rest) = budget.reserved_total.checked_sub(old_limit) else {
                    return Outcome::Refused(corrupt(
                        "the budget record is below a key's reserved rate limit",
                    ));
                };
                let new_total = rest.checked_add(record.reserved_rate_limit);
                if !within_budget(budget.reserved_total, new_total, p.rate_limit) {
                    return Outcome::Refused(over_budget());
                }
                budget.reserved_total = new_total.expect("within_budget refuses an overflow");
            }
            record.updated_at = Timestamp::now().text;
            batch.push(
                Op::update(entry.key.clone(), layout::encode(&record)).expect_seqno(entry.seqno),
            );
            Outcome::Done(Some(record))
        }
        Change::Delete { id } => {
            let (record, entry) = match read_key(state, store_id, id, ReadAt::Appended) {
                Ok(Some(found)) => found,
                Ok(None) => return Outcome::Refused(not_found()),
                Err(f) => return Outcome::Refused(f.response()),
            };
            let (Some(reserved_total), Some(keys)) = (
                budget
                    .reserved_total
                    .checked_sub(record.reserved_rate_limit),
                budget.keys.checked_sub(1),
            ) else {
                return Outcome::Refused(corrupt("the budget record does not cover a stored key"));
            };
            batch
                .push(Op::delete(entry.key.clone()).expect_seqno(entry.seqno))
                .push(Op::delete(layout::order_key(
                    store_id,
                    record.created_ms,
                    &record.id,
                )))
                .push(Op::delete(layout::client_key(&record.client_id)));
            *budget = BudgetRecord {
                reserved_total,
                keys,
            };
            Outcome::Done(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(change: Change) -> (Pending, oneshot::Receiver<Outcome>) {
        let (reply, rx) = oneshot::channel();
        let p = Pending {
            change,
            rate_limit: 100,
            reply,
            attempts: 0,
        };
        (p, rx)
    }

    fn delete(id: &str) -> Change {
        Change::Delete { id: id.to_owned() }
    }

    fn create(name: &str) -> Change {
        Change::Create(NewKey {
            name: name.to_owned(),
            reserved_rate_limit: 0,
            secret_salt: String::new(),
            secret_hash: String::new(),
        })
    }

    fn label(p: &Pending) -> String {
        match &p.change {
            Change::Create(new) => format!("create {}", new.name),
            Change::Update { id, .. } => format!("update {id}"),
            Change::Delete { id } => format!("delete {id}"),
        }
    }

    fn create_reserving(reserved_rate_limit: u64, rate_limit: u64) -> Pending {
        let (mut p, _) = pending(Change::Create(NewKey {
            name: "k".into(),
            reserved_rate_limit,
            secret_salt: String::new(),
            secret_hash: String::new(),
        }));
        p.rate_limit = rate_limit;
        p
    }

    async fn detail(resp: Resp) -> (StatusCode, String) {
        use http_body_util::BodyExt;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (
            status,
            v["errors"][0]["detail"].as_str().unwrap().to_owned(),
        )
    }

    /// A server state on a fresh engine in `dir`, default config.
    fn state_in(dir: &std::path::Path) -> AppState {
        let db = Arc::new(strata_engine::Db::open(dir, Default::default()).unwrap());
        let config = crate::config::Config::default();
        AppState::new(db, config, dir.into(), dir.into()).unwrap()
    }

    #[tokio::test]
    async fn a_group_is_checked_in_order_against_the_running_totals() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path());

        // Budget 10: 6 fits, 5 no longer does, 4 still does, 0 always does.
        let group: Vec<Pending> = [6, 5, 4, 0]
            .into_iter()
            .map(|r| create_reserving(r, 10))
            .collect();
        let (batch, outcomes) = plan(&state, "s", &group).unwrap();
        assert_eq!(batch.len(), 3 * 3 + 1, "three keys, one budget record");
        let mut refused = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Outcome::Done(Some(record)) => {
                    assert_eq!(record.reserved_rate_limit, [6, 5, 4, 0][i])
                }
                Outcome::Refused(resp) => refused.push((i, detail(resp).await)),
                Outcome::Done(None) => panic!("a create yields its key"),
            }
        }
        assert_eq!(
            refused,
            [(
                1,
                (
                    StatusCode::CONFLICT,
                    "requested reserved rate limit will exceed the maximum".to_owned()
                )
            )]
        );
        state.db.write(batch).unwrap();
        assert_eq!(
            read_budget(&state, "s", ReadAt::Durable).unwrap().0,
            BudgetRecord {
                reserved_total: 10,
                keys: 3
            }
        );

        // One key short of the cap: the first create of a group takes the last place.
        let full = BudgetRecord {
            reserved_total: 0,
            keys: KEYS_PER_STORE_MAX - 1,
        };
        state.db.write(budget_op("t", &full, None).into()).unwrap();
        let group = vec![create_reserving(0, 10), create_reserving(0, 10)];
        let (_, mut outcomes) = plan(&state, "t", &group).unwrap();
        let Some(Outcome::Refused(resp)) = outcomes.pop() else {
            panic!("the second create is refused");
        };
        let (status, detail) = detail(resp).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(detail.contains("maximum of 10000"), "{detail}");
        assert!(matches!(outcomes.pop(), Some(Outcome::Done(Some(_)))));
    }

    #[tokio::test]
    async fn a_group_is_planned_on_top_of_a_group_still_waiting_for_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path());

        // The first group creates a key; it is appended, not yet durable.
        let (batch, outcomes) = plan(&state, "s", &[create_reserving(3, 10)]).unwrap();
        let Some(Outcome::Done(Some(created))) = outcomes.into_iter().next() else {
            panic!("the create is accepted");
        };
        let first = state.db.append_many(vec![batch]);
        assert!(read_key(&state, "s", &created.id, ReadAt::Durable)
            .unwrap()
            .is_none());

        // The next group sees it: the delete finds the key, the create sees its totals.
        let (second, _) = pending(delete(&created.id));
        let group = vec![second, create_reserving(8, 10)];
        let (batch, outcomes) = plan(&state, "s", &group).unwrap();
        assert!(
            matches!(outcomes[0], Outcome::Done(None)),
            "the delete finds the key"
        );
        assert!(
            matches!(outcomes[1], Outcome::Done(Some(_))),
            "3 - 3 + 8 fits a limit of 10"
        );
        let second = state.db.append_many(vec![batch]);
        assert!(state.db.finish_writes(first)[0].is_ok());
        assert!(state.db.finish_writes(second)[0].is_ok());
        assert_eq!(
            read_budget(&state, "s", ReadAt::Durable).unwrap().0,
            BudgetRecord {
                reserved_total: 8,
                keys: 1
            }
        );
    }

    #[test]
    fn a_group_changes_each_existing_key_once_and_keeps_the_rest_in_order() {
        let mut queue: VecDeque<Pending> = [
            delete("a"),
            create("x"),
            Change::Update {
                id: "a".into(),
                input: UpdateInput {
                    name: Some("n".into()),
                    reserved_rate_limit: None,
                },
            },
            delete("b"),
            create("y"),
            delete("a"),
        ]
        .into_iter()
        .map(|c| pending(c).0)
        .collect();
        let group: Vec<String> = take_group(&mut queue).iter().map(label).collect();
        assert_eq!(group, ["delete a", "create x", "delete b", "create y"]);
        let rest: Vec<String> = queue.iter().map(label).collect();
        assert_eq!(rest, ["update a", "delete a"]);
        let group: Vec<String> = take_group(&mut queue).iter().map(label).collect();
        assert_eq!(group, ["update a"]);
        assert_eq!(take_group(&mut queue).len(), 1);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_group_holds_at_most_the_batch_bound() {
        let mut queue: VecDeque<Pending> = (0..CHANGES_PER_BATCH_MAX + 3)
            .map(|i| pending(create(&i.to_string())).0)
            .collect();
        let group = take_group(&mut queue);
        assert_eq!(group.len(), CHANGES_PER_BATCH_MAX);
        assert_eq!(label(&group[0]), "create 0");
        let rest: Vec<String> = queue.iter().map(label).collect();
        assert_eq!(
            rest,
            (CHANGES_PER_BATCH_MAX..CHANGES_PER_BATCH_MAX + 3)
                .map(|i| format!("create {i}"))
                .collect::<Vec<_>>()
        );
    }
}
