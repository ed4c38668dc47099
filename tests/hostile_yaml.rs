//! Deep nesting in every command that reads YAML: refused before parsing,
//! with the file and line, in time linear in the input (the time itself is
//! measured by benches/repack.sh, not here).

use assert_cmd::Command;

fn sme_with(depth: usize, json: bool) -> String {
    if json {
        format!(
            "{{\"apiVersion\": \"maistra.io/v1\", \"kind\": \"ServiceMeshExtension\",\n\"metadata\": {{\"name\": \"a\"}},\n\"spec\": {{\"x\": {}}}}}\n",
            "[".repeat(depth)
        )
    } else {
        format!(
            "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: a}}\nspec:\n  x: {}\n",
            "[".repeat(depth)
        )
    }
}

#[test]
fn convert_and_migrate_refuse_deep_nesting_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (json, line) in [(false, 5), (true, 3)] {
        for depth in [200, 20_000] {
            let name = if json { "deep.json" } else { "deep.yaml" };
            let path = dir.path().join(name);
            std::fs::write(&path, sme_with(depth, json)).unwrap();
            let out = Command::cargo_bin("sme2wasm")
                .unwrap()
                .arg("convert")
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{depth}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("{name}:{line}")), "{depth}: {err}");
            let expected = if depth > 10_000 {
                "more than 10000 levels deep; Kubernetes' own YAML and JSON readers refuse that too"
            } else {
                "more than 128 levels deep, more than sme2wasm reads"
            };
            assert!(err.contains(expected), "{depth}: {err}");
        }
    }
    // migrate: the file is named unreadable, left as it is, the run goes on.
    let repo = tempfile::tempdir().unwrap();
    let text = sme_with(50_000, false);
    std::fs::write(repo.path().join("deep.yaml"), &text).unwrap();
    let out = Command::cargo_bin("sme2wasm")
        .unwrap()
        .arg("migrate")
        // a scratch directory; the safety rules have tests of their own
        .arg("--allow-no-vcs")
        .arg(repo.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.yaml:5"), "{err}");
    assert!(err.contains("more than 10000 levels deep"), "{err}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("deep.yaml")).unwrap(),
        text
    );
}
