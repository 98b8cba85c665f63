//! Bearer tokens that already passed their full check (a JWT signature, a session read from
//! storage), remembered by their exact bytes until they expire, so a client's every request
//! does not pay that check again.
//!
//! Bounded: at most `entries_max` tokens of at most `key_bytes_max` bytes. When full, the
//! expired tokens go first; if all are live (that many clients), it starts afresh, which
//! costs each client one more full check.
//!
//! Revocation: [`CheckedTokens::forget`] drops a token, and a check that was already under
//! way (it may have read the token before the revocation) cannot remember it afterwards:
//! [`CheckedTokens::lookup`] hands a miss a [`Ticket`], and [`CheckedTokens::remember`]
//! ignores a ticket issued before any later `forget`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Remembered tokens and their verdicts.
pub struct CheckedTokens<V> {
    inner: Mutex<Inner<V>>,
    entries_max: usize,
    key_bytes_max: usize,
}

struct Inner<V> {
    by_key: HashMap<Box<[u8]>, Checked<V>>,
    /// `forget` calls so far: a ticket from before one may carry a revoked token's check.
    forgets: u64,
}

struct Checked<V> {
    verdict: V,
    /// First unix second the token is no longer accepted (the engine's rule: expired once
    /// `expires_at <= now`).
    expires_at: u64,
}

/// What is known of a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<V> {
    /// Checked, and not expired: what the check proved.
    Live(V),
    /// Checked once, expired now.
    Expired,
    /// Not remembered: check it, then pass this to [`CheckedTokens::remember`].
    Unknown(Ticket),
}

/// Proof of when a miss's check started, relative to revocations.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Ticket {
    forgets: u64,
}

impl<V: Clone> CheckedTokens<V> {
    pub fn new(entries_max: usize, key_bytes_max: usize) -> Self {
        CheckedTokens {
            inner: Mutex::new(Inner {
                by_key: HashMap::new(),
                forgets: 0,
            }),
            entries_max,
            key_bytes_max,
        }
    }

    /// The remembered verdict on `key` at `now` (unix seconds).
    pub fn lookup(&self, key: &[u8], now: u64) -> Lookup<V> {
        let inner = self.lock();
        match inner.by_key.get(key) {
            Some(checked) if now < checked.expires_at => Lookup::Live(checked.verdict.clone()),
            Some(_) => Lookup::Expired,
            None => Lookup::Unknown(Ticket {
                forgets: inner.forgets,
            }),
        }
    }

    /// Remembers that `key` passed its check with `verdict`, until `expires_at` (the first
    /// unix second it is refused). Does nothing if a token was forgotten since `ticket` was
    /// issued, if `key` is longer than the bound, or if it has expired already.
    pub fn remember(&self, ticket: Ticket, key: &[u8], verdict: V, expires_at: u64, now: u64) {
        if key.len() > self.key_bytes_max || expires_at <= now {
            return;
        }
        let mut inner = self.lock();
        if inner.forgets != ticket.forgets {
            return;
        }
        if inner.by_key.len() >= self.entries_max {
            inner.by_key.retain(|_, checked| now < checked.expires_at);
            if inner.by_key.len() >= self.entries_max {
                inner.by_key.clear();
            }
        }
        inner.by_key.insert(
            key.into(),
            Checked {
                verdict,
                expires_at,
            },
        );
    }

    /// Drops `key` (revoked), and voids every ticket issued so far.
    pub fn forget(&self, key: &[u8]) {
        let mut inner = self.lock();
        inner.forgets += 1;
        inner.by_key.remove(key);
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // Every update leaves the map consistent, so a panic elsewhere cannot poison it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(tokens: &CheckedTokens<u32>, key: &[u8]) -> Ticket {
        match tokens.lookup(key, 0) {
            Lookup::Unknown(ticket) => ticket,
            other => panic!("{key:?} is remembered: {other:?}"),
        }
    }

    #[test]
    fn a_token_is_live_until_its_expiry() {
        let tokens = CheckedTokens::new(8, 64);
        let t = ticket(&tokens, b"a");
        tokens.remember(t, b"a", 7, 100, 0);
        assert_eq!(tokens.lookup(b"a", 99), Lookup::Live(7));
        assert_eq!(tokens.lookup(b"a", 100), Lookup::Expired);
        assert!(matches!(tokens.lookup(b"b", 0), Lookup::Unknown(_)));
    }

    #[test]
    fn a_forgotten_token_is_unknown_and_a_check_begun_before_cannot_bring_it_back() {
        let tokens = CheckedTokens::new(8, 64);
        let t = ticket(&tokens, b"a");
        tokens.remember(t, b"a", 1, 100, 0);
        // A second check of another token starts, then "a" is revoked.
        let stale = ticket(&tokens, b"b");
        tokens.forget(b"a");
        assert!(matches!(tokens.lookup(b"a", 0), Lookup::Unknown(_)));
        // The check that began before the revocation may have read "a" as still valid.
        tokens.remember(stale, b"a", 1, 100, 0);
        assert!(matches!(tokens.lookup(b"a", 0), Lookup::Unknown(_)));
        // A check begun after it is remembered.
        let fresh = ticket(&tokens, b"b");
        tokens.remember(fresh, b"b", 2, 100, 0);
        assert_eq!(tokens.lookup(b"b", 0), Lookup::Live(2));
    }

    #[test]
    fn remembered_tokens_stay_bounded() {
        const MAX: usize = 16;
        let tokens = CheckedTokens::new(MAX, 8);
        for i in 0..MAX {
            // Even: live until 1 000; odd: expired at 10.
            let expires_at = if i % 2 == 0 { 1_000 } else { 10 };
            let key = format!("t{i}");
            tokens.remember(
                ticket(&tokens, key.as_bytes()),
                key.as_bytes(),
                0,
                expires_at,
                0,
            );
        }
        assert_eq!(tokens.len(), MAX);
        // Full: the expired half goes, the live half stays.
        tokens.remember(ticket(&tokens, b"new"), b"new", 0, 1_000, 500);
        assert_eq!(tokens.len(), MAX / 2 + 1);
        assert_eq!(tokens.lookup(b"t0", 500), Lookup::Live(0));
        assert!(matches!(tokens.lookup(b"t1", 500), Lookup::Unknown(_)));
        // Full of live tokens: start afresh.
        for i in 0..MAX {
            let key = format!("u{i}");
            tokens.remember(
                ticket(&tokens, key.as_bytes()),
                key.as_bytes(),
                0,
                1_000,
                500,
            );
        }
        assert!(tokens.len() <= MAX);
        let last = format!("u{}", MAX - 1);
        assert_eq!(tokens.lookup(last.as_bytes(), 500), Lookup::Live(0));
        // Oversized and already expired tokens are never kept.
        let tokens = CheckedTokens::new(MAX, 8);
        tokens.remember(ticket(&tokens, b"123456789"), b"123456789", 0, 1_000, 0);
        tokens.remember(ticket(&tokens, b"old"), b"old", 0, 10, 10);
        assert!(tokens.is_empty());
    }
}
