//! The checker's model: what every tracked slot (a key, or an application key's id) may hold
//! after a crash, given the writes issued against it, and the verdict on what was observed.
//!
//! Pure: no I/O, no clock. The driver feeds it writes and observations.
//!
//! The rule is the one of a linearizable register. Every write takes effect at one instant
//! between its invocation and its response. So a write `c` is *superseded* when an
//! acknowledged write was invoked after `c` completed: that one took effect later. What a slot
//! holds after the crash must be the state left by a write that is not superseded (the slot's
//! state at the start of the cycle counts as a write that completed at tick 0). A write whose
//! response never came ("maybe") never completed, so it is never superseded, and it may also
//! never have happened: its state is allowed, never required.
//!
//! Consequences: an acknowledged write is present unless a later acknowledged or maybe write
//! replaced it; a later acknowledged upsert never reverts to an older value; an acknowledged
//! delete stays deleted unless a later write recreated the key.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// How far (in seconds) an expiry may be in the future and still explain an absent item: the
/// server and the checker read the same clock, but not at the same instant.
pub const EXPIRY_SLACK_SECS: u64 = 2;

/// Separates the fields of a payload (`{tag}~{cycle}~{client}~{seq}`). Never part of a tag.
const PAYLOAD_SEPARATOR: char = '~';

/// The four dialects of `stratad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    Keystore,
    KeyValues,
    AppKeys,
    Voximplant,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Keystore,
        Dialect::KeyValues,
        Dialect::AppKeys,
        Dialect::Voximplant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Keystore => "keystore",
            Dialect::KeyValues => "keyvalues",
            Dialect::AppKeys => "app-keys",
            Dialect::Voximplant => "voximplant",
        }
    }
}

/// One register the checker tracks: a key of a dialect, or (app keys) a server-assigned id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub dialect: Dialect,
    pub name: String,
}

impl Slot {
    pub fn new(dialect: Dialect, name: impl Into<String>) -> Slot {
        Slot {
            dialect,
            name: name.into(),
        }
    }

    /// The tag that payloads written to this slot start with. Application keys get their id
    /// from the server after the name (the payload) is chosen, so they share one tag.
    pub fn tag(&self) -> &str {
        match self.dialect {
            Dialect::AppKeys => APP_KEYS_TAG,
            _ => &self.name,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.dialect.name(), self.name)
    }
}

/// The payload tag of every application key's name.
pub const APP_KEYS_TAG: &str = "ak";

/// When a stored value stops being visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The dialect has no expiry (`expires_at` is never reported).
    Never,
    /// Exactly at this unix second (acknowledged, or `expires_at` given by the client).
    At(u64),
    /// Somewhere in this range of unix seconds: a `ttl` write whose response never came, so
    /// the server's clock reading is known only to lie between invocation and failure.
    Within { earliest: u64, latest: u64 },
}

impl Expiry {
    /// Whether an item with this expiry may be reported with `expires_at`.
    fn admits(self, expires_at: Option<u64>) -> bool {
        match (self, expires_at) {
            (Expiry::Never, None) => true,
            (Expiry::At(e), Some(x)) => e == x,
            (Expiry::Within { earliest, latest }, Some(x)) => (earliest..=latest).contains(&x),
            _ => false,
        }
    }

    /// Whether the item may already be expired (invisible) at `now_unix`.
    fn may_have_passed(self, now_unix: u64) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(e) | Expiry::Within { earliest: e, .. } => e <= now_unix + EXPIRY_SLACK_SECS,
        }
    }
}

/// A value written to a slot. `payload` is unique per write (see [`payload`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub payload: String,
    /// The server-assigned id the value must be found under, when known (key-values items).
    pub id: Option<String>,
    pub expiry: Expiry,
}

/// What a write leaves in its slot: a value, or nothing (a delete).
pub type State = Option<Value>;

/// One write request, as the client saw it.
#[derive(Clone, Debug)]
pub struct Write {
    /// What kind of request it was, for reports (`"keystore upsert"`).
    pub op: &'static str,
    /// The slot's state if this write took effect.
    pub state: State,
    /// Tick taken just before the request was sent.
    pub invoked: u64,
    /// `Some(tick)` taken after a 2xx arrived (acknowledged); `None` if the answer never came
    /// (maybe).
    pub acked: Option<u64>,
}

