//! Walking a repository: every YAML and JSON file below a directory,
//! respecting .gitignore (and .ignore), never following a symbolic link,
//! skipping binary and oversized files with a notification, and not
//! entering another git repository below it (a nested clone or a
//! submodule) unless asked to. Only the files
//! that can matter to the migration are kept in memory: those that name
//! ServiceMeshExtension, kustomizations, and Helm templates.

use crate::conversion::sme;
use crate::notify::{Code, Notification, Source};
use std::path::{Path, PathBuf};

/// Files larger than this are not read (a generated dump, not a manifest).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// One file kept for the migration.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The path relative to the walked directory, `/`-separated, as shown
    /// in notifications and diffs.
    pub name: String,
    pub text: String,
}

impl SourceFile {
    /// Whether the file is a kustomization (by its name, as kustomize finds it).
    pub fn is_kustomization(&self) -> bool {
        matches!(
            self.path.file_name().and_then(|n| n.to_str()),
            Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
        )
    }

    pub fn is_json(&self) -> bool {
        self.path.extension().and_then(|e| e.to_str()) == Some("json")
    }
}

#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<SourceFile>,
    /// YAML and JSON files looked at (read, or skipped with a notification).
    pub scanned: usize,
    /// Files that could not be read (exit code 2).
    pub unreadable: usize,
    pub notes: Vec<Notification>,
    /// The git repositories below the walked directory that the walk
    /// entered (with `recurse_repositories`), each checked on its own
    /// before anything in it is written.
    pub repositories: Vec<PathBuf>,
    /// Files skipped (not UTF-8, or oversized) that mention
    /// ServiceMeshExtension all the same (UTF-8 or UTF-16 text).
    pub skipped_with_sme: Vec<String>,
}

/// Whether `dir` holds a git repository of its own: a `.git` directory (a
/// nested clone) or a `.git` file (a submodule, a linked worktree).
fn is_repository(dir: &Path) -> Option<&'static str> {
    let meta = std::fs::symlink_metadata(dir.join(".git")).ok()?;
    if meta.is_dir() {
        Some("a git repository of its own")
    } else if meta.is_file() {
        Some("a git submodule (or linked worktree)")
    } else {
        None
    }
}

fn is_candidate(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml" | "json") => true,
        _ => path.file_name().and_then(|n| n.to_str()) == Some("Kustomization"),
    }
}

/// `name` relative to `dir`, with `/` separators.
fn display(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn note(code: Code, name: &str, message: String, advice: &'static str) -> Notification {
    Notification::new(code, "", message)
        .at(Source::new(name.to_string(), 1))
        .advice(advice)
}

/// Walk `dir`. Problems with single files are notifications; only a `dir`
/// that cannot be walked at all is an error. A directory below `dir` that
/// is a git repository of its own is left out with an INFO, unless
/// `recurse_repositories`.
pub fn walk(dir: &Path, recurse_repositories: bool) -> Result<Walked, String> {
    let shown = || crate::fsutil::quote_path(&dir.to_string_lossy()).into_owned();
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", shown()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", shown()));
    }
    let mut out = Walked::default();
    // Repositories met below `dir`: (path, what it is).
    let nested = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = nested.clone();
    let walker = ignore::WalkBuilder::new(dir)
        .follow_links(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            if e.depth() == 0 || !e.file_type().is_some_and(|t| t.is_dir()) {
                return true;
            }
            let Some(what) = is_repository(e.path()) else {
                return true;
            };
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((e.path().to_path_buf(), what));
            recurse_repositories
        })
        .build();
    let mut paths = Vec::new();
    // On a terminal: files found, then files read.
    let progress = crate::progress::Progress::spinner("files found");
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.unreadable += 1;
                let name = match &e {
                    ignore::Error::WithPath { path, .. } => display(dir, path),
                    _ => String::new(),
                };
                out.notes.push(note(
                    Code::CannotWalk,
                    &name,
                    format!("cannot walk: {}", bare(&e)),
                    "check the permissions",
                ));
                continue;
            }
        };
        let Some(ft) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if ft.is_symlink() {
            if is_candidate(path) || path.is_dir() {
                out.notes.push(note(
                    Code::SymlinkNotFollowed,
                    &display(dir, path),
                    "a symbolic link: not followed".into(),
                    "",
                ));
            }
            continue;
        }
        if ft.is_file() && is_candidate(path) {
            paths.push(path.to_path_buf());
            progress.inc(1);
        }
    }
    progress.finish();
    let nested = std::mem::take(&mut *nested.lock().unwrap_or_else(|p| p.into_inner()));
    for (path, what) in nested {
        if recurse_repositories {
            out.repositories.push(path);
        } else {
            out.notes.push(note(
                Code::RepositoryNotEntered,
                &display(dir, &path),
                format!("{what}: not entered"),
                "migrate it on its own, or pass --recurse-repositories",
            ));
        }
    }
    out.scanned = paths.len();
    let progress = crate::progress::Progress::bar(paths.len(), "files read");
    for path in paths {
        progress.inc(1);
        let name = display(dir, &path);
        match read(&path) {
            Ok(text) => {
                let file = SourceFile { path, name, text };
                if file.text.contains(sme::KIND) || file.is_kustomization() {
                    out.files.push(file);
                }
            }
            Err(skip) => {
                if matches!(skip, Skip::Io(_)) {
                    out.unreadable += 1;
                } else if mentions_sme(&path) {
                    out.skipped_with_sme.push(name.clone());
                }
                out.notes.push(skip.note(&name));
            }
        }
    }
    Ok(out)
}

