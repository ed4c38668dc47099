//! `git` for the tests that run migrate on real repositories: a fixed
//! identity and branch, whatever the machine's configuration; a committed
//! repository of given files; migrate run in a directory. Included by path
//! (`#[path = "common/git.rs"]`), so that those tests do not build the
//! registry harness.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Run git in `dir`; panics when it fails; returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=sme2wasm tests",
            "-c",
            "user.email=tests@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            // Submodules from a local path (refused by default since git 2.38).
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository at `dir` holding `files`, all committed.
pub fn repo(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

/// `sme2wasm migrate ARGS` run in `cwd`.
pub fn migrate(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sme2wasm"))
        .current_dir(cwd)
        .arg("migrate")
        .args(args)
        .output()
        .unwrap()
}
