//! Version control, before anything is written: migrate rewrites only what
//! `git checkout` can restore, as `cargo fix` does. Git's own answer is
//! asked, from the `git` program; without git, a tree counts as not under
//! version control.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run git with `args` in `dir`; its stdout, or why it failed (the first
/// line git printed on stderr).
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // Plain, stable output whatever the user's settings.
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "git is not installed".to_string(),
            _ => format!("git cannot be run: {e}"),
        })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("fatal: "))
        .find(|l| !l.is_empty())
        .unwrap_or("git failed")
        .to_string();
    Err(format!("git says: {why}"))
}

/// The top of the git work tree `dir` lies in, or why it is not in one.
pub fn work_tree(dir: &Path) -> Result<PathBuf, String> {
    let out = git(dir, &["rev-parse", "--show-toplevel"])?;
    let top = out.strip_suffix(b"\n").unwrap_or(&out);
    if top.is_empty() {
        return Err("git says: not inside a work tree".into());
    }
    Ok(PathBuf::from(OsStr::from_bytes(top)))
}

/// What git says of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Changed (or new) in the work tree and not committed.
    Dirty,
    /// Changed in the index only: staged, not committed.
    Staged,
}

/// Every file of the work tree at `top` that differs from its last commit
/// (untracked files included, ignored ones not), by absolute path.
pub fn status(top: &Path) -> Result<HashMap<PathBuf, State>, String> {
    let out = git(
        top,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--ignore-submodules=all",
        ],
    )?;
    let mut states = HashMap::new();
    // Each entry: `XY path`, NUL-terminated, relative to the top; X is the
    // index's state, Y the work tree's.
    for entry in out.split(|b| *b == 0).filter(|e| e.len() > 3) {
        let (x, y) = (entry[0], entry[1]);
        let path = top.join(OsStr::from_bytes(&entry[3..]));
        let state = if y != b' ' {
            State::Dirty
        } else if x != b' ' {
            State::Staged
        } else {
            continue;
        };
        states.insert(path, state);
    }
    Ok(states)
}

/// Which of `files` (absolute paths in the work tree at `top`) git
/// ignores: untracked and matched by an ignore rule, so that git neither
/// shows nor restores them (a PATH inside an ignored directory). One
/// listing of the ignored files and directories (`git ls-files`), which is
/// fast, rather than a question per file (`git check-ignore`), which is not.
pub fn ignored(top: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let out = git(
        top,
        &[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
        ],
    )?;
    // Files, and directories (with a trailing `/`) ignored as a whole.
    let mut ignored_files = std::collections::HashSet::new();
    let mut ignored_dirs = std::collections::HashSet::new();
    for e in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let path = top.join(OsStr::from_bytes(e));
        if e.ends_with(b"/") {
            ignored_dirs.insert(path);
        } else {
            ignored_files.insert(path);
        }
    }
    Ok(files
        .iter()
        .filter(|f| {
            ignored_files.contains(*f)
                || f.ancestors()
                    .skip(1)
                    .take_while(|a| a.starts_with(top))
                    .any(|a| ignored_dirs.contains(a))
        })
        .cloned()
        .collect())
}

/// What the user allows (`--allow-*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    pub no_vcs: bool,
    pub dirty: bool,
    pub staged: bool,
}

/// A file that is not safe to rewrite, by the name migrate shows.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsafe {
    NoVcs(String, String),
    Dirty(String),
    Staged(String),
}

/// Check the files about to be written, `(path, name)`, against the work
/// trees they lie in: `roots` are the work tree of PATH (if any) and the
/// repositories below it that the walk entered. Returns the files that are
/// not safe to write under `allow`.
pub fn check<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a str)>,
    roots: &[PathBuf],
    allow: Allow,
) -> Result<Vec<Unsafe>, String> {
    let mut out = Vec::new();
    if allow.dirty && allow.no_vcs {
        return Ok(out);
    }
    let mut by_root: HashMap<&Path, Vec<(PathBuf, &str)>> = HashMap::new();
    for (path, name) in files {
        let real = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
        // The innermost work tree holding the file.
        let root = roots
            .iter()
            .filter(|r| real.starts_with(r))
            .max_by_key(|r| r.components().count());
        match root {
            Some(r) => by_root.entry(r).or_default().push((real, name)),
            None if allow.no_vcs => {}
            None => out.push(Unsafe::NoVcs(
                name.to_string(),
                "not in a git work tree".into(),
            )),
        }
    }
    for (root, files) in by_root {
        if !allow.no_vcs {
            let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
            let ignored: std::collections::HashSet<PathBuf> =
                ignored(root, &paths)?.into_iter().collect();
            for (real, name) in &files {
                if ignored.contains(real) {
                    out.push(Unsafe::NoVcs(name.to_string(), "ignored by git".into()));
                }
            }
        }
        if allow.dirty {
            continue;
        }
        let states = status(root)?;
        for (real, name) in files {
            match states.get(&real) {
                Some(State::Dirty) => out.push(Unsafe::Dirty(name.to_string())),
                Some(State::Staged) if !allow.staged => out.push(Unsafe::Staged(name.to_string())),
                _ => {}
            }
        }
    }
    Ok(out)
}
