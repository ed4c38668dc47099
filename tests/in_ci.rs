//! sme2wasm in a pipeline: the notification formats (plain, JSON lines,
//! GitHub workflow commands, SARIF read back through serde-sarif's types)
//! on one fixture, every way of acknowledging a warning, stale allows, and
//! --strict with and without them.

use serde_sarif::sarif::Sarif;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sme2wasm")
}

#[path = "common/examples.rs"]
mod examples;
use examples::gitops;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The JSON lines of a `--format json` run.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stderr(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The code of the fixture's WARN, as the JSON format reports it.
fn warn_code(dir: &Path) -> String {
    let out = run(dir, &["migrate", "--check", "--format", "json"]);
    let warns: Vec<_> = json_lines(&out)
        .into_iter()
        .filter(|v| v["level"] == "WARN")
        .collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    let code = warns[0]["code"].as_str().expect("the WARN has a code");
    assert!(
        code.len() >= 2 && code.starts_with('W') && code[1..].bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    code.to_string()
}

#[test]
fn plain_lines_carry_the_code() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let out = run(repo.path(), &["migrate", "--check"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "base/header-append.yaml:13: WARN[{code}] bookinfo/header-append: image"
        )),
        "{err}"
    );
}

#[test]
fn json_is_one_object_per_line_then_a_summary() {
    let repo = gitops();
    let out = run(repo.path(), &["migrate", "--check", "--format", "json"]);
    assert_eq!(out.status.code(), Some(4));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for n in &lines[..2] {
        assert_eq!(n["type"], "notification");
        assert_eq!(n["source"]["file"], "base/header-append.yaml");
        assert!(n["source"]["line"].as_u64().unwrap() > 0);
        assert_eq!(n["object"], "bookinfo/header-append");
        assert!(n["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[1]["level"], "WARN");
    let s = &lines[2];
    assert_eq!(s["type"], "summary");
    assert_eq!(s["mode"], "check");
    assert_eq!(s["found"], 2);
    assert_eq!(s["warn"], 1);
    assert_eq!(s["allowed"], 0);
}

/// Parse one workflow command as GitHub's runner does:
/// `::NAME[ KEY=VALUE[,KEY=VALUE]...]::DATA`; keys and values hold no raw
/// `,` or `:` (escaped), nothing holds a raw CR or LF.
fn workflow_command(line: &str) -> (String, Vec<(String, String)>, String) {
    let rest = line.strip_prefix("::").expect("starts with ::");
    let end = rest.find("::").expect("a second ::");
    let (head, data) = (&rest[..end], &rest[end + 2..]);
    let (name, props) = head.split_once(' ').unwrap_or((head, ""));
    assert!(
        ["warning", "error", "notice"].contains(&name),
        "{name}: {line}"
    );
    let props = if props.is_empty() {
        Vec::new()
    } else {
        props
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("KEY=VALUE");
                assert!(
                    ["file", "line", "col", "endLine", "endColumn", "title"].contains(&k),
                    "{k}"
                );
                assert!(!v.contains(':') && !v.contains('\r') && !v.contains('\n'));
                (k.to_string(), unescape(v))
            })
            .collect()
    };
    assert!(!data.contains('\r') && !data.contains('\n'));
    (name.to_string(), props, unescape(data))
}

fn unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[test]
fn github_workflow_commands_annotate_each_line() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let out = run(repo.path(), &["migrate", "--check", "--format", "github"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    let (name, props, data) = workflow_command(lines[1]);
    assert_eq!(name, "warning");
    assert_eq!(
        props,
        vec![
            ("file".to_string(), "base/header-append.yaml".to_string()),
            ("line".to_string(), "13".to_string()),
            ("title".to_string(), code.clone()),
        ]
    );
    assert!(
        data.starts_with("bookinfo/header-append: image quay.io/"),
        "{data}"
    );
    let (name, _, _) = workflow_command(lines[0]);
    assert_eq!(name, "notice");
    // The summary is a plain log line.
    assert!(lines[2].starts_with("migrate --check: 2 ServiceMeshExtensions remain"));
}

#[test]
fn github_escapes_what_would_break_a_command() {
    // A file whose name holds `,`, `:`, `%` and a newline: the annotation
    // still names it (escaped), and cannot forge a second command.
    let repo = gitops();
    let evil = "a,b:c%d\n::error::forged.yaml";
    std::fs::rename(
        repo.path().join("base/header-append.yaml"),
        repo.path().join(evil),
    )
    .unwrap();
    let out = run(
        repo.path(),
        &["migrate", "--check", "--format", "github", "-q"],
    );
    let err = stderr(&out);
    let commands: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(commands.len(), 1, "{err}");
    let (_, props, _) = workflow_command(commands[0]);
    assert_eq!(props[0], ("file".to_string(), evil.to_string()));
    assert!(commands[0].contains("file=a%2Cb%3Ac%25d%0A%3A%3Aerror%3A%3Aforged.yaml,"));
}

#[test]
fn sarif_round_trips_through_serde_sarif_with_what_code_scanning_needs() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let out = run(repo.path(), &["migrate", "--check", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(4));
    let text = stderr(&out);
    let raw: serde_json::Value = serde_json::from_str(&text).expect("stderr is one JSON document");
    let log: Sarif = serde_json::from_str(&text).expect("parses as serde-sarif's Sarif");
    // Round trip: the typed value serialises back to the same document.
    assert_eq!(serde_json::to_value(&log).unwrap(), raw);

    assert_eq!(raw["version"], "2.1.0");
    assert!(raw["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    assert_eq!(log.runs.len(), 1);
    let run = &log.runs[0];
    let driver = &run.tool.driver;
    assert_eq!(driver.name, "sme2wasm");
    assert_eq!(driver.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let rules = driver.rules.as_ref().expect("the catalogue as rules");
    for r in rules {
        assert!(r
            .short_description
            .as_ref()
            .is_some_and(|d| !d.text.is_empty()));
        assert!(r.name.is_some());
    }
    let results = run.results.as_ref().unwrap();
    assert_eq!(results.len(), 2);
    for (i, r) in raw["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        // What GitHub code scanning requires of a result.
        assert!(r["ruleId"].is_string(), "{r}");
        assert!(r["message"]["text"].as_str().is_some_and(|t| !t.is_empty()));
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "base/header-append.yaml");
        assert!(loc["region"]["startLine"].as_i64().unwrap() >= 1);
        assert!(["note", "warning", "error"].contains(&r["level"].as_str().unwrap()));
        // A result's rule is in the rules, at its index.
        if let Some(idx) = r["ruleIndex"].as_i64() {
            assert_eq!(rules[idx as usize].id, r["ruleId"].as_str().unwrap(), "{i}");
        }
    }
    let warn = &raw["runs"][0]["results"][1];
    assert_eq!(warn["level"], "warning");
    assert_eq!(warn["ruleId"], code.as_str());
    assert!(warn["ruleIndex"].is_i64(), "the code is in the catalogue");
    assert_eq!(
        warn["locations"][0]["physicalLocation"]["region"]["startLine"],
        13
    );
    assert!(warn.get("suppressions").is_none());
}

#[test]
fn strict_fails_on_a_warning_nobody_acknowledged() {
    let repo = gitops();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn allow_flag_acknowledges_and_strict_passes() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let report = repo.path().join("report.json");
    let out = run(
        repo.path(),
        &[
            "migrate",
            "--diff",
            "--strict",
            "--allow",
            &code,
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Still printed, marked, never silent.
    assert!(
        err.contains(&format!("WARN[{code}] bookinfo/header-append: image")),
        "{err}"
    );
    assert!(
        err.contains(&format!("(allowed by --allow {code})")),
        "{err}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["allowed"], 1);
    let warn = r["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["level"] == "WARN")
        .unwrap();
    assert_eq!(warn["suppressed"]["kind"], "external");
    assert_eq!(warn["suppressed"]["by"], format!("--allow {code}"));
}

#[test]
fn settings_file_allows_globally_or_per_path_with_a_reason() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let settings = repo.path().join(".sme2wasm.yaml");
    // Per path: a glob that matches the file.
    std::fs::write(
        &settings,
        format!("allow:\n- code: {code}\n  paths: [\"base/*.yaml\"]\n  reason: the image is repacked by the release pipeline\n"),
    )
    .unwrap();
    let out = run(
        repo.path(),
        &["migrate", "--diff", "--strict", "--format", "sarif"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let raw: serde_json::Value = serde_json::from_str(&stderr(&out)).unwrap();
    let warn = &raw["runs"][0]["results"][1];
    assert_eq!(warn["suppressions"][0]["kind"], "external");
    assert_eq!(
        warn["suppressions"][0]["justification"],
        "the image is repacked by the release pipeline (.sme2wasm.yaml:2)"
            .replace(".sme2wasm.yaml", &settings.to_string_lossy())
    );
    // The walked directory below the root: the glob is still the root's.
    let out = run(
        &repo.path().join("base"),
        &["migrate", ".", "--diff", "--strict"],
    );
    // (no .git: the search stops at the filesystem root and finds the file)
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A glob that matches nothing else: the warning stands, and the allow
    // is stale.
    std::fs::write(
        &settings,
        format!("allow:\n- code: {code}\n  paths: [\"overlays/**\"]\n  reason: not here\n"),
    )
    .unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains(&format!(".sme2wasm.yaml:2: WARN[W701]: the allow of {code} in .sme2wasm.yaml matches no warning")), "{err}");
    // Global, and without a reason: refused.
    std::fs::write(
        &settings,
        format!("allow:\n- code: {code}\n  reason: accepted\n"),
    )
    .unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(
        &settings,
        format!("allow:\n- code: {code}\n  reason: \"\"\n"),
    )
    .unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            ".sme2wasm.yaml:2: the allow of {code} has no reason"
        )),
        "{}",
        stderr(&out)
    );
    std::fs::write(&settings, "allow:\n- cod: x\n").unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(".sme2wasm.yaml:2:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inline_comment_allows_on_the_line_before_or_for_the_whole_sme() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let file = repo.path().join("base/header-append.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The line before the image (line 13 becomes 14).
    let before = text.replace(
        "  image: quay.io",
        &format!("  # sme2wasm: allow {code} repacked by the release job\n  image: quay.io"),
    );
    std::fs::write(&file, &before).unwrap();
    let out = run(
        repo.path(),
        &["migrate", "--diff", "--strict", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warn = json_lines(&out)
        .into_iter()
        .find(|n| n["level"] == "WARN")
        .unwrap();
    assert_eq!(warn["suppressed"]["kind"], "inSource");
    assert_eq!(
        warn["suppressed"]["justification"],
        "repacked by the release job"
    );
    assert_eq!(warn["suppressed"]["by"], "base/header-append.yaml:13");
    // In the comments that open the SME: the whole document.
    std::fs::write(
        &file,
        format!("# sme2wasm: allow {code} accepted for this SME\n{text}"),
    )
    .unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Two lines above the warning, inside the SME: not this warning, and
    // stale.
    let far = text.replace(
        "  config:",
        &format!("  config: # sme2wasm: allow {code} wrong line"),
    );
    std::fs::write(&file, far).unwrap();
    let out = run(repo.path(), &["migrate", "--diff", "--strict", "-q"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "base/header-append.yaml:10: WARN[W701]: `# sme2wasm: allow {code}` matches no warning"
        )),
        "{err}"
    );
}

#[test]
fn a_stale_allow_flag_is_a_warning_and_fails_strict() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let out = run(
        repo.path(),
        &[
            "migrate", "--diff", "--strict", "-q", "--allow", &code, "--allow", "W999",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("WARN[W701]: --allow W999 matches no warning"),
        "{err}"
    );
    // Without --strict it does not change the exit code.
    let out = run(repo.path(), &["migrate", "--diff", "-q", "--allow", "W999"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn convert_takes_the_same_formats_and_allows() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let sme = "base/header-append.yaml";
    let out = run(
        repo.path(),
        &["convert", sme, "--strict", "--format", "github"],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    let (name, props, _) =
        workflow_command(err.lines().find(|l| l.starts_with("::warning")).unwrap());
    assert_eq!(name, "warning");
    assert_eq!(props[0].1, sme);
    let out = run(
        repo.path(),
        &[
            "convert", sme, "--strict", "--allow", &code, "--format", "sarif",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log: Sarif = serde_json::from_str(&stderr(&out)).unwrap();
    let results = log.runs[0].results.as_ref().unwrap();
    assert!(results.iter().any(|r| r.suppressions.is_some()));
    // stdout is still the YAML.
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: WasmPlugin"));
}

#[test]
fn migrate_format_is_the_notifications_and_image_format_is_repacks() {
    use clap::Parser;
    use sme2wasm::cli::{Cli, Command as Cmd, NoticeFormat};
    let cli = Cli::try_parse_from([
        "sme2wasm",
        "migrate",
        ".",
        "--repack",
        "--tag-suffix",
        "-w",
        "--image-format",
        "docker",
        "--format",
        "sarif",
    ])
    .unwrap();
    let Cmd::Migrate(args) = cli.command else {
        panic!("not migrate")
    };
    assert_eq!(args.conversion.format, NoticeFormat::Sarif);
    assert_eq!(
        args.repack_target.format,
        sme2wasm::repack::FormatArg::Docker
    );
    assert!(Cli::try_parse_from(["sme2wasm", "migrate", "--format", "docker"]).is_err());
    // repack keeps --format for the image's media types.
    assert!(Cli::try_parse_from([
        "sme2wasm", "repack", "x:1", "--to", "y:1", "--format", "docker"
    ])
    .is_ok());
}

#[test]
fn verify_takes_the_same_formats_and_allows() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wasm/header_append.wasm");
    let module = module.to_str().unwrap();
    let sme = "base/header-append.yaml";
    let out = run(
        repo.path(),
        &[
            "verify", "--module", module, sme, "--strict", "--format", "github",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let warning = err.lines().find(|l| l.starts_with("::warning")).unwrap();
    let (_, props, _) = workflow_command(warning);
    assert_eq!(props[0].1, sme);
    assert_eq!(props[2].1, code);
    let out = run(
        repo.path(),
        &[
            "verify", "--module", module, sme, "--strict", "--allow", &code, "--format", "sarif",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log: Sarif = serde_json::from_str(&stderr(&out)).unwrap();
    let results = log.runs[0].results.as_ref().unwrap();
    assert!(results.iter().any(|r| r.suppressions.is_some()));
}

#[test]
fn allow_takes_a_code_its_number_or_its_name() {
    let repo = gitops();
    let code = warn_code(repo.path());
    let rule = sme2wasm::notify::Code::lookup(&code).unwrap();
    for name in [
        code.to_lowercase(),
        code[1..].to_string(),
        rule.name.to_string(),
    ] {
        let out = run(
            repo.path(),
            &["migrate", "--diff", "--strict", "-q", "--allow", &name],
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
}
