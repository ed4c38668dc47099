//! migrate is safe by default, as `cargo fix` is: writing needs an explicit
//! PATH, a git work tree, and files without uncommitted or staged changes
//! (`--allow-no-vcs`, `--allow-dirty`, `--allow-staged`); git repositories
//! below PATH are not entered (`--recurse-repositories`). Every case runs
//! the real `git` on a real repository the test makes.

use std::path::PathBuf;
use std::process::Command;

#[path = "common/git.rs"]
mod git_support;
use git_support::{git, migrate, repo};

const SME: &str = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\n  namespace: shop\nspec:\n  image: quay.io/acme/a:1   # the filter\n  phase: PreAuthN\n  priority: 1\n";

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn converted(p: PathBuf) -> bool {
    let t = read(p);
    assert!(
        t.contains("kind: WasmPlugin") != t.contains("kind: ServiceMeshExtension"),
        "{t}"
    );
    t.contains("kind: WasmPlugin")
}

#[test]
fn no_path_is_a_usage_error_that_shows_the_three_ways() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME)]);
    let out = migrate(work.path(), &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for way in [
        "sme2wasm migrate --diff [PATH]",
        "sme2wasm migrate --check [PATH]",
        "sme2wasm migrate PATH",
    ] {
        assert!(err.contains(way), "{err}");
    }
    assert_eq!(read(work.path().join("a.yaml")), SME);
    // --diff and --check keep `.` as their default.
    let out = migrate(work.path(), &["--diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("+kind: WasmPlugin"));
    let out = migrate(work.path(), &["--check"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    // With `.` it writes.
    let out = migrate(work.path(), &["."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("a.yaml")));
    // …and git shows exactly that change, which git checkout undoes.
    assert_eq!(git(work.path(), &["status", "--porcelain"]), " M a.yaml\n");
    git(work.path(), &["checkout", "--", "."]);
    assert_eq!(read(work.path().join("a.yaml")), SME);
}

#[test]
fn outside_a_work_tree_it_refuses_unless_allow_no_vcs() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("a.yaml"), SME).unwrap();
    let out = migrate(work.path(), &["."]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not in a git work tree"), "{err}");
    assert!(
        err.contains("not a git repository"),
        "git's own answer: {err}"
    );
    assert!(err.contains("--allow-no-vcs"), "{err}");
    assert_eq!(read(work.path().join("a.yaml")), SME);
    // Reading is always allowed.
    for mode in ["--diff", "--check"] {
        let out = migrate(work.path(), &[mode]);
        assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(read(work.path().join("a.yaml")), SME);
    }
    let out = migrate(work.path(), &[".", "--allow-no-vcs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("a.yaml")));
}

#[test]
fn without_git_the_tree_is_not_under_version_control() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME)]);
    // No git on the PATH: a repository cannot be checked.
    let empty = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sme2wasm"))
            .current_dir(work.path())
            .env("PATH", empty.path())
            .arg("migrate")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["."]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("git is not installed"), "{err}");
    assert_eq!(read(work.path().join("a.yaml")), SME);
    let out = run(&[".", "--allow-no-vcs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("a.yaml")));
}

#[test]
fn a_dirty_file_to_be_changed_is_refused_unless_allow_dirty() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME), ("b.yaml", SME)]);
    let edited = format!("# my edit, not committed\n{SME}");
    std::fs::write(work.path().join("b.yaml"), &edited).unwrap();
    // An untracked file git checkout cannot restore either.
    std::fs::write(work.path().join("new.yaml"), SME).unwrap();
    let out = migrate(work.path(), &["."]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("  b.yaml: uncommitted changes"), "{err}");
    assert!(err.contains("  new.yaml: uncommitted changes"), "{err}");
    assert!(!err.contains("a.yaml:"), "a clean file is not named: {err}");
    assert!(err.contains("--allow-dirty"), "{err}");
    // Nothing written, not even the clean file.
    assert_eq!(read(work.path().join("a.yaml")), SME);
    assert_eq!(read(work.path().join("b.yaml")), edited);
    // --allow-staged does not cover work-tree changes.
    let out = migrate(work.path(), &[".", "--allow-staged"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = migrate(work.path(), &[".", "--allow-dirty"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in ["a.yaml", "b.yaml", "new.yaml"] {
        assert!(converted(work.path().join(f)), "{f}");
    }
    assert!(read(work.path().join("b.yaml")).starts_with("# my edit"));
}

#[test]
fn a_path_git_ignores_is_not_under_version_control() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[(".gitignore", "gen/\n"), ("a.yaml", SME)]);
    std::fs::create_dir(work.path().join("gen")).unwrap();
    std::fs::write(work.path().join("gen/g.yaml"), SME).unwrap();
    let out = migrate(work.path(), &["gen"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("  g.yaml: ignored by git\n"), "{err}");
    assert!(err.contains("--allow-no-vcs"), "{err}");
    assert_eq!(read(work.path().join("gen/g.yaml")), SME);
    // --allow-dirty is not enough: git cannot restore an ignored file.
    let out = migrate(work.path(), &["gen", "--allow-dirty"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = migrate(work.path(), &["gen", "--allow-no-vcs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("gen/g.yaml")));
}

#[test]
fn a_dirty_file_migrate_does_not_change_is_no_reason_to_refuse() {
    let work = tempfile::tempdir().unwrap();
    repo(
        work.path(),
        &[
            ("a.yaml", SME),
            ("svc.yaml", SERVICE),
            ("README.md", "hi\n"),
        ],
    );
    std::fs::write(work.path().join("svc.yaml"), format!("{SERVICE}# wip\n")).unwrap();
    std::fs::write(work.path().join("README.md"), "changed\n").unwrap();
    std::fs::write(work.path().join("notes.yaml"), SERVICE).unwrap();
    git(work.path(), &["add", "README.md"]);
    let out = migrate(work.path(), &["."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("a.yaml")));
    assert_eq!(
        read(work.path().join("svc.yaml")),
        format!("{SERVICE}# wip\n")
    );
}

#[test]
fn staged_changes_are_refused_unless_allow_staged() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME), ("sub/b.yaml", SME)]);
    let staged = format!("# staged\n{SME}");
    std::fs::write(work.path().join("sub/b.yaml"), &staged).unwrap();
    git(work.path(), &["add", "sub/b.yaml"]);
    // PATH below the top of the work tree: names are relative to PATH.
    let out = migrate(work.path(), &["sub"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("  b.yaml: staged changes, not committed"),
        "{err}"
    );
    assert!(err.contains("--allow-staged"), "{err}");
    assert_eq!(read(work.path().join("sub/b.yaml")), staged);
    let out = migrate(work.path(), &["sub", "--allow-staged"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("sub/b.yaml")));
    assert_eq!(read(work.path().join("a.yaml")), SME, "outside PATH");
    // --allow-dirty covers staged changes too (as cargo fix's does).
    git(work.path(), &["checkout", "HEAD", "--", "."]);
    std::fs::write(work.path().join("sub/b.yaml"), &staged).unwrap();
    git(work.path(), &["add", "sub/b.yaml"]);
    let out = migrate(work.path(), &["sub", "--allow-dirty"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(converted(work.path().join("sub/b.yaml")));
}

#[test]
fn nested_repositories_and_submodules_are_not_entered() {
    let base = tempfile::tempdir().unwrap();
    let lib = base.path().join("lib");
    repo(&lib, &[("lib.yaml", SME)]);
    let work = base.path().join("work");
    repo(&work, &[("a.yaml", SME)]);
    git(&work, &["submodule", "add", "-q", "../lib", "vendor/lib"]);
    git(&work, &["commit", "-q", "-m", "submodule"]);
    // A clone below, not a submodule.
    repo(&work.join("other"), &[("o.yaml", SME)]);
    let out = migrate(&work, &["."]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("other:1: INFO[I420]: a git repository of its own: not entered"),
        "{err}"
    );
    assert!(
        err.contains("vendor/lib:1: INFO[I420]: a git submodule (or linked worktree): not entered"),
        "{err}"
    );
    assert!(err.contains("--recurse-repositories"), "{err}");
    assert!(err.contains("1 file scanned"), "{err}");
    assert!(converted(work.join("a.yaml")));
    assert_eq!(read(work.join("other/o.yaml")), SME);
    assert_eq!(read(work.join("vendor/lib/lib.yaml")), SME);
    // --check and --diff do not enter them either.
    git(&work, &["checkout", "--", "a.yaml"]);
    let out = migrate(&work, &["--check"]);
    assert!(text(&out.stderr).contains("1 ServiceMeshExtension remain"));

    // Entered on request; each repository is checked on its own: a dirty
    // file in the submodule is refused.
    let dirty = format!("# wip\n{SME}");
    std::fs::write(work.join("vendor/lib/lib.yaml"), &dirty).unwrap();
    let out = migrate(&work, &[".", "--recurse-repositories"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("  vendor/lib/lib.yaml: uncommitted changes"),
        "{err}"
    );
    assert_eq!(read(work.join("a.yaml")), SME);
    git(&work.join("vendor/lib"), &["checkout", "--", "."]);
    let out = migrate(&work, &[".", "--recurse-repositories"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("3 files scanned, 3 files changed"), "{err}");
    assert!(!err.contains("not entered"), "{err}");
    for f in ["a.yaml", "other/o.yaml", "vendor/lib/lib.yaml"] {
        assert!(converted(work.join(f)), "{f}");
    }
    // Each repository's git shows its own change.
    assert_eq!(
        git(&work.join("vendor/lib"), &["status", "--porcelain"]),
        " M lib.yaml\n"
    );
}

/// A repository git refuses to read (owned by another user: "dubious
/// ownership") cannot be checked: it counts as not under version control.
#[test]
fn a_repository_git_refuses_to_read_counts_as_none() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME)]);
    // The tests run as root: the repository becomes someone else's.
    let status = Command::new("chown")
        .args(["-R", "4321:4321"])
        .arg(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_sme2wasm"))
        .current_dir(work.path())
        .env("HOME", work.path().join("no-home"))
        .args(["migrate", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("dubious ownership"), "{err}");
    assert!(err.contains("--allow-no-vcs"), "{err}");
    assert_eq!(read(work.path().join("a.yaml")), SME);
}
