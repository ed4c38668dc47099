//! The CI recipes in examples/ci cannot rot: the command each one runs is
//! taken out of the recipe and run against examples/gitops (SMEs remain:
//! the gate fails with exit 4) and against its migrated copy (the gate
//! passes), with this build's binary standing in for the image's.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sme2wasm"))
}

fn recipe(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("examples/ci").join(name)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// Two copies of examples/gitops: as it is, and migrated.
fn repos() -> (tempfile::TempDir, tempfile::TempDir) {
    let before = tempfile::tempdir().unwrap();
    let after = tempfile::tempdir().unwrap();
    copy(&root().join("examples/gitops"), before.path());
    copy(&root().join("examples/gitops"), after.path());
    let out = Command::new(bin())
        .args(["migrate", "--allow-no-vcs", "-q"])
        .arg(after.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    (before, after)
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `sme2wasm` first on the PATH.
fn path_with_binary() -> String {
    format!(
        "{}:{}",
        bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn shell(shell: &[&str], script: &str, dir: &Path) -> Output {
    Command::new(shell[0])
        .args(&shell[1..])
        .arg(script)
        .current_dir(dir)
        .env("PATH", path_with_binary())
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// What the image runs in a GitHub step: `docker run … "$SME2WASM_IMAGE"
/// ARGS` is `sme2wasm ARGS` in the checkout.
const DOCKER: &str = r#"docker run --rm -v "$PWD:/repo" -w /repo "$SME2WASM_IMAGE""#;

#[test]
fn github_actions_gate_annotates_and_uploads_sarif() {
    let doc = &recipe("github-actions.yml")[0];
    assert!(doc["env"]["SME2WASM_IMAGE"].as_str().is_some());
    assert_eq!(doc["permissions"]["security-events"], "write");
    let steps = doc["jobs"]["gate"]["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert_eq!(runs.len(), 2, "the gate and the SARIF step");
    for r in &runs {
        assert!(r.starts_with(DOCKER), "{r}");
    }
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))
        })
        .expect("an upload-sarif step");
    let sarif_file = upload["with"]["sarif_file"].as_str().unwrap();
    let local = |r: &str| r.replace(DOCKER, "sme2wasm");
    // GitHub runs `run:` with bash -e.
    let bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"];
    let (before, after) = repos();

    let gate = shell(&bash, &local(runs[0]), before.path());
    assert_eq!(gate.status.code(), Some(4));
    let err = String::from_utf8(gate.stderr).unwrap();
    assert!(
        err.lines()
            .any(|l| l.starts_with("::warning file=base/header-append.yaml,line=13,title=")),
        "{err}"
    );
    let sarif = shell(&bash, &local(runs[1]), before.path());
    assert_eq!(
        sarif.status.code(),
        Some(0),
        "exit 4 is the gate's to report"
    );
    let text = std::fs::read_to_string(before.path().join(sarif_file)).unwrap();
    let log: serde_sarif::sarif::Sarif = serde_json::from_str(&text).unwrap();
    assert_eq!(log.runs[0].results.as_ref().unwrap().len(), 2);

    let gate = shell(&bash, &local(runs[0]), after.path());
    assert_eq!(
        gate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&gate.stderr)
    );
    let sarif = shell(&bash, &local(runs[1]), after.path());
    assert_eq!(sarif.status.code(), Some(0));
}

#[test]
fn gitlab_job_gate() {
    let doc = &recipe("gitlab-ci.yml")[0];
    let job = &doc["sme2wasm-gate"];
    // The image's entrypoint is sme2wasm; GitLab needs it cleared to run
    // the script with the image's shell.
    assert!(job["image"]["name"].as_str().is_some());
    assert_eq!(job["image"]["entrypoint"][0], "");
    let script: Vec<&str> = job["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(script.iter().any(|l| l.starts_with("sme2wasm migrate")));
    let script = script.join("\n");
    let sh = ["sh", "-e", "-c"];
    let (before, after) = repos();
    let out = shell(&sh, &script, before.path());
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("base/header-append.yaml:13: WARN"), "{err}");
    let out = shell(&sh, &script, after.path());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn tekton_task_gate_and_pipeline() {
    let docs = recipe("tekton.yaml");
    let task = docs.iter().find(|d| d["kind"] == "Task").unwrap();
    let pipeline = docs.iter().find(|d| d["kind"] == "Pipeline").unwrap();
    let name = task["metadata"]["name"].as_str().unwrap();
    // The pipeline runs this task on its source workspace, after the clone.
    let gate = pipeline["spec"]["tasks"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|t| t["taskRef"]["name"] == name)
        .expect("the pipeline runs the task");
    assert_eq!(gate["runAfter"][0], "clone");
    assert_eq!(gate["workspaces"][0]["name"], "source");
    assert_eq!(task["spec"]["workspaces"][0]["name"], "source");

    let params: Vec<(String, String)> = task["spec"]["params"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["default"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let steps = task["spec"]["steps"].as_sequence().unwrap();
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    assert_eq!(step["image"], "$(params.image)");
    assert!(step.get("command").is_none(), "the image's entrypoint runs");
    let (before, after) = repos();
    let run = |repo: &Path| {
        let subst = |s: &str| {
            let mut s = s.replace("$(workspaces.source.path)", &repo.to_string_lossy());
            for (k, v) in &params {
                s = s.replace(&format!("$(params.{k})"), v);
            }
            assert!(!s.contains("$("), "unresolved: {s}");
            s
        };
        let args: Vec<String> = step["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| subst(a.as_str().unwrap()))
            .collect();
        Command::new(bin())
            .args(&args)
            .current_dir(subst(step["workingDir"].as_str().unwrap()))
            .output()
            .unwrap()
    };
    assert_eq!(run(before.path()).status.code(), Some(4));
    assert_eq!(run(after.path()).status.code(), Some(0));
}
