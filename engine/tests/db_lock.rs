//! The data directory is locked: a second open fails with `Error::Locked` until the first
//! `Db` is gone.

mod db_common;

use db_common::*;
use strata_engine::{Db, Error};

#[test]
fn second_open_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let opts = manual_opts(&c);
    let first = open(dir.path(), &opts);
    put(&first, "k", "v");
    match Db::open(dir.path(), opts.clone()) {
        Err(Error::Locked { path }) => assert!(path.starts_with(dir.path())),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second Db opened a locked directory"),
    }
    // The failed open changed nothing.
    assert_eq!(value(&first, "k").as_deref(), Some("v"));
    drop(first);
    let again = open(dir.path(), &opts);
    assert_eq!(value(&again, "k").as_deref(), Some("v"));
}
