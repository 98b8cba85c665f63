//! The data-directory and credential subcommands: `inspect`, `verify`, `dump`, `load`,
//! `compact`, `backup`, `restore`, `keygen` and `token`. Each module parses its arguments (clap) and
//! runs; `run` turns the outcome into the exit status (see `docs/cli.md`):
//!
//! - 0: done, nothing wrong found;
//! - 1: damage found (`verify`, `inspect`, the check after `backup` / `restore`);
//! - 2: usage error (clap);
//! - 3: could not run (I/O error, locked directory, bad input, refused request).

mod backup;
mod compact;
mod dump;
mod entry;
mod inspect;
mod keygen;
mod load;
mod token;
mod verify;

use std::process::ExitCode;

use clap::Subcommand;

/// Exit status when damage was found.
pub const EXIT_DAMAGED: u8 = 1;
/// Exit status when the command could not do its job.
pub const EXIT_CANNOT_RUN: u8 = 3;

/// What a subcommand found, when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Damaged,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode one WAL segment, table or manifest for humans (or as JSON).
    #[command(subcommand)]
    Inspect(inspect::Command),
    /// Check every file of a data directory without modifying it.
    Verify(verify::Args),
    /// Write every live entry of a data directory as JSON lines.
    Dump(dump::DumpArgs),
    /// Bulk-import JSON lines (the dump format) into a data directory.
    Load(load::LoadArgs),
    /// Merge every table into one sorted run of live entries (a stopped server's directory).
    Compact(compact::CompactArgs),
    /// Write a consistent copy of a data directory: a stopped server's, or a running one's.
    Backup(backup::BackupArgs),
    /// Restore a backup into a data directory, then verify it.
    Restore(backup::RestoreArgs),
    /// Generate credentials.
    #[command(subcommand)]
    Keygen(keygen::Command),
    /// Mint or fetch an access token.
    #[command(subcommand)]
    Token(token::Command),
}

/// Runs `command` and maps its outcome to the exit status.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Inspect(cmd) => inspect::run(cmd),
        Command::Verify(args) => verify::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Load(args) => load::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Keygen(cmd) => keygen::run(cmd),
        Command::Token(cmd) => token::run(cmd),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Damaged) => ExitCode::from(EXIT_DAMAGED),
        Err(e) => {
            eprintln!("strata: error: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}
