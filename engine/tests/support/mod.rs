//! Test support shared by the crash, fault and model tests: a `BTreeMap` model of the
//! engine, a probing/fault-injecting file-system decorator and the power-loss fuzzer.
//! Each test binary uses a different part.
#![allow(dead_code)]

pub mod model;
pub mod powerloss;
pub mod probe_fs;
