//! `strata crashtest`: the process-level crash fuzzer.
//!
//! Starts a real `stratad`, drives concurrent writes through all four dialects, `kill -9`s it
//! at a random (seeded) moment, restarts it on the same data directory and checks through the
//! HTTP API that every acknowledged write survived (see [`model`] for the rule), cycle after
//! cycle. See `docs/durability.md (section "The process-level crash fuzzer")`.

mod api;
mod daemon;
mod model;
mod verify;
mod workload;

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use api::{http_client, obtain_token, Credentials, Tokens};
use daemon::{Daemon, DaemonSpec};
use model::{Dialect, Model, Tally};
use verify::Verifier;
use workload::{run_client, Clock, CycleCtx, Shared, TokenWrite};

/// Most concurrent clients.
const CLIENTS_MAX: u32 = 256;
/// Longest traffic phase of one cycle, in ms.
const KILL_AFTER_MS_MAX: u64 = 600_000;
/// Share of cycles (percent) whose restart is itself killed during recovery, before the
/// restart that gets verified.
const RECOVERY_KILL_PERCENT: u32 = 10;
/// Longest time a recovering daemon runs before that extra kill, in ms.
const RECOVERY_KILL_MS_MAX: u64 = 60;
/// How many failure lines a failing cycle prints.
const FAILURES_SHOWN_MAX: usize = 20;
/// Exit status when a check failed (lost or garbage data, unexpected answers, a daemon that
/// would not restart). Usage errors exit 2 (clap); a harness that cannot run exits 3.
const EXIT_FAILED: u8 = 1;
const EXIT_CANNOT_RUN: u8 = 3;

/// `kill -9` a live stratad under write load, restart it, verify every acknowledged write.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `stratad` binary to test.
    #[arg(long, value_name = "PATH")]
    pub stratad: PathBuf,
    /// Kill/restart/verify cycles to run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub cycles: u32,
    /// Seed of every random choice (operations, keys, kill moments); random if absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Concurrent clients; client i speaks dialect i mod 4 (use at least 4 to cover all).
    #[arg(long, default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(CLIENTS_MAX)))]
    pub clients: u32,
    /// Traffic time before the kill, in ms: `MIN..MAX` (uniform) or one number.
    #[arg(long, value_name = "MIN..MAX", default_value = "200..500", value_parser = parse_kill_window)]
    pub kill_after_ms: RangeInclusive<u64>,
    /// Data directory (must be empty or absent; kept afterwards). Default: a temporary one,
    /// removed after a passing run.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

fn parse_kill_window(s: &str) -> Result<RangeInclusive<u64>, String> {
    let parse = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|e| format!("{x:?} is not a number of ms: {e}"))
    };
    let (min, max) = match s.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(s)?, parse(s)?),
    };
    if min > max {
        return Err(format!("{min} > {max}"));
    }
    if max > KILL_AFTER_MS_MAX {
        return Err(format!("at most {KILL_AFTER_MS_MAX} ms"));
    }
    Ok(min..=max)
}

