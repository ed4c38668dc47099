//! `sme2wasm migrate` on directory fixtures, in the shape cargo's own
//! `cargo add` tests use: `testdata/migrate/<case>/in/` is copied to a
//! temporary directory, migrate runs there, and the resulting tree must
//! equal `out/` byte for byte; stdout, stderr and the exit status must equal
//! the `stdout`, `stderr` and `status` files beside them. `args` (one
//! argument a line) holds extra arguments.
//!
//! Every case that rewrites is run a second time on its own result: the
//! second run must change nothing.
//!
//! The copy is a git repository with everything committed, as a user's
//! checkout is (writing needs one); files a case's setup makes afterwards
//! are untracked.
//!
//! `SME2WASM_BLESS=1 cargo test --test migrate` rewrites the expected files
//! from what the binary does; review every one of them before committing.

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "common/git.rs"]
mod git_support;
use git_support::git;

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/migrate")
        .join(case)
}

fn bless() -> bool {
    std::env::var_os("SME2WASM_BLESS").is_some_and(|v| v == "1")
}

/// Every regular file below `dir` (relative path → bytes); symbolic links
/// as `-> target`. The git repository itself (`.git`) is left out.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if dir == root && e.file_name() == ".git" {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else if ft.is_dir() {
                go(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        go(dir, dir, &mut out);
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One fixture run.
struct Case {
    name: &'static str,
    /// Files the test makes itself (git keeps no modes, links or
    /// unreadable files): run in the work directory before migrate.
    setup: Option<fn(&Path)>,
    /// Paths made by `setup`, left out of the tree comparison (checked by
    /// the test itself).
    made: &'static [&'static str],
    rerun: bool,
}

impl Case {
    fn new(name: &'static str) -> Case {
        Case {
            name,
            setup: None,
            made: &[],
            rerun: true,
        }
    }

    fn setup(mut self, f: fn(&Path), made: &'static [&'static str]) -> Case {
        self.setup = Some(f);
        self.made = made;
        self
    }

    fn no_rerun(mut self) -> Case {
        self.rerun = false;
        self
    }

    fn args(&self) -> Vec<String> {
        std::fs::read_to_string(case_dir(self.name).join("args"))
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn command(&self, work: &Path) -> Command {
        let mut cmd = Command::cargo_bin("sme2wasm").unwrap();
        let args = self.args();
        cmd.current_dir(work).arg("migrate").args(&args);
        // Writing needs an explicit PATH.
        if !args.iter().any(|a| a == "--diff" || a == "--check") {
            cmd.arg(".");
        }
        cmd
    }

    /// Run the case; returns the work directory for further checks.
    fn run(self) -> tempfile::TempDir {
        let dir = case_dir(self.name);
        let work = tempfile::tempdir().unwrap();
        copy_tree(&dir.join("in"), work.path());
        git(work.path(), &["init", "-q"]);
        git(work.path(), &["add", "-A"]);
        git(work.path(), &["commit", "-q", "-m", "before migrate"]);
        if let Some(f) = self.setup {
            f(work.path());
        }
        let out = self.command(work.path()).output().unwrap();
        let status = out.status.code().unwrap_or(-1).to_string() + "\n";
        let mut got = tree(work.path());
        for m in self.made {
            got.remove(*m);
        }
        if bless() {
            let _ = std::fs::remove_dir_all(dir.join("out"));
            for (rel, bytes) in &got {
                let p = dir.join("out").join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
            std::fs::write(dir.join("stdout"), &out.stdout).unwrap();
            std::fs::write(dir.join("stderr"), &out.stderr).unwrap();
            std::fs::write(dir.join("status"), &status).unwrap();
        }
        let expected = tree(&dir.join("out"));
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_default();
        assert_eq!(
            show(&out.stderr),
            show(&read("stderr")),
            "{}: stderr",
            self.name
        );
        assert_eq!(
            show(&out.stdout),
            show(&read("stdout")),
            "{}: stdout",
            self.name
        );
        assert_eq!(status, show(&read("status")), "{}: exit status", self.name);
        let names = |t: &BTreeMap<String, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&got), names(&expected), "{}: files", self.name);
        for (rel, bytes) in &expected {
            assert_eq!(show(&got[rel]), show(bytes), "{}: {rel}", self.name);
            assert_eq!(&got[rel], bytes, "{}: {rel} (bytes)", self.name);
        }
        if self.rerun {
            let before = tree(work.path());
            let again = self.command(work.path()).output().unwrap();
            assert_eq!(
                tree(work.path()),
                before,
                "{}: a second run changed files",
                self.name
            );
            let stderr = show(&again.stderr);
            assert!(
                stderr.contains("nothing to change") || stderr.contains("not converted"),
                "{}: the second run does not say that nothing changed:\n{stderr}",
                self.name
            );
        }
        work
    }
}

