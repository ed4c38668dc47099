//! Fixture cases for `sme2wasm convert`: every directory under
//! testdata/convert/ is one case. The command runs in that directory on
//! `input.yaml`, `input.json` or `in/` (whichever exists) with the extra
//! arguments listed one per line in `args`; its exit code, stdout and stderr
//! are compared with a reviewed snapshot in tests/snapshots/.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert")
}

fn run_case(dir: &Path) -> String {
    let mut args: Vec<String> = vec!["convert".into()];
    if let Ok(text) = std::fs::read_to_string(dir.join("args")) {
        args.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    let stdin_input = dir.join("stdin.yaml");
    for name in ["input.yaml", "input.json", "in"] {
        if dir.join(name).exists() {
            args.push(name.into());
        }
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sme2wasm"));
    cmd.args(&args).current_dir(dir);
    if stdin_input.exists() {
        cmd.stdin(std::fs::File::open(&stdin_input).unwrap());
    } else {
        cmd.stdin(std::process::Stdio::null());
    }
    let out = cmd.output().expect("the binary runs");
    format!(
        "args: {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args[1..].join(" "),
        out.status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn convert_cases() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("testdata/convert exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "the fixture cases are all there");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for dir in &dirs {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            insta::assert_snapshot!(format!("convert__{name}"), run_case(dir));
        }
    });
}