/// Runs the command; the exit status says whether every check passed.
pub fn main(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crashtest: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILED),
        Err(e) => {
            eprintln!("crashtest: cannot run: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// A derived seed per (cycle, stream), so each client's choices do not depend on how many
/// requests the others managed (SplitMix64 finalizer).
fn sub_seed(seed: u64, cycle: u32, stream: u32) -> u64 {
    let mut z =
        seed ^ (u64::from(cycle) << 32 | u64::from(stream)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stream of the driver's own choices (kill moment, recovery kill).
const DRIVER_STREAM: u32 = u32::MAX;

/// Totals over the run.
#[derive(Debug, Default)]
struct Totals {
    cycles: u32,
    tally: Tally,
    tokens_checked: u64,
    recovery_kills: u64,
    requests: u64,
}

/// Why the run failed, and in which cycle.
struct Failure {
    cycle: u32,
    message: String,
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let stratad = std::fs::canonicalize(&args.stratad)
        .with_context(|| format!("--stratad {}", args.stratad.display()))?;
    let work = tempfile::Builder::new()
        .prefix("strata-crashtest-")
        .tempdir()
        .context("temporary directory")?;
    let data_dir = match &args.data_dir {
        Some(dir) => {
            let empty = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
            };
            ensure!(
                empty,
                "--data-dir {} is not empty: the checker's model starts from an empty database",
                dir.display()
            );
            std::path::absolute(dir)?
        }
        None => work.path().join("data"),
    };
    let credentials = Arc::new(Credentials::generate()?);
    let config = work.path().join("strata.toml");
    std::fs::write(&config, credentials.config_toml()).context("writing the config")?;
    std::fs::write(
        work.path().join(api::VOX_PUBLIC_KEY_FILE),
        &credentials.vox_public_pem,
    )
    .context("writing the public key")?;
    let spec = DaemonSpec::new(
        stratad,
        config,
        data_dir.clone(),
        work.path().join("stratad.log"),
        work.path().join("notify.sock"),
    )?;

    let window = &args.kill_after_ms;
    println!(
        "crashtest: seed {seed}, {} cycles, {} clients, kill after {}..{} ms, data {}",
        args.cycles,
        args.clients,
        window.start(),
        window.end(),
        data_dir.display()
    );
    let mut totals = Totals::default();
    let result = cycles(&args, seed, &spec, credentials, &mut totals).await;
    let t = &totals.tally;
    println!(
        "total: {} cycles, {} writes acknowledged, {} verified, {} maybe ({} applied), \
         {} tokens verified, {} recovery kills, {} requests; lost {}, garbage {}",
        totals.cycles,
        t.acked,
        t.verified,
        t.maybe,
        t.maybe_applied,
        totals.tokens_checked,
        totals.recovery_kills,
        totals.requests,
        t.lost,
        t.garbage
    );
    match result {
        Ok(()) => {
            println!("PASS");
            Ok(true)
        }
        Err(Failure { cycle, message }) => {
            println!("FAIL in cycle {cycle}: {message}");
            let kept = work.keep();
            println!(
                "kept for inspection: {} (config, stratad.log), data {}",
                kept.display(),
                data_dir.display()
            );
            println!(
                "reproduce: strata crashtest --stratad {} --seed {seed} --cycles {} \
                 --clients {} --kill-after-ms {}..{}",
                args.stratad.display(),
                cycle.max(1),
                args.clients,
                window.start(),
                window.end()
            );
            Ok(false)
        }
    }
}

/// Fresh tokens after a start: a key-values login and an app-keys token (both durable
/// writes, returned to be checked after the next crash) and a Voximplant JWT.
async fn fresh_tokens(
    credentials: &Credentials,
    http: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(Tokens, Vec<TokenWrite>)> {
    let keyvalues = obtain_token(credentials.keyvalues_login(http, base), "access_token")
        .await
        .context("key-values login")?;
    let app_keys = obtain_token(credentials.app_keys_token(http, base), "access_token")
        .await
        .context("app-keys token")?;
    let acked = vec![
        TokenWrite {
            dialect: Dialect::KeyValues,
            token: keyvalues.clone(),
        },
        TokenWrite {
            dialect: Dialect::AppKeys,
            token: app_keys.clone(),
        },
    ];
    let tokens = Tokens {
        keyvalues,
        app_keys,
        vox: credentials.vox_jwt()?,
    };
    Ok((tokens, acked))
}

async fn cycles(
    args: &Args,
    seed: u64,
    spec: &DaemonSpec,
    credentials: Arc<Credentials>,
    totals: &mut Totals,
) -> Result<(), Failure> {
    let fail = |cycle: u32| {
        move |e: anyhow::Error| Failure {
            cycle,
            message: format!("{e:#}"),
        }
    };
    let clients = args.clients;
    let pool = usize::try_from(clients).expect("small");
    let mut http = http_client(pool).map_err(fail(0))?;
    let mut daemon = spec
        .start(&http)
        .await
        .map_err(|e| fail(0)(anyhow::anyhow!("first start: {e}")))?;
    let (mut tokens, mut acked_tokens) = fresh_tokens(&credentials, &http, &base(&daemon))
        .await
        .map_err(fail(0))?;
    let mut model = Model::new();
    let clock = Arc::new(Clock::new());
    let mut shared = Arc::new(Shared::default());

    for cycle in 1..=args.cycles {
        let fail = fail(cycle);
        let mut driver = StdRng::seed_from_u64(sub_seed(seed, cycle, DRIVER_STREAM));
        let kill_after = Duration::from_millis(driver.gen_range(args.kill_after_ms.clone()));
        let ctx = Arc::new(CycleCtx {
            cycle,
            http: http.clone(),
            base: base(&daemon),
            tokens: tokens.clone(),
            credentials: credentials.clone(),
            clock: clock.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            shared: shared.clone(),
        });
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let dialect = Dialect::ALL[c as usize % Dialect::ALL.len()];
                let rng = StdRng::seed_from_u64(sub_seed(seed, cycle, c));
                tokio::spawn(run_client(ctx.clone(), c, dialect, rng))
            })
            .collect();
        tokio::time::sleep(kill_after).await;

        // NOTE: stop first, then kill: an answer that fails after `stop` is an expected
        // casualty of the kill, one that failed before is an anomaly.
        ctx.stop.store(true, Ordering::SeqCst);
        if let Some(status) = daemon.exited().map_err(&fail)? {
            return Err(fail(anyhow::anyhow!(
                "stratad exited by itself ({status}) before the kill; log tail:\n{}",
                spec.log_tail()
            )));
        }
        daemon.kill9().map_err(&fail)?;

        let mut anomalies = 0;
        let mut samples = Vec::new();
        for task in tasks {
            let report = task
                .await
                .map_err(|e| fail(anyhow::anyhow!("client task: {e}")))?;
            for (slot, write) in report.writes {
                match slot {
                    Some(slot) => model.record(slot, write),
                    None => model.record_unknown_app_key(write),
                }
            }
            model.record_issued(cycle, report.client, report.issued);
            acked_tokens.extend(report.tokens);
            anomalies += report.anomalies;
            samples.extend(report.anomaly_samples);
            totals.requests += report.requests;
        }

        let recovery_kill = driver.gen_range(0..100) < RECOVERY_KILL_PERCENT;
        if recovery_kill {
            let after = Duration::from_millis(driver.gen_range(0..=RECOVERY_KILL_MS_MAX));
            spec.start_and_kill(after).await.map_err(&fail)?;
            totals.recovery_kills += 1;
        }

        http = http_client(pool).map_err(&fail)?;
        daemon = spec.start(&http).await.map_err(|e| {
            fail(anyhow::anyhow!(
                "stratad did not come back after kill -9: {e}"
            ))
        })?;
        let base = base(&daemon);
        let (fresh, fresh_acked) = fresh_tokens(&credentials, &http, &base)
            .await
            .map_err(&fail)?;
        let verifier = Verifier {
            http: http.clone(),
            base,
            tokens: fresh.clone(),
        };
        let checked = std::mem::replace(&mut acked_tokens, fresh_acked);
        tokens = fresh;
        let v = verifier.verify(&mut model, &checked).await.map_err(&fail)?;
        shared = Arc::new(Shared {
            keyvalues_ids: v.keyvalues_ids.into(),
            app_keys: v.app_keys.into(),
        });

        let t = v.tally;
        println!(
            "cycle {cycle}/{}: killed after {} ms{}, acked {}, verified {}, maybe {} ({} applied), \
             tokens {}, lost {}, garbage {}",
            args.cycles,
            kill_after.as_millis(),
            if recovery_kill { " (+ recovery kill)" } else { "" },
            t.acked,
            t.verified,
            t.maybe,
            t.maybe_applied,
            v.tokens_checked,
            t.lost,
            t.garbage
        );
        totals.cycles = cycle;
        totals.tally += t;
        totals.tokens_checked += v.tokens_checked;

        if t.lost + t.garbage > 0 {
            for line in v.failures.iter().take(FAILURES_SHOWN_MAX) {
                println!("  {line}");
            }
            return Err(fail(anyhow::anyhow!(
                "{} lost, {} garbage (first {} shown above)",
                t.lost,
                t.garbage,
                v.failures.len().min(FAILURES_SHOWN_MAX)
            )));
        }
        if anomalies > 0 {
            for line in &samples {
                println!("  {line}");
            }
            return Err(fail(anyhow::anyhow!(
                "{anomalies} unexpected answers during the traffic (samples above)"
            )));
        }
    }

    let status = daemon.terminate().await.map_err(fail(args.cycles))?;
    if !status.success() {
        return Err(fail(args.cycles)(anyhow::anyhow!(
            "stratad did not stop cleanly on SIGTERM ({status}); log tail:\n{}",
            spec.log_tail()
        )));
    }
    if totals.tally.acked == 0 {
        return Err(fail(args.cycles)(anyhow::anyhow!(
            "no write was acknowledged: nothing was tested (kill window too short?)"
        )));
    }
    Ok(())
}

fn base(daemon: &Daemon) -> String {
    daemon.url("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_window_parses() {
        assert_eq!(parse_kill_window("200..500"), Ok(200..=500));
        assert_eq!(parse_kill_window("300"), Ok(300..=300));
        assert!(parse_kill_window("500..200").is_err());
        assert!(parse_kill_window("a..b").is_err());
        assert!(parse_kill_window("1..999999999").is_err());
    }

    #[test]
    fn sub_seeds_differ_per_stream_and_cycle_and_repeat() {
        assert_eq!(sub_seed(7, 1, 2), sub_seed(7, 1, 2));
        assert_ne!(sub_seed(7, 1, 2), sub_seed(7, 1, 3));
        assert_ne!(sub_seed(7, 1, 2), sub_seed(7, 2, 2));
        assert_ne!(sub_seed(7, 1, 2), sub_seed(8, 1, 2));
    }
}