/// What went wrong, without the path (which the notification's source
/// names, quoted where it must be).
fn bare(e: &ignore::Error) -> String {
    match e {
        ignore::Error::WithPath { err, .. } | ignore::Error::WithDepth { err, .. } => bare(err),
        ignore::Error::WithLineNumber { err, line } => format!("line {line}: {}", bare(err)),
        e => e.to_string(),
    }
}

/// Why a file was not read.
enum Skip {
    Io(std::io::Error),
    Oversized(u64),
    Binary,
}

impl Skip {
    fn note(self, name: &str) -> Notification {
        match self {
            Skip::Io(e) => note(
                Code::CannotRead,
                name,
                format!("cannot read: {e}"),
                "check the permissions; the file was left untouched",
            ),
            Skip::Oversized(len) => note(
                Code::FileTooLarge,
                name,
                format!(
                    "{len} bytes, more than {} MiB: skipped",
                    MAX_FILE_SIZE >> 20
                ),
                "migrate any ServiceMeshExtension in it with `sme2wasm convert`",
            ),
            Skip::Binary => note(
                Code::BinaryFile,
                name,
                "not UTF-8 text (a binary file?): skipped".into(),
                "",
            ),
        }
    }
}

/// Whether a file says ServiceMeshExtension in UTF-8 or UTF-16 (either
/// byte order), read in pieces so that an oversized file is not held.
fn mentions_sme(path: &Path) -> bool {
    use std::io::Read;
    let utf16 = |le: bool| -> Vec<u8> {
        sme::KIND
            .encode_utf16()
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    };
    let needles = [sme::KIND.as_bytes().to_vec(), utf16(true), utf16(false)];
    let keep = needles.iter().map(Vec::len).max().unwrap_or(0);
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        if needles
            .iter()
            .any(|nd| carry.windows(nd.len()).any(|w| w == nd.as_slice()))
        {
            return true;
        }
        let cut = carry.len().saturating_sub(keep);
        carry.drain(..cut);
    }
}

/// The text of a file, or why it was skipped.
fn read(path: &Path) -> Result<String, Skip> {
    let meta = std::fs::metadata(path).map_err(Skip::Io)?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(Skip::Oversized(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(Skip::Io)?;
    if bytes.contains(&0) {
        return Err(Skip::Binary);
    }
    String::from_utf8(bytes).map_err(|_| Skip::Binary)
}
