//! What a terminal gets and a pipe does not: progress while migrate walks
//! and writes, and coloured level words (`--color`, `NO_COLOR`). The
//! terminal is a real pseudo-terminal, made by util-linux's `script`.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sme2wasm")
}

#[path = "common/examples.rs"]
mod examples;
use examples::gitops;

/// Run `sme2wasm ARGS` with stdout and stderr on a pseudo-terminal; what
/// the terminal showed.
fn on_terminal(args: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{} {args}", bin()), "/dev/null"])
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("util-linux `script` runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn on_pipe(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

const YELLOW_WARN: &str = "\x1b[1;33mWARN\x1b[0m";

#[test]
fn progress_on_a_terminal_while_walking_and_writing() {
    let repo = gitops();
    let shown = on_terminal(
        &format!("migrate --allow-no-vcs {}", repo.path().display()),
        &[],
    );
    assert!(shown.contains("4 files found"), "{shown}");
    assert!(shown.contains("4/4 files read"), "{shown}");
    assert!(shown.contains("2/2 files written"), "{shown}");
    // The bar is cleared before the notifications.
    assert!(shown.contains("\x1b[2K"), "{shown}");
    assert!(shown.contains("2 files changed"), "{shown}");
}

#[test]
fn nothing_but_lines_on_a_pipe() {
    let repo = gitops();
    let out = on_pipe(
        &["migrate", "--allow-no-vcs", repo.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("files found"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr}");
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_never() {
    let repo = gitops();
    let check = format!("migrate --check {}", repo.path().display());
    let shown = on_terminal(&check, &[]);
    assert!(shown.contains(YELLOW_WARN), "{shown}");
    assert!(shown.contains("\x1b[1;36mINFO\x1b[0m"), "{shown}");
    // NO_COLOR (any non-empty value) turns it off; an empty one does not.
    let shown = on_terminal(&check, &[("NO_COLOR", "1")]);
    assert!(shown.contains(": WARN[W"), "{shown}");
    assert!(!shown.contains(YELLOW_WARN), "{shown}");
    let shown = on_terminal(&check, &[("NO_COLOR", "")]);
    assert!(shown.contains(YELLOW_WARN), "{shown}");
    // --color never and always win over the terminal and NO_COLOR.
    let shown = on_terminal(&format!("{check} --color never"), &[]);
    assert!(!shown.contains(YELLOW_WARN), "{shown}");
    let shown = on_terminal(&format!("{check} --color always"), &[("NO_COLOR", "1")]);
    assert!(shown.contains(YELLOW_WARN), "{shown}");
}

#[test]
fn colour_on_a_pipe_only_when_always() {
    let repo = gitops();
    let dir = repo.path().to_str().unwrap();
    let plain = on_pipe(&["migrate", "--check", dir], &[]);
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('\x1b'));
    let always = on_pipe(&["--color", "always", "migrate", "--check", dir], &[]);
    let stderr = String::from_utf8_lossy(&always.stderr);
    assert!(stderr.contains(YELLOW_WARN), "{stderr}");
    // Colour never reaches stdout, the JSON report or the diff.
    let diff = on_pipe(&["migrate", "--diff", "--color", "always", dir], &[]);
    assert!(!String::from_utf8_lossy(&diff.stdout).contains('\x1b'));
    // convert colours its notifications the same way.
    let sme = Path::new(dir).join("base/header-append.yaml");
    let conv = on_pipe(&["convert", "--color=always", sme.to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&conv.stderr).contains(YELLOW_WARN));
    assert!(!String::from_utf8_lossy(&conv.stdout).contains('\x1b'));
}
