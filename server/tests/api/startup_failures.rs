//! A broken configuration fails at start-up with one clear line and exit code ≠ 0.

use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regatlas"))
        .args(args)
        .env_remove("REGATLAS_CONFIG")
        .env_remove("REGATLAS_LISTEN")
        .env_remove("REGATLAS_DATABASE_URL")
        .env_remove("REGATLAS_OIDC_ISSUER")
        .stdin(Stdio::null())
        .output()
        .expect("run regatlas");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn an_unwritable_database_path_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("no-such-dir/deeper/regatlas.db");
    let (code, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--database", db.to_str().expect("utf8")]);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("cannot open database") && lines[0].contains("regatlas.db"), "{stderr}");
}

#[test]
fn a_port_in_use_is_named() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("r.db");
    let (code, stderr) = run(&["serve", "--listen", &addr, "--database", db.to_str().expect("utf8"), "--source", "azure", "--credential", "azure-cli"]);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(&format!("cannot listen on {addr}")), "{stderr}");
}

#[test]
fn bad_toml_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("regatlas.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\ndatabase = [unclosed\n").expect("write");
    let (code, stderr) = run(&["serve", "--config", cfg.to_str().expect("utf8")]);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("invalid configuration file") && lines[0].contains("regatlas.toml"), "{stderr}");
}

#[test]
fn help_explains_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_regatlas")).args(["serve", "--help"]).output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--listen", "REGATLAS_LISTEN", "--database", "REGATLAS_DATABASE_URL", "--config", "--log-json", "--source", "--site-root"] {
        assert!(help.contains(flag), "help mentions {flag}:\n{help}");
    }
}

#[test]
fn a_network_address_without_an_identity_provider_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("r.db");
    let args = [
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--public-url",
        "https://regatlas.example.com",
        "--database",
        db.to_str().expect("utf8"),
        "--source",
        "azure",
        "--credential",
        "azure-cli",
    ];
    let (code, stderr) = run(&args);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("needs an identity provider"), "{stderr}");
}
