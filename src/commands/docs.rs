//! Shell completions and manual pages, generated from the clap definitions
//! in `cli/`, so that they name every command and flag there is.

use crate::cli::{Cli, Shell};
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sme2wasm", &mut out);
    out
}

/// The commands that have a page: sme2wasm itself and each subcommand
/// (`help` aside), as `(page name, command)`.
pub fn pages() -> Vec<(String, clap::Command)> {
    let mut top = Cli::command();
    // Global flags (--color) reach the subcommands' pages.
    top.build();
    let mut out = Vec::new();
    for sub in top.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("sme2wasm-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("sme2wasm {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        out.push((name, page));
    }
    out.insert(0, ("sme2wasm".to_string(), top));
    out
}

/// The roff source of one page.
pub fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    Ok(out)
}

/// The page of `command` (None: sme2wasm's own) as roff.
pub fn page(command: Option<&str>) -> Result<Vec<u8>, String> {
    let want = match command {
        None => "sme2wasm".to_string(),
        Some(c) => format!("sme2wasm-{c}"),
    };
    let pages = pages();
    let Some((_, cmd)) = pages.iter().find(|(n, _)| *n == want) else {
        let names: Vec<&str> = pages[1..]
            .iter()
            .map(|(n, _)| n.trim_start_matches("sme2wasm-"))
            .collect();
        return Err(format!(
            "no manual page for `{}`: the commands are {}",
            command.unwrap_or_default(),
            names.join(", ")
        ));
    };
    render(cmd).map_err(|e| e.to_string())
}

/// Write every page into `dir` as `NAME.1`; returns the files written.
pub fn write_pages(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, cmd) in pages() {
        let text = render(&cmd).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.1"));
        crate::fsutil::write_atomic(&path, &text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Write `bytes` to stdout; a closed pipe is not an error.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
