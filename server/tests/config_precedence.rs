//! CLI > env > file > defaults, as a pure function (`config::resolve`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use strata_server::config::{self, ConfigFile, Overrides, DEFAULT_DATA_DIR, DEFAULT_LISTEN};

fn file(toml: &str) -> ConfigFile {
    ConfigFile {
        path: PathBuf::from("/etc/strata/strata.toml"),
        dir: PathBuf::from("/etc/strata"),
        config: config::parse(toml).expect("valid config"),
    }
}

fn cli(listen: &str, data_dir: &str) -> Overrides {
    Overrides {
        listen: Some(listen.into()),
        data_dir: Some(data_dir.into()),
        ..Overrides::default()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const FILE: &str = "listen = \"127.0.0.1:3000\"\ndata_dir = \"file-data\"\n";
const CWD: &str = "/work";

#[test]
fn defaults_apply_without_anything() {
    let s = config::resolve(
        &Overrides::default(),
        &Overrides::default(),
        None,
        Path::new(CWD),
    )
    .unwrap();
    assert_eq!(s.listen, addr(DEFAULT_LISTEN));
    assert_eq!(s.data_dir, Path::new(CWD).join(DEFAULT_DATA_DIR));
    assert_eq!(s.config_dir, Path::new(CWD));
    assert_eq!(s.config.listen, Some(s.listen));
    assert_eq!(s.config.data_dir.as_deref(), Some(s.data_dir.as_path()));
}

#[test]
fn the_file_beats_defaults() {
    let s = config::resolve(
        &Overrides::default(),
        &Overrides::default(),
        Some(file(FILE)),
        Path::new(CWD),
    )
    .unwrap();
    assert_eq!(s.listen, addr("127.0.0.1:3000"));
    assert_eq!(s.data_dir, Path::new("/etc/strata/file-data"));
    assert_eq!(s.config_dir, Path::new("/etc/strata"));
}

#[test]
fn env_beats_the_file() {
    let env = cli("127.0.0.1:4000", "env-data");
    let s = config::resolve(
        &Overrides::default(),
        &env,
        Some(file(FILE)),
        Path::new(CWD),
    )
    .unwrap();
    assert_eq!(s.listen, addr("127.0.0.1:4000"));
    // Paths from the environment are relative to the working directory.
    assert_eq!(s.data_dir, Path::new("/work/env-data"));
}

#[test]
fn cli_beats_env_and_file() {
    let env = cli("127.0.0.1:4000", "env-data");
    let cmd = cli("127.0.0.1:5000", "/abs/cli-data");
    let s = config::resolve(&cmd, &env, Some(file(FILE)), Path::new(CWD)).unwrap();
    assert_eq!(s.listen, addr("127.0.0.1:5000"));
    assert_eq!(s.data_dir, Path::new("/abs/cli-data"));
}

#[test]
fn each_setting_falls_through_independently() {
    // CLI sets only listen, env only the data dir.
    let cmd = Overrides {
        listen: Some("127.0.0.1:5000".into()),
        ..Overrides::default()
    };
    let env = Overrides {
        data_dir: Some("env-data".into()),
        ..Overrides::default()
    };
    let s = config::resolve(&cmd, &env, Some(file(FILE)), Path::new(CWD)).unwrap();
    assert_eq!(s.listen, addr("127.0.0.1:5000"));
    assert_eq!(s.data_dir, Path::new("/work/env-data"));
}

#[test]
fn the_config_file_is_chosen_by_cli_then_env() {
    let cwd = Path::new(CWD);
    let env = Overrides::from_env(|name| match name {
        "STRATA_CONFIG" => Some("env.toml".into()),
        "STRATA_LISTEN" => Some("".into()), // empty counts as unset
        _ => None,
    });
    assert_eq!(env.listen, None);
    assert_eq!(
        config::config_path(&Overrides::default(), &env, cwd),
        Some(PathBuf::from("/work/env.toml"))
    );
    let cmd = Overrides {
        config: Some("/etc/cli.toml".into()),
        ..Overrides::default()
    };
    assert_eq!(
        config::config_path(&cmd, &env, cwd),
        Some(PathBuf::from("/etc/cli.toml"))
    );
    assert_eq!(
        config::config_path(&Overrides::default(), &Overrides::default(), cwd),
        None
    );
}

#[test]
fn cli_tls_replaces_file_tls() {
    let f = file("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n");
    let s = config::resolve(
        &Overrides::default(),
        &Overrides::default(),
        Some(f.clone()),
        Path::new(CWD),
    )
    .unwrap();
    let tls = s.config.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/etc/strata/c.pem"));
    assert_eq!(tls.key, Path::new("/etc/strata/k.pem"));

    let cmd = Overrides {
        tls_cert: Some("cli-c.pem".into()),
        tls_key: Some("cli-k.pem".into()),
        ..Overrides::default()
    };
    let s = config::resolve(&cmd, &Overrides::default(), Some(f), Path::new(CWD)).unwrap();
    let tls = s.config.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/work/cli-c.pem"));
    assert_eq!(tls.key, Path::new("/work/cli-k.pem"));
}

#[test]
fn bad_values_are_errors_naming_their_source() {
    let cmd = Overrides {
        listen: Some("not-an-address".into()),
        ..Overrides::default()
    };
    let err = config::resolve(&cmd, &Overrides::default(), None, Path::new(CWD)).unwrap_err();
    assert!(format!("{err:#}").contains("--listen"), "{err:#}");

    let env = Overrides {
        listen: Some("nope".into()),
        ..Overrides::default()
    };
    let err = config::resolve(&Overrides::default(), &env, None, Path::new(CWD)).unwrap_err();
    assert!(format!("{err:#}").contains("STRATA_LISTEN"), "{err:#}");

    let half_tls = Overrides {
        tls_cert: Some("c.pem".into()),
        ..Overrides::default()
    };
    assert!(config::resolve(&half_tls, &Overrides::default(), None, Path::new(CWD)).is_err());

    let err = config::resolve(
        &Overrides::default(),
        &Overrides::default(),
        Some(file("[storage]\nsync = \"sometimes\"\n")),
        Path::new(CWD),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("storage.sync"), "{err:#}");
}