impl Write {
    fn is_acked(&self) -> bool {
        self.acked.is_some()
    }
}

/// What the server returned for a slot after the restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Absent,
    Present {
        payload: String,
        id: Option<String>,
        expires_at: Option<u64>,
    },
    /// Something that no well-formed write could have produced (bad padding, bad JSON, ...).
    Malformed(String),
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Absent => f.write_str("absent"),
            Observed::Present {
                payload,
                id,
                expires_at,
            } => {
                write!(f, "{payload:?}")?;
                if let Some(id) = id {
                    write!(f, " id {id}")?;
                }
                if let Some(e) = expires_at {
                    write!(f, " expires_at {e}")?;
                }
                Ok(())
            }
            Observed::Malformed(why) => write!(f, "malformed ({why})"),
        }
    }
}

impl Observed {
    /// The observation as the state the next cycle starts from.
    fn into_state(self) -> State {
        match self {
            Observed::Present {
                payload,
                id,
                expires_at,
            } => Some(Value {
                payload,
                id,
                expiry: expires_at.map_or(Expiry::Never, Expiry::At),
            }),
            Observed::Absent | Observed::Malformed(_) => None,
        }
    }
}

/// The verdict on one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Explained by the history. `by_maybe`: only an unacknowledged write explains it.
    Ok { by_maybe: bool },
    /// An acknowledged write is missing: absent, or an older value came back.
    Lost(String),
    /// A value no write produced (unknown payload, wrong id or expiry, malformed).
    Garbage(String),
}

/// Judges one slot: `initial` is its state when the cycle began, `writes` the writes issued
/// to it during the cycle, `observed` what the restarted server returned at `now_unix`.
/// `known` says whether a payload was ever issued for this slot (by any cycle).
pub fn check(
    initial: &State,
    writes: &[Write],
    observed: &Observed,
    now_unix: u64,
    known: impl Fn(&str) -> bool,
) -> Verdict {
    if let Observed::Malformed(why) = observed {
        return Verdict::Garbage(format!("malformed value: {why}"));
    }
    // The last acknowledged invocation: every write that completed before it is superseded.
    let last_acked_invocation = writes
        .iter()
        .filter(|w| w.is_acked())
        .map(|w| w.invoked)
        .max();
    let live = |completed: Option<u64>| match (last_acked_invocation, completed) {
        (None, _) | (_, None) => true,
        (Some(last), Some(done)) => done > last,
    };
    // Completed at tick 0, before any write of this cycle was invoked.
    let initial_live = live(Some(0));
    let initial_matches = initial_live && matches(initial, observed, now_unix);
    let certain = initial_matches
        || writes
            .iter()
            .any(|w| w.is_acked() && live(w.acked) && matches(&w.state, observed, now_unix));
    if certain {
        return Verdict::Ok { by_maybe: false };
    }
    if writes
        .iter()
        .any(|w| !w.is_acked() && matches(&w.state, observed, now_unix))
    {
        return Verdict::Ok { by_maybe: true };
    }

    let expected = describe_expected(initial, initial_live, writes, live);
    match observed {
        Observed::Absent => Verdict::Lost(format!("absent; expected {expected}")),
        Observed::Present { payload, .. } if !known(payload) => Verdict::Garbage(format!(
            "unknown value {observed}, never written to this slot; expected {expected}"
        )),
        Observed::Present { payload, .. } => {
            let same_payload_live = (initial_live && has_payload(initial, payload))
                || writes
                    .iter()
                    .any(|w| live(w.acked) && has_payload(&w.state, payload));
            if same_payload_live {
                Verdict::Garbage(format!(
                    "{observed}: the value is right but its id or expiry is not; expected {expected}"
                ))
            } else {
                Verdict::Lost(format!(
                    "reverted to an older value {observed}; expected {expected}"
                ))
            }
        }
        Observed::Malformed(_) => unreachable!("handled above"),
    }
}

