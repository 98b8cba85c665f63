//! Shared by the `crashtest_*` tests: the `stratad` binary (built by cargo on first use,
//! with the same profile as this test) and a runner for `strata crashtest`.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The `strata` binary under test.
pub fn strata() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// Builds `stratad` (crate strata-server) once per test binary and returns its path.
///
/// Cargo builds only this package's binaries for its tests, and artifact dependencies are
/// unstable, so the test asks cargo itself, with this build's profile, and reads the binary's
/// path from cargo's JSON messages (exact whatever the target directory).
pub fn stratad() -> &'static Path {
    static STRATAD: OnceLock<PathBuf> = OnceLock::new();
    STRATAD.get_or_init(build_stratad)
}

fn build_stratad() -> PathBuf {
    let profile_dir = strata().parent().expect("strata has a directory");
    let profile: Vec<String> = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => Vec::new(),
        Some("release") => vec!["--release".into()],
        Some(other) => vec!["--profile".into(), other.into()],
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    // Cargo describes this test's package in the environment; build scripts that watch those
    // variables (ring's watches CARGO_MANIFEST_DIR) would rebuild if they leaked into the
    // inner build. User settings (CARGO_HOME, CARGO_TARGET_DIR, ...) are kept.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo_for_tests = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            );
        if set_by_cargo_for_tests {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args([
            "build",
            "-q",
            "-p",
            "strata-server",
            "--bin",
            "stratad",
            "--message-format=json-render-diagnostics",
        ])
        .args(&profile)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run cargo build");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut executable = None;
    for line in stdout.lines() {
        let line = line.expect("cargo output");
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "stratad" {
            if let Some(exe) = msg["executable"].as_str() {
                executable = Some(PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().expect("cargo build");
    assert!(
        status.success(),
        "cargo build -p strata-server failed: {status}"
    );
    executable.expect("cargo reported the stratad executable")
}

/// The outcome of one `strata` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn output(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// The `total:` line.
    pub fn total(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("total: "))
            .unwrap_or_else(|| panic!("no total line\n{}", self.output()))
    }
}

/// Runs `strata` with `args` to completion.
pub fn run_strata(args: &[&str]) -> Run {
    let out = Command::new(strata())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strata");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The number before `label` in `line` (e.g. `count(line, " writes acknowledged")`).
pub fn count(line: &str, label: &str) -> u64 {
    let before = &line[..line
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {line:?}"))];
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {label:?} in {line:?}"))
}
