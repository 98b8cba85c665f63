//! Test support shared by the crash, fault and model tests: a `BTreeMap` model of the
//! engine, a probing/fault-injecting file-system decorator and the power-loss fuzzer.
//! Each test binary uses a different part.
#![allow(dead_code)]

pub mod model;
pub mod powerloss;
pub mod probe_fs;

/// A temporary directory, in RAM when `/dev/shm` exists: the tests model durability with
/// `FaultFs` (or do not need it), so real fsyncs would only cost time.
/// `STRATA_POWERLOSS_KEEP_DIR=1` keeps the directories (to look at the files of a failing
/// seed).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let keep = std::env::var_os("STRATA_POWERLOSS_KEEP_DIR").is_some();
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).disable_cleanup(keep);
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = builder.tempdir_in(shm) {
            return dir;
        }
    }
    builder.tempdir().expect("temporary directory")
}