fn has_payload(state: &State, payload: &str) -> bool {
    state.as_ref().is_some_and(|v| v.payload == payload)
}

/// Whether `state` (if its write took effect last) explains `observed` at `now_unix`.
fn matches(state: &State, observed: &Observed, now_unix: u64) -> bool {
    match (state, observed) {
        (None, Observed::Absent) => true,
        (Some(v), Observed::Absent) => v.expiry.may_have_passed(now_unix),
        (
            Some(v),
            Observed::Present {
                payload,
                id,
                expires_at,
            },
        ) => {
            v.payload == *payload
                && v.id.as_ref().is_none_or(|want| Some(want) == id.as_ref())
                && v.expiry.admits(*expires_at)
        }
        (None, Observed::Present { .. }) | (_, Observed::Malformed(_)) => false,
    }
}

fn describe_expected(
    initial: &State,
    initial_live: bool,
    writes: &[Write],
    live: impl Fn(Option<u64>) -> bool,
) -> String {
    let describe = |state: &State| match state {
        None => "absent".to_owned(),
        Some(v) => {
            let mut s = format!("{:?}", v.payload);
            if let Some(id) = &v.id {
                s += &format!(" id {id}");
            }
            match v.expiry {
                Expiry::Never => {}
                Expiry::At(e) => s += &format!(" expires_at {e}"),
                Expiry::Within { earliest, latest } => {
                    s += &format!(" expires_at {earliest}..={latest}")
                }
            }
            s
        }
    };
    let mut out = Vec::new();
    if initial_live {
        out.push(format!("{} (state before the cycle)", describe(initial)));
    }
    for w in writes.iter().filter(|w| live(w.acked)) {
        let how = if w.is_acked() { "acked" } else { "maybe" };
        out.push(format!("{} ({how} {})", describe(&w.state), w.op));
    }
    if out.is_empty() {
        "nothing (no write explains any state)".to_owned()
    } else {
        out.join(" or ")
    }
}

/// The payload of the `seq`-th write of `client` in `cycle` to slots tagged `tag`.
pub fn payload(tag: &str, cycle: u32, client: u32, seq: u64) -> String {
    debug_assert!(!tag.contains(PAYLOAD_SEPARATOR));
    format!("{tag}{PAYLOAD_SEPARATOR}{cycle}{PAYLOAD_SEPARATOR}{client}{PAYLOAD_SEPARATOR}{seq}")
}

/// Parses a payload into (tag, cycle, client, seq).
fn parse_payload(payload: &str) -> Option<(&str, u32, u32, u64)> {
    let mut parts = payload.split(PAYLOAD_SEPARATOR);
    let tag = parts.next()?;
    let cycle = parts.next()?.parse().ok()?;
    let client = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((tag, cycle, client, seq))
}

/// FNV-1a: a fixed hash, so the padding of a payload is the same in every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Filler derived from the payload (0..=`bytes_max` hex digits), so values are large enough to
/// fill memtables and every byte of them can be checked.
pub fn padding(payload: &str, bytes_max: usize) -> String {
    let h = fnv1a(payload.as_bytes());
    let len = usize::try_from(h % (bytes_max as u64 + 1)).expect("at most bytes_max");
    format!("{h:016x}").chars().cycle().take(len).collect()
}

/// `payload|padding`: how key-values and Voximplant values carry a payload.
pub fn padded_value(payload: &str, bytes_max: usize) -> String {
    format!("{payload}|{}", padding(payload, bytes_max))
}

/// The payload of a value built by [`padded_value`], or why it is not one.
pub fn unpad_value(value: &str, bytes_max: usize) -> Result<&str, String> {
    let (payload, pad) = value
        .split_once('|')
        .ok_or_else(|| format!("no payload separator in {:.80?}", value))?;
    if pad != padding(payload, bytes_max) {
        return Err(format!("padding of {payload:?} is damaged"));
    }
    Ok(payload)
}

/// The `reserved_rate_limit` an application key named `payload` is created with (0..=2), so
/// that the observed limit can be checked without remembering it.
pub fn rate_limit_for(payload: &str) -> u64 {
    fnv1a(payload.as_bytes()) % 3
}