#[test]
fn plain_files() {
    Case::new("plain").run();
}

#[test]
fn multi_document_files_with_comments_everywhere() {
    Case::new("multidoc").run();
}

#[test]
fn crlf_line_endings() {
    Case::new("crlf").run();
}

#[test]
fn byte_order_mark() {
    Case::new("bom").run();
}

#[test]
fn no_final_newline() {
    Case::new("no-final-newline").run();
}

#[test]
fn kind_list() {
    Case::new("list").run();
}

#[test]
fn json_files() {
    Case::new("json").run();
}

#[test]
fn malformed_yaml_is_reported_and_left_untouched() {
    Case::new("malformed").no_rerun().run();
}

#[test]
fn order_is_kept_across_files() {
    Case::new("order-across-files").run();
}

#[test]
fn a_migrated_repository_is_left_alone() {
    Case::new("idempotent").run();
}

#[test]
fn merge_keys_go_through_the_clean_rendering() {
    Case::new("merge-keys").run();
}

#[test]
fn every_shape_left_behind_is_named_after_a_rewrite() {
    Case::new("left-behind").run();
}

#[test]
fn check_names_every_file_left_behind() {
    Case::new("left-behind-check").no_rerun().run();
}

#[test]
fn check_never_says_clean_while_an_sme_remains_unconvertible() {
    // Only SMEs migrate cannot convert: no SME it converts, no unreadable
    // file. The gate must still fail with 4 and name each file.
    let work = tempfile::tempdir().unwrap();
    let p = work.path();
    std::fs::write(
        p.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  x: |\n    kind: ServiceMeshExtension\n",
    )
    .unwrap();
    std::fs::write(
        p.join("old.yaml"),
        "apiVersion: extensions.maistra.io/v1alpha1\nkind: ServiceMeshExtension\nmetadata: {name: o}\nspec: {image: x, phase: PreAuthN}\n",
    )
    .unwrap();
    // UTF-16 text: skipped as not UTF-8, but it holds an SME.
    let utf16: Vec<u8> =
        "\u{feff}apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: w}\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
    std::fs::write(p.join("utf16.yaml"), utf16).unwrap();
    // writing: a scratch directory, not a git work tree
    for args in [
        &["migrate", "--check"][..],
        &["migrate", "--allow-no-vcs", "."][..],
    ] {
        let out = Command::cargo_bin("sme2wasm")
            .unwrap()
            .current_dir(p)
            .args(args)
            .output()
            .unwrap();
        let stderr = show(&out.stderr);
        assert!(!stderr.contains("nothing to change"), "{stderr}");
        assert!(stderr.contains("cm.yaml:6: ERROR[E004]"), "{stderr}");
        assert!(stderr.contains("old.yaml:1: ERROR[E003]"), "{stderr}");
        assert!(stderr.contains("utf16.yaml:1: ERROR[E402]"), "{stderr}");
        assert!(
            stderr.contains("3 files")
                && stderr.contains("1 unknown group or version, 1 inside a wrapper")
                && stderr.contains("1 in a file skipped"),
            "{stderr}"
        );
        let code = if args[1] == "--check" { 4 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    }
}

#[test]
fn check_writes_nothing_and_exits_4() {
    Case::new("check").no_rerun().run();
}

#[test]
fn diff_writes_nothing() {
    Case::new("diff").no_rerun().run();
}

#[test]
fn clean_rendering_when_the_edit_is_unsure() {
    Case::new("fallback").run();
}

#[test]
fn kustomize_base_and_overlay_with_every_patch_kind() {
    Case::new("kustomize").run();
}

#[test]
fn helm_chart() {
    Case::new("helm").run();
}

#[test]
fn strict_exits_3_on_warnings_and_the_report_is_json() {
    // The report lands in the migrated tree: a second run would rewrite it.
    Case::new("strict-report").no_rerun().run();
}

#[test]
fn image_map_points_urls_at_repacked_images() {
    Case::new("image-map").run();
}

/// What `make_walk_files` makes.
const MADE: [&str; 6] = [
    "big.yaml",
    "ignored/sme.yaml",
    "binary.yaml",
    "link.yaml",
    "root-link",
    "unreadable.yaml",
];

fn make_walk_files(dir: &Path) {
    use std::os::unix::fs::{symlink, PermissionsExt};
    std::fs::create_dir_all(dir.join("ignored")).unwrap();
    // Over the 16 MiB limit: skipped with a WARN, whatever it holds.
    let mut big = SME.to_string();
    big.push_str(&"# padding\n".repeat(17 * 1024 * 1024 / 10));
    std::fs::write(dir.join("big.yaml"), big).unwrap();
    std::fs::write(dir.join("ignored/sme.yaml"), SME).unwrap();
    std::fs::write(dir.join("binary.yaml"), b"\x00\x01ServiceMeshExtension\xff").unwrap();
    symlink("../outside.yaml", dir.join("link.yaml")).unwrap();
    symlink("/", dir.join("root-link")).unwrap();
    std::fs::write(dir.join("unreadable.yaml"), SME).unwrap();
    std::fs::set_permissions(
        dir.join("unreadable.yaml"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
}

const SME: &str = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: hidden\nspec:\n  image: quay.io/acme/x:1\n  phase: PreAuthN\n";

#[test]
fn gitignored_binary_symlinked_and_unreadable_files() {
    if is_root() {
        // root reads a file of mode 000: this case needs an ordinary user,
        // see walk_as_an_ordinary_user below.
        return;
    }
    check_walk_case(Case::new("walk"));
}

fn check_walk_case(case: Case) {
    let work = case.setup(make_walk_files, &MADE).no_rerun().run();
    let p = work.path();
    assert_eq!(
        std::fs::read_to_string(p.join("ignored/sme.yaml")).unwrap(),
        SME
    );
    assert_eq!(
        std::fs::read(p.join("binary.yaml")).unwrap(),
        b"\x00\x01ServiceMeshExtension\xff"
    );
    assert!(std::fs::symlink_metadata(p.join("link.yaml"))
        .unwrap()
        .file_type()
        .is_symlink());
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// As root, the walk case runs the binary as `nobody` so that a file of
/// mode 000 really is unreadable.
#[test]
fn walk_as_an_ordinary_user() {
    if !is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    let dir = case_dir("walk");
    let work = tempfile::tempdir().unwrap();
    copy_tree(&dir.join("in"), work.path());
    make_walk_files(work.path());
    std::process::Command::new("chown")
        .args(["-R", "-h", "65534:65534"])
        .arg(work.path())
        .status()
        .unwrap();
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // The build directory may not be reachable for `nobody`: run a copy.
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("sme2wasm");
    std::fs::copy(assert_cmd::cargo::cargo_bin("sme2wasm"), &bin).unwrap();
    for p in [bin_dir.path(), bin.as_path()] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["migrate", ".", "--allow-no-vcs"])
        .current_dir(work.path())
        .output()
        .unwrap();
    if bless() {
        std::fs::write(dir.join("stderr"), &out.stderr).unwrap();
        std::fs::write(dir.join("stdout"), &out.stdout).unwrap();
        let status = out.status.code().unwrap_or(-1).to_string() + "\n";
        std::fs::write(dir.join("status"), status).unwrap();
        let mut got = tree(work.path());
        for m in MADE {
            got.remove(m);
        }
        let _ = std::fs::remove_dir_all(dir.join("out"));
        for (rel, bytes) in &got {
            let p = dir.join("out").join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }
    assert_eq!(
        show(&out.stderr),
        show(&std::fs::read(dir.join("stderr")).unwrap())
    );
    assert_eq!(
        out.status.code().unwrap_or(-1).to_string() + "\n",
        std::fs::read_to_string(dir.join("status")).unwrap()
    );
    let mut got = tree(work.path());
    for m in MADE {
        got.remove(m);
    }
    assert_eq!(got, tree(&dir.join("out")));
    assert_eq!(
        std::fs::read_to_string(work.path().join("ignored/sme.yaml")).unwrap(),
        SME
    );
}
