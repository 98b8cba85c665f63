//! Two (or more) concurrent Inserts of one key: exactly one succeeds.

mod db_common;

use std::sync::{Arc, Barrier};

use db_common::*;
use strata_engine::{Error, Op};

#[test]
fn exactly_one_concurrent_insert_wins() {
    const THREADS: usize = 8;
    const KEYS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let db = Arc::new(open(dir.path(), &manual_opts(&c)));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut wins = Vec::new();
                for k in 0..KEYS {
                    barrier.wait();
                    match db.write(Op::insert(format!("key{k}"), format!("t{t}")).into()) {
                        Ok(prev) => {
                            assert_eq!(prev, vec![None]);
                            wins.push(k);
                        }
                        Err(Error::Conflict { index: 0 }) => {}
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                (t, wins)
            })
        })
        .collect();
    let mut winners = vec![Vec::new(); KEYS];
    for h in handles {
        let (t, wins) = h.join().unwrap();
        for k in wins {
            winners[k].push(t);
        }
    }
    for (k, w) in winners.iter().enumerate() {
        assert_eq!(w.len(), 1, "key{k} had winners {w:?}");
        assert_eq!(
            value(&db, &format!("key{k}")),
            Some(format!("t{}", w[0])),
            "the stored value is the winner's"
        );
    }
}