/// A slot's state at the start of the cycle and the writes issued to it since.
#[derive(Debug, Default)]
struct SlotHistory {
    initial: State,
    writes: Vec<Write>,
}

/// Counts of one verification.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Acknowledged writes judged.
    pub acked: u64,
    /// Acknowledged writes whose slot was explained by the history.
    pub verified: u64,
    /// Writes whose answer never came.
    pub maybe: u64,
    /// Slots explained only by a maybe write (the write took effect).
    pub maybe_applied: u64,
    /// Slots (or tokens) whose acknowledged write is missing.
    pub lost: u64,
    /// Values (or keys) no write produced.
    pub garbage: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.acked += o.acked;
        self.verified += o.verified;
        self.maybe += o.maybe;
        self.maybe_applied += o.maybe_applied;
        self.lost += o.lost;
        self.garbage += o.garbage;
    }
}

/// Every slot's history, and which payloads were ever issued.
#[derive(Debug, Default)]
pub struct Model {
    slots: BTreeMap<Slot, SlotHistory>,
    /// (cycle, client) -> how many payloads that client issued in that cycle.
    issued: HashMap<(u32, u32), u64>,
    /// Application keys created by a request whose answer never came: their id is unknown,
    /// their payload (name) is.
    unknown_app_keys: Vec<Write>,
}

impl Model {
    pub fn new() -> Model {
        Model::default()
    }

    /// Records a write to `slot` (a slot seen for the first time starts absent).
    pub fn record(&mut self, slot: Slot, write: Write) {
        self.slots.entry(slot).or_default().writes.push(write);
    }

    /// Records an application key created by a request that got no answer.
    pub fn record_unknown_app_key(&mut self, write: Write) {
        assert!(!write.is_acked(), "an acknowledged create has an id");
        self.unknown_app_keys.push(write);
    }

    /// Records that `client` issued `count` payloads in `cycle`.
    pub fn record_issued(&mut self, cycle: u32, client: u32, count: u64) {
        *self.issued.entry((cycle, client)).or_default() += count;
    }

    /// Whether `payload` was issued for slots tagged `tag`.
    pub fn known(&self, tag: &str, payload: &str) -> bool {
        parse_payload(payload).is_some_and(|(t, cycle, client, seq)| {
            t == tag && seq < self.issued.get(&(cycle, client)).copied().unwrap_or(0)
        })
    }

    /// The tracked slots of `dialect`.
    pub fn slots(&self, dialect: Dialect) -> impl Iterator<Item = &Slot> {
        self.slots.keys().filter(move |s| s.dialect == dialect)
    }

    /// Judges `slot` against `observed`, then makes the observation the slot's initial state
    /// for the next cycle. Adds to `tally`; returns the verdict.
    pub fn verify(
        &mut self,
        slot: &Slot,
        observed: Observed,
        now_unix: u64,
        tally: &mut Tally,
    ) -> Verdict {
        let history = self.slots.remove(slot).unwrap_or_default();
        let tag = slot.tag().to_owned();
        let verdict = check(
            &history.initial,
            &history.writes,
            &observed,
            now_unix,
            |p| self.known(&tag, p),
        );
        let acked = history.writes.iter().filter(|w| w.is_acked()).count() as u64;
        tally.acked += acked;
        tally.maybe += history.writes.len() as u64 - acked;
        match &verdict {
            Verdict::Ok { by_maybe } => {
                tally.verified += acked;
                tally.maybe_applied += u64::from(*by_maybe);
            }
            Verdict::Lost(_) => tally.lost += 1,
            Verdict::Garbage(_) => tally.garbage += 1,
        }
        self.slots.insert(
            slot.clone(),
            SlotHistory {
                initial: observed.into_state(),
                writes: Vec::new(),
            },
        );
        verdict
    }

