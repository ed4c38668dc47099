//! The command line as a user meets it: stdin and files, stdout and stderr
//! kept apart, the documented exit codes, the report, help.

use assert_cmd::Command;
use std::path::Path;

const SME: &str = "apiVersion: maistra.io/v1
kind: ServiceMeshExtension
metadata:
  name: header-append
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      app: httpbin
  config:
    first-header: some-value
  image: quay.io/maistra-dev/header-append-filter:2.2
  phase: PostAuthZ
  priority: 100
";

fn sme2wasm() -> Command {
    Command::cargo_bin("sme2wasm").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn stdin_to_stdout_with_notes_on_stderr() {
    let out = sme2wasm().arg("convert").write_stdin(SME).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let doc = sme2wasm::yaml::parse(&stdout).expect("stdout is pure YAML");
    assert_eq!(doc["kind"].as_str(), Some("WasmPlugin"));
    assert_eq!(doc["spec"]["phase"].as_str(), Some("STATS"));
    assert!(!stdout.contains("WARN"));
    assert!(
        stderr.contains("<stdin>:12: WARN[W103] istio-system/header-append"),
        "{stderr}"
    );
}

#[test]
fn files_and_dash_mix() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.yaml");
    std::fs::write(&f, SME.replace("header-append", "from-file")).unwrap();
    let out = sme2wasm()
        .args(["convert", "--quiet", "--only-converted"])
        .arg(&f)
        .arg("-")
        .write_stdin(SME)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let a = stdout.find("name: from-file").expect("file converted");
    let b = stdout
        .find("name: header-append\n")
        .expect("stdin converted");
    assert!(a < b, "inputs keep their order");
}

#[test]
fn quiet_hides_info_only() {
    let out = sme2wasm()
        .args(["convert", "-q"])
        .write_stdin(SME)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("INFO"));
    assert!(stderr.contains("WARN"));
}

#[test]
fn unreadable_input_exits_2_and_names_it() {
    let out = sme2wasm()
        .args(["convert", "does/not/exist.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read does/not/exist.yaml"));
}

#[test]
fn not_utf8_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bin.yaml");
    std::fs::write(&f, [0xffu8, 0xfe, 0x00, 0x41]).unwrap();
    let out = sme2wasm().arg("convert").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not UTF-8"));
}

#[test]
fn unconvertible_object_exits_1_and_others_still_convert() {
    let input = format!(
        "{SME}---\n{}",
        SME.replace("PostAuthZ", "Postauthz")
            .replace("header-append", "typo")
    );
    let out = sme2wasm()
        .args(["convert", "-q"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("kind: WasmPlugin"));
    assert!(text(&out.stderr).contains("ERROR[E124] istio-system/typo"));
}

#[test]
fn strict_turns_warnings_into_exit_3() {
    let out = sme2wasm()
        .args(["convert", "--strict"])
        .write_stdin(SME)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let clean = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    let out = sme2wasm()
        .args(["convert", "--strict"])
        .write_stdin(clean)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        clean,
        "other documents pass through byte for byte"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["convert", "--phase-map", "PostAuthZ"],
        vec!["convert", "--phase-map", "Later=STATS"],
        vec!["convert", "--istio-version", "1.9"],
        vec!["convert", "--image-map", "missing.yaml"],
        vec!["convert", "--no-such-flag"],
        vec!["frobnicate"],
    ] {
        let out = sme2wasm().args(&args).write_stdin(SME).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn report_is_json_with_summary_and_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = sme2wasm()
        .args(["convert", "--report"])
        .arg(&report)
        .write_stdin(SME)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["converted"], 1);
    assert_eq!(json["summary"]["warn"], 1);
    let first = &json["notifications"][0];
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["object"], "istio-system/header-append");
    assert_eq!(first["source"]["file"], "<stdin>");
    assert_eq!(first["source"]["line"], 12);
    assert!(first["advice"].as_str().unwrap().contains("repack"));
}

#[test]
fn json_output_is_json() {
    let out = sme2wasm()
        .args(["convert", "-o", "json", "-q"])
        .write_stdin(SME)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "WasmPlugin");
    assert_eq!(v["spec"]["priority"], 100);
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = sme2wasm().args(["convert", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "Examples:",
        "Exit codes:",
        "--phase-map",
        "--image-map",
        "--root-namespace",
    ] {
        assert!(help.contains(needle), "{needle}");
    }
    let out = sme2wasm().arg("--help").output().unwrap();
    assert!(text(&out.stdout).contains("Exit codes"));
}

#[test]
fn closed_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let big: String = (0..2000)
        .map(|i| SME.replace("header-append", &format!("e{i}")) + "---\n")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.yaml");
    std::fs::write(&f, big).unwrap();
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("sme2wasm"))
        .args(["convert", "-q"])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is closed here, as `| head` does.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(status.code().is_some(), "ended by a signal");
}

#[test]
fn bundled_example_converts() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/examples/header-append.yaml");
    let out = sme2wasm().arg("convert").arg(&example).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("kind: WasmPlugin"));
}

#[test]
fn migrate_repack_flags_are_checked_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("sme.yaml");
    std::fs::write(&f, SME).unwrap();
    for args in [
        vec!["--tag-suffix", "-wasm"],
        vec!["--repack"],
        vec!["--repack", "--check", "--tag-suffix", "-wasm"],
    ] {
        let out = sme2wasm()
            .arg("migrate")
            .arg(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            SME,
            "{args:?}: nothing written"
        );
    }
}

#[test]
fn the_readme_demo_runs_clean() {
    let out = std::process::Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.sh"))
        .env("SME2WASM", env!("CARGO_BIN_EXE_sme2wasm"))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("url: oci://registry.example.com/wasm/header-append-filter:2.2"),
        "{stdout}"
    );
    assert!(stdout.contains("+kind: WasmPlugin"), "{stdout}");
    assert!(stderr.contains("migrate: nothing to change"), "{stderr}");
}

#[test]
fn a_selector_of_more_than_4096_labels_is_refused_from_istio_1_23_on() {
    let mut input = String::from(
        "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: many, namespace: ns}\nspec:\n  image: quay.io/acme/a:1\n  phase: PreAuthN\n  workloadSelector:\n    labels:\n",
    );
    for i in 0..4097 {
        input.push_str(&format!("      k{i}: v\n"));
    }
    let out = sme2wasm()
        .args(["convert", "--quiet", "--istio-version", "1.23"])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ERROR[E010] ns/many") && stderr.contains("at most 4096"),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("WasmPlugin"));
    // On an older Istio the CRD takes them; the upgrade that would refuse
    // them is named.
    let out = sme2wasm()
        .args(["convert", "--quiet", "--istio-version", "1.22"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("WARN[W109] ns/many: the selector has 4097 labels"));
}

#[test]
fn explain_prints_a_rule_and_refuses_an_unknown_code() {
    let out = sme2wasm().args(["explain", "w104"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("W104 no-selector-gateway-loses-plugin (WARN)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("What to do: "), "{stdout}");
    let by_name = sme2wasm()
        .args(["explain", "no-selector-gateway-loses-plugin"])
        .output()
        .unwrap();
    assert_eq!(by_name.stdout, out.stdout);
    let list = sme2wasm().args(["explain", "--list"]).output().unwrap();
    assert!(text(&list.stdout).contains("\nW104 WARN no-selector-gateway-loses-plugin\n"));
    let bad = sme2wasm().args(["explain", "W999"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("no notification has the code \"W999\""));
    assert!(bad.stdout.is_empty());
}
