//! `git` for the tests that run migrate on real repositories: a fixed
//! identity and branch, whatever the machine's configuration. Included by
//! path (`#[path = "common/git.rs"]`), so that those tests do not build the
//! registry harness.

use std::path::Path;
use std::process::Command;

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
