//! migrate against hostile or unlucky file systems: files owned by someone
//! else, kustomize patches named by absolute paths, file names that hold a
//! newline, and a write that fails. Each case runs the binary on a real
//! git repository the test makes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use std::process::Command;

#[path = "common/git.rs"]
mod git_support;
use git_support::{git, migrate, repo};

const SME: &str = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\n  namespace: shop\nspec:\n  image: quay.io/acme/a:1   # the filter\n  phase: PreAuthN\n  priority: 1\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Someone else's file comes back theirs, with its mode (the tests run as
/// root; as anyone else the chown below fails, and the test with it).
#[test]
fn a_rewritten_file_keeps_its_owner_and_group() {
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("a.yaml", SME)]);
    let a = work.path().join("a.yaml");
    std::os::unix::fs::chown(&a, Some(4321), Some(8765)).unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = migrate(work.path(), &["."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let meta = std::fs::metadata(&a).unwrap();
    assert!(std::fs::read_to_string(&a)
        .unwrap()
        .contains("kind: WasmPlugin"));
    assert_eq!((meta.uid(), meta.gid()), (4321, 8765));
    assert_eq!(meta.mode() & 0o7777, 0o640);
}

/// `patchesStrategicMerge: [/abs]` and `patches: [{path: /abs}]` lie
/// outside the repository, like `../`: never read or written, always a WARN.
#[test]
fn absolute_kustomize_patch_paths_are_outside() {
    let outside = tempfile::tempdir().unwrap();
    let ops = "- op: replace\n  path: /spec/config/mode\n  value: strict\n";
    let smp = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\nspec:\n  config:\n    mode: lax\n";
    std::fs::write(outside.path().join("ops.yaml"), ops).unwrap();
    std::fs::write(outside.path().join("smp.yaml"), smp).unwrap();
    let abs = |f: &str| outside.path().join(f).to_str().unwrap().to_string();
    let kustomization = format!(
        "resources:\n- ../../base\npatchesStrategicMerge:\n- {}\n- /etc/passwd\npatches:\n- path: {}\n  target:\n    kind: ServiceMeshExtension\n    name: a\n",
        abs("smp.yaml"),
        abs("ops.yaml")
    );
    let work = tempfile::tempdir().unwrap();
    repo(
        work.path(),
        &[
            ("base/kustomization.yaml", "resources:\n- sme.yaml\n"),
            ("base/sme.yaml", SME),
            ("overlays/prod/kustomization.yaml", &kustomization),
        ],
    );
    let out = migrate(work.path(), &["."]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for (line, path) in [
        (4, abs("smp.yaml")),
        (5, "/etc/passwd".to_string()),
        (7, abs("ops.yaml")),
    ] {
        let warn = format!(
            "overlays/prod/kustomization.yaml:{line}: WARN[W412]: patch {path} lies outside the migrated directory: not rewritten"
        );
        assert!(err.contains(&warn), "{warn}\n{err}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("ops.yaml")).unwrap(),
        ops
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("smp.yaml")).unwrap(),
        smp
    );
    // The kustomization still names the same files (its SME target is
    // rewritten, as with a `../` path).
    let k = std::fs::read_to_string(work.path().join("overlays/prod/kustomization.yaml")).unwrap();
    assert_eq!(
        k,
        kustomization.replace("kind: ServiceMeshExtension", "kind: WasmPlugin")
    );
    // Nothing outside the repository was written.
    assert_eq!(
        git(work.path(), &["status", "--porcelain"]),
        " M base/sme.yaml\n M overlays/prod/kustomization.yaml\n"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 2);
}

/// A file name that holds a newline cannot forge lines of the diff or of
/// a notification: it is quoted as git quotes it, and `git apply` takes
/// the diff. The JSON report keeps the name as it is (JSON escapes it).
#[test]
fn file_names_with_control_characters_are_quoted() {
    let evil = "evil\n+++ b/injected.yaml";
    let quoted = "\"evil\\n+++ b/injected.yaml\"";
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[(evil, SME), ("tab\there.yaml", SME)]);
    let report = tempfile::tempdir().unwrap();
    let report = report.path().join("r.json");
    let out = migrate(
        work.path(),
        &["--diff", "--report", report.to_str().unwrap()],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "diff --git \"a/evil\\n+++ b/injected.yaml\" \"b/evil\\n+++ b/injected.yaml\"\n--- \"a/evil\\n+++ b/injected.yaml\"\n+++ \"b/evil\\n+++ b/injected.yaml\"\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("diff --git \"a/tab\\there.yaml\" \"b/tab\\there.yaml\"\n"),
        "{stdout}"
    );
    for l in stdout.lines().chain(stderr.lines()) {
        assert!(!l.starts_with("+++ b/injected"), "a forged line: {l}");
    }
    assert!(stderr.contains(&format!("{quoted}:7: WARN[")), "{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let changed = r["summary"]["changedFiles"].as_array().unwrap();
    assert!(changed.iter().any(|n| n == evil), "{r}");
    assert!(r["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["source"]["file"] == evil));
    // git reads the quoted names back: the diff applies.
    let patch = work.path().join("../migrate.patch");
    std::fs::write(&patch, &out.stdout).unwrap();
    git(work.path(), &["apply", patch.to_str().unwrap()]);
    std::fs::remove_file(&patch).unwrap();
    let applied = std::fs::read_to_string(work.path().join(evil)).unwrap();
    assert!(applied.contains("kind: WasmPlugin"), "{applied}");
    // Written, and refused, the names are quoted too.
    git(work.path(), &["checkout", "--", "."]);
    std::fs::write(work.path().join(evil), format!("# wip\n{SME}")).unwrap();
    let out = migrate(work.path(), &["."]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("  {quoted}: uncommitted changes\n")),
        "{stderr}"
    );
}

/// A write that fails (here: beyond the process's file size limit, which
/// binds root too) is an ERROR, and the summary and the report count only
/// what was written.
#[test]
fn a_failed_write_is_not_counted_as_a_change() {
    let big = format!(
        "{SME}{}",
        "# padding, to be larger than the limit\n".repeat(1000)
    );
    let work = tempfile::tempdir().unwrap();
    repo(work.path(), &[("big.yaml", &big), ("small.yaml", SME)]);
    let reports = tempfile::tempdir().unwrap();
    let report = reports.path().join("r.json");
    // 16 KiB at most per file written; SIGXFSZ ignored, so that the write
    // fails with EFBIG instead of killing the process.
    let out = Command::new("bash")
        .current_dir(work.path())
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sme2wasm"))
        .args(["migrate", ".", "--report", report.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("big.yaml:1: ERROR[E401]: cannot write: File too large"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "migrate: 2 files scanned, 1 file changed (1 not written); 1 ServiceMeshExtension converted;"
        ),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("big.yaml")).unwrap(),
        big
    );
    assert!(std::fs::read_to_string(work.path().join("small.yaml"))
        .unwrap()
        .contains("kind: WasmPlugin"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["filesChanged"], 1, "{r}");
    assert_eq!(
        r["summary"]["changedFiles"],
        serde_json::json!(["small.yaml"])
    );
    assert_eq!(r["summary"]["converted"], 1, "{r}");
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// `convert` prints file names too: in its notifications and in the
/// comment that stands for an SME it could not convert, where a raw
/// newline would inject YAML into the output.
#[test]
fn convert_quotes_file_names_too() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\nkind: Secret.yaml";
    std::fs::write(
        dir.path().join(name),
        "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\nspec:\n  phase: PreAuthN\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sme2wasm"))
        .current_dir(dir.path())
        .args(["convert", "."])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stdout,
        "# sme2wasm: ServiceMeshExtension a (\"./evil\\nkind: Secret.yaml\":1) was not converted; see the errors\n"
    );
    assert!(
        stderr
            .starts_with("\"./evil\\nkind: Secret.yaml\":1: ERROR[E101] a: spec.image is missing"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
