//! Completions and manual pages are generated from the clap definitions:
//! every command and every long flag clap knows appears in each shell's
//! completion script and in the command's manual page.

use assert_cmd::Command;
use clap::CommandFactory;
use sme2wasm::cli::Cli;

fn sme2wasm() -> Command {
    Command::cargo_bin("sme2wasm").unwrap()
}

fn run(args: &[&str]) -> String {
    let out = sme2wasm().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every subcommand (help aside) with its long flags, global ones included.
fn commands() -> Vec<(String, Vec<String>)> {
    let mut top = Cli::command();
    top.build();
    let longs = |c: &clap::Command| -> Vec<String> {
        c.get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect()
    };
    let mut out = vec![(String::new(), longs(&top))];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push((sub.get_name().to_string(), longs(sub)));
    }
    out
}

#[test]
fn every_command_has_flags_to_check() {
    let cmds = commands();
    let names: Vec<&str> = cmds.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["convert", "repack", "migrate", "completions", "man"] {
        assert!(names.contains(&want), "{names:?}");
    }
    let migrate = &cmds.iter().find(|(n, _)| n == "migrate").unwrap().1;
    for want in ["check", "diff", "allow-dirty", "color", "tag-suffix"] {
        assert!(migrate.iter().any(|l| l == want), "{migrate:?}");
    }
}

#[test]
fn completions_name_every_command_and_flag() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = run(&["completions", shell]);
        assert!(script.contains("sme2wasm"), "{shell}");
        for (name, longs) in commands() {
            assert!(
                name.is_empty() || script.contains(&name),
                "{shell}: command {name} missing"
            );
            for long in longs {
                let found = match shell {
                    "fish" => script.contains(&format!(" -l {long} ")),
                    _ => script.contains(&format!("--{long}")),
                };
                assert!(found, "{shell}: --{long} of `{name}` missing");
            }
        }
    }
}

#[test]
fn bash_completion_offers_each_command_its_own_flags() {
    // bash's script has one `opts="…"` list per command.
    let script = run(&["completions", "bash"]);
    for (name, longs) in commands() {
        let case = if name.is_empty() {
            "        sme2wasm)\n".to_string()
        } else {
            format!("        sme2wasm__subcmd__{name})\n")
        };
        let at = script
            .find(&case)
            .unwrap_or_else(|| panic!("no case for `{name}`"));
        let opts = script[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("opts=\""))
            .unwrap();
        let words: Vec<&str> = opts
            .trim()
            .trim_start_matches("opts=\"")
            .trim_end_matches('"')
            .split(' ')
            .collect();
        for long in longs {
            assert!(
                words.contains(&format!("--{long}").as_str()),
                "`{name}`: --{long} not in {opts}"
            );
        }
    }
}

#[test]
fn bash_completion_loads_and_completes_a_flag() {
    // The script is valid bash, and completing `sme2wasm migrate --ch`
    // offers --check.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sme2wasm.bash");
    std::fs::write(&script, run(&["completions", "bash"])).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && COMP_WORDS=(sme2wasm migrate --ch) COMP_CWORD=2 && _sme2wasm sme2wasm --ch migrate && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "--check", "{stdout}");
}

#[test]
fn man_pages_name_every_flag() {
    for (name, longs) in commands() {
        let args: Vec<&str> = if name.is_empty() {
            vec!["man"]
        } else {
            vec!["man", &name]
        };
        let page = run(&args);
        let title = if name.is_empty() {
            "sme2wasm".to_string()
        } else {
            format!("sme2wasm-{name}")
        };
        assert!(
            page.contains(&format!(".TH {title} 1")),
            "{title}: {}",
            &page[..page.len().min(300)]
        );
        for long in longs {
            // roff escapes every hyphen.
            let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&flag), "{title}: {flag} missing");
        }
    }
    // The top page lists the commands.
    let top = run(&["man"]);
    for sub in ["convert", "repack", "migrate"] {
        assert!(top.contains(&format!("sme2wasm\\-{sub}(1)")), "{sub}");
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = sme2wasm()
        .args(["man", "--dir"])
        .arg(dir.path().join("man1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = commands()
        .into_iter()
        .map(|(n, _)| {
            if n.is_empty() {
                "sme2wasm.1".to_string()
            } else {
                format!("sme2wasm-{n}.1")
            }
        })
        .collect();
    want.sort();
    assert_eq!(names, want);
    let page = std::fs::read_to_string(dir.path().join("man1/sme2wasm-convert.1")).unwrap();
    assert_eq!(page, run(&["man", "convert"]));
}

#[test]
fn unknown_page_is_a_usage_error() {
    let out = sme2wasm().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no manual page for `nope`"), "{stderr}");
    assert!(stderr.contains("convert, repack, migrate"), "{stderr}");
}
