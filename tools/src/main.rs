//! `strata`: the operator CLI for Strata data directories and daemons.
//!
//! A thin dispatcher: each subcommand lives in its own module and returns its exit status.

mod cmd;
mod crashtest;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Strata's operator CLI.
#[derive(Debug, Parser)]
#[command(name = "strata", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Kill -9 a live stratad under write load, again and again, and verify after each
    /// restart that every acknowledged write survived.
    Crashtest(crashtest::Args),
    /// inspect, verify, dump, load, backup, restore, keygen, token (see `cmd`).
    #[command(flatten)]
    Ops(cmd::Command),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crashtest(args) => crashtest::main(args),
        Command::Ops(command) => cmd::run(command),
    }
}