    /// An application key the server lists under an id the model does not track: it must be
    /// one created by a request that got no answer (matched by name). Adopts it as a tracked
    /// slot and returns the verdict.
    pub fn adopt_unknown_app_key(
        &mut self,
        id: &str,
        observed: Observed,
        tally: &mut Tally,
    ) -> Verdict {
        let slot = Slot::new(Dialect::AppKeys, id);
        assert!(!self.slots.contains_key(&slot), "{slot} is tracked");
        let Observed::Present { payload, .. } = &observed else {
            return Verdict::Garbage(format!("application key {id}: {observed}"));
        };
        let created = self.unknown_app_keys.iter().position(|w| {
            w.state
                .as_ref()
                .is_some_and(|v| v.payload == *payload && v.expiry.admits(None))
        });
        let verdict = match created {
            Some(i) => {
                self.unknown_app_keys.swap_remove(i);
                tally.maybe += 1;
                tally.maybe_applied += 1;
                Verdict::Ok { by_maybe: true }
            }
            None => {
                tally.garbage += 1;
                Verdict::Garbage(format!(
                    "application key {id} ({observed}) was never created by an unanswered request"
                ))
            }
        };
        self.slots.insert(
            slot,
            SlotHistory {
                initial: observed.into_state(),
                writes: Vec::new(),
            },
        );
        verdict
    }

    /// Ends the cycle's bookkeeping of unanswered creates: those no listed key matched did
    /// not happen. Returns how many they were.
    pub fn forget_unknown_app_keys(&mut self) -> u64 {
        let n = self.unknown_app_keys.len() as u64;
        self.unknown_app_keys.clear();
        n
    }

    /// The state a slot starts the next cycle with (after [`Model::verify`]).
    #[cfg(test)]
    pub fn state(&self, slot: &Slot) -> Option<&Value> {
        self.slots.get(slot).and_then(|h| h.initial.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(payload: &str) -> State {
        Some(Value {
            payload: payload.into(),
            id: None,
            expiry: Expiry::Never,
        })
    }

    fn seen(payload: &str) -> Observed {
        Observed::Present {
            payload: payload.into(),
            id: None,
            expires_at: None,
        }
    }

    fn acked(state: State, invoked: u64, done: u64) -> Write {
        Write {
            op: "test",
            state,
            invoked,
            acked: Some(done),
        }
    }

    fn maybe(state: State, invoked: u64) -> Write {
        Write {
            op: "test",
            state,
            invoked,
            acked: None,
        }
    }

    fn judge(initial: &State, writes: &[Write], observed: &Observed) -> Verdict {
        check(initial, writes, observed, 1_000, |p| p.starts_with('k'))
    }

    #[test]
    fn acknowledged_value_present_is_ok() {
        let w = [acked(val("k1"), 1, 2)];
        assert_eq!(
            judge(&None, &w, &seen("k1")),
            Verdict::Ok { by_maybe: false }
        );
    }

    #[test]
    fn acknowledged_value_absent_is_lost() {
        let w = [acked(val("k1"), 1, 2)];
        assert!(matches!(
            judge(&None, &w, &Observed::Absent),
            Verdict::Lost(_)
        ));
    }

    #[test]
    fn later_acknowledged_write_wins_over_earlier() {
        let w = [acked(val("k1"), 1, 2), acked(val("k2"), 3, 4)];
        assert_eq!(
            judge(&None, &w, &seen("k2")),
            Verdict::Ok { by_maybe: false }
        );
        let v = judge(&None, &w, &seen("k1"));
        assert!(
            matches!(&v, Verdict::Lost(why) if why.contains("reverted")),
            "{v:?}"
        );
    }

    #[test]
    fn overlapping_acknowledged_writes_may_land_in_either_order() {
        // Invoked 1 and 2, answered 4 and 3: neither began after the other ended.
        let w = [acked(val("k1"), 1, 4), acked(val("k2"), 2, 3)];
        assert_eq!(
            judge(&None, &w, &seen("k1")),
            Verdict::Ok { by_maybe: false }
        );
        assert_eq!(
            judge(&None, &w, &seen("k2")),
            Verdict::Ok { by_maybe: false }
        );
    }

    #[test]
    fn maybe_write_may_or_may_not_have_happened() {
        let w = [acked(val("k1"), 1, 2), maybe(val("k2"), 3)];
        assert_eq!(
            judge(&None, &w, &seen("k1")),
            Verdict::Ok { by_maybe: false }
        );
        assert_eq!(
            judge(&None, &w, &seen("k2")),
            Verdict::Ok { by_maybe: true }
        );
        assert!(matches!(
            judge(&None, &w, &Observed::Absent),
            Verdict::Lost(_)
        ));
    }

    #[test]
    fn maybe_write_never_completes_so_a_later_ack_cannot_hide_it_but_can_supersede_the_past() {
        // A maybe issued before an acked write may still have landed after it.
        let w = [maybe(val("k1"), 1), acked(val("k2"), 2, 3)];
        assert_eq!(
            judge(&None, &w, &seen("k1")),
            Verdict::Ok { by_maybe: true }
        );
    }

    #[test]
    fn acknowledged_delete_stays_deleted() {
        let initial = val("k0");
        let w = [acked(None, 1, 2)];
        assert_eq!(
            judge(&initial, &w, &Observed::Absent),
            Verdict::Ok { by_maybe: false }
        );
        assert!(matches!(judge(&initial, &w, &seen("k0")), Verdict::Lost(_)));
        // ... unless a later maybe write recreated it.
        let w = [acked(None, 1, 2), maybe(val("k1"), 3)];
        assert_eq!(
            judge(&initial, &w, &seen("k1")),
            Verdict::Ok { by_maybe: true }
        );
    }

    #[test]
    fn initial_state_survives_a_cycle_without_acknowledged_writes() {
        let initial = val("k0");
        assert_eq!(
            judge(&initial, &[], &seen("k0")),
            Verdict::Ok { by_maybe: false }
        );
        assert!(matches!(
            judge(&initial, &[], &Observed::Absent),
            Verdict::Lost(_)
        ));
        let w = [maybe(None, 1)];
        assert_eq!(
            judge(&initial, &w, &Observed::Absent),
            Verdict::Ok { by_maybe: true }
        );
    }

    #[test]
    fn unknown_or_malformed_values_are_garbage() {
        let w = [acked(val("k1"), 1, 2)];
        assert!(matches!(
            judge(&None, &w, &seen("zzz")),
            Verdict::Garbage(_)
        ));
        assert!(matches!(
            judge(&None, &w, &Observed::Malformed("bad".into())),
            Verdict::Garbage(_)
        ));
        assert!(matches!(
            judge(&None, &[], &seen("zzz")),
            Verdict::Garbage(_)
        ));
    }

    #[test]
    fn right_payload_with_wrong_expiry_or_id_is_garbage() {
        let w = [acked(
            Some(Value {
                payload: "k1".into(),
                id: Some("id-1".into()),
                expiry: Expiry::At(5_000),
            }),
            1,
            2,
        )];
        let wrong_expiry = Observed::Present {
            payload: "k1".into(),
            id: Some("id-1".into()),
            expires_at: Some(6_000),
        };
        assert!(matches!(
            judge(&None, &w, &wrong_expiry),
            Verdict::Garbage(_)
        ));
        let wrong_id = Observed::Present {
            payload: "k1".into(),
            id: Some("id-2".into()),
            expires_at: Some(5_000),
        };
        assert!(matches!(judge(&None, &w, &wrong_id), Verdict::Garbage(_)));
        let right = Observed::Present {
            payload: "k1".into(),
            id: Some("id-1".into()),
            expires_at: Some(5_000),
        };
        assert_eq!(judge(&None, &w, &right), Verdict::Ok { by_maybe: false });
    }

    #[test]
    fn expired_values_may_be_absent_but_live_ones_may_not() {
        let ttl = |expiry| {
            Some(Value {
                payload: "k1".into(),
                id: None,
                expiry,
            })
        };
        // now = 1_000 in `judge`.
        let expired = [acked(ttl(Expiry::At(999)), 1, 2)];
        assert_eq!(
            judge(&None, &expired, &Observed::Absent),
            Verdict::Ok { by_maybe: false }
        );
        let near = [acked(ttl(Expiry::At(1_000 + EXPIRY_SLACK_SECS)), 1, 2)];
        assert_eq!(
            judge(&None, &near, &Observed::Absent),
            Verdict::Ok { by_maybe: false }
        );
        let live = [acked(ttl(Expiry::At(1_000 + EXPIRY_SLACK_SECS + 1)), 1, 2)];
        assert!(matches!(
            judge(&None, &live, &Observed::Absent),
            Verdict::Lost(_)
        ));
        // An unanswered ttl write: expiry known to lie in a window.
        let window = [maybe(
            ttl(Expiry::Within {
                earliest: 1_500,
                latest: 1_502,
            }),
            1,
        )];
        let at = |e| Observed::Present {
            payload: "k1".into(),
            id: None,
            expires_at: Some(e),
        };
        assert_eq!(
            judge(&None, &window, &at(1_501)),
            Verdict::Ok { by_maybe: true }
        );
        assert!(matches!(
            judge(&None, &window, &at(1_503)),
            Verdict::Garbage(_)
        ));
    }

    #[test]
    fn model_tracks_issued_payloads_per_slot_tag() {
        let mut m = Model::new();
        m.record_issued(3, 1, 10);
        assert!(m.known("ks-1", &payload("ks-1", 3, 1, 9)));
        assert!(!m.known("ks-1", &payload("ks-1", 3, 1, 10)));
        assert!(!m.known("ks-1", &payload("ks-1", 3, 2, 0)));
        assert!(!m.known("ks-2", &payload("ks-1", 3, 1, 0)));
        assert!(!m.known("ks-1", "ks-1~3~1"));
        assert!(!m.known("ks-1", "ks-1~3~1~0~9"));
    }

    #[test]
    fn model_carries_the_observation_into_the_next_cycle() {
        let mut m = Model::new();
        let slot = Slot::new(Dialect::Keystore, "ks-1");
        let p1 = payload("ks-1", 1, 0, 0);
        m.record_issued(1, 0, 1);
        m.record(slot.clone(), acked(val(&p1), 1, 2));
        let mut tally = Tally::default();
        let v = m.verify(&slot, seen(&p1), 0, &mut tally);
        assert_eq!(v, Verdict::Ok { by_maybe: false });
        assert_eq!(
            tally,
            Tally {
                acked: 1,
                verified: 1,
                ..Tally::default()
            }
        );
        // Next cycle, no writes: the value must still be there.
        let v = m.verify(&slot, Observed::Absent, 0, &mut tally);
        assert!(matches!(v, Verdict::Lost(_)), "{v:?}");
        assert_eq!(tally.lost, 1);
        assert_eq!(m.state(&slot), None, "the observation is the new state");
    }

    #[test]
    fn model_adopts_unanswered_app_key_creates_by_name() {
        let mut m = Model::new();
        let name = payload(APP_KEYS_TAG, 1, 0, 0);
        m.record_unknown_app_key(maybe(val(&name), 1));
        let mut tally = Tally::default();
        assert_eq!(
            m.adopt_unknown_app_key("id-9", seen(&name), &mut tally),
            Verdict::Ok { by_maybe: true }
        );
        assert!(m.state(&Slot::new(Dialect::AppKeys, "id-9")).is_some());
        // The same name cannot explain a second key.
        assert!(matches!(
            m.adopt_unknown_app_key("id-10", seen(&name), &mut tally),
            Verdict::Garbage(_)
        ));
        assert_eq!(
            tally,
            Tally {
                maybe: 1,
                maybe_applied: 1,
                garbage: 1,
                ..Tally::default()
            }
        );
        assert_eq!(m.forget_unknown_app_keys(), 0);
    }

    #[test]
    fn padding_round_trips_and_detects_damage() {
        let p = payload("vx-1", 7, 2, 41);
        let v = padded_value(&p, 500);
        assert_eq!(unpad_value(&v, 500), Ok(p.as_str()));
        let mut damaged = v.clone();
        damaged.push('0');
        assert!(unpad_value(&damaged, 500).is_err());
        assert!(unpad_value("no-separator", 500).is_err());
        assert!(padding(&p, 500).len() <= 500);
        assert!(rate_limit_for(&p) <= 2);
    }
}
