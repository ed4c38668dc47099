//! Acknowledged warnings. A warning that a team has looked at and accepted
//! can be allowed, by its code, in three ways:
//!
//! - `--allow CODE` on the command line (repeatable);
//! - `.sme2wasm.yaml` at the repository root, globally or per path glob,
//!   each entry with a reason;
//! - an inline comment `# sme2wasm: allow CODE reason` on the line of the
//!   notification or the line before it; in the comments that open an SME's
//!   document, or at the end of its first line, it covers the whole SME.
//!
//! An allowed warning no longer fails `--strict`, but it is still reported
//! (marked allowed in plain and GitHub output, suppressed in JSON and
//! SARIF). An allow that matches no warning is itself a WARN, so that stale
//! allows do not pile up.

use crate::notify::{Code, Level, Notification, Source};
use std::path::{Path, PathBuf};

/// The settings file at a repository's root.
pub const CONFIG: &str = ".sme2wasm.yaml";

/// The inline marker.
const MARKER: &str = "sme2wasm: allow";

/// Where an allow was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--allow CODE`.
    Flag,
    /// An entry of `.sme2wasm.yaml`.
    Config(Source),
    /// A `# sme2wasm: allow` comment.
    Inline(Source),
}

/// One allow.
#[derive(Debug, Clone)]
pub struct Allow {
    pub code: String,
    pub reason: String,
    pub origin: Origin,
    /// Config entries: the file names (relative to the walked directory)
    /// it covers; None for all.
    paths: Option<globset::GlobSet>,
    /// Inline allows: the file and the lines (inclusive) they cover.
    lines: Option<(String, usize, usize)>,
}

/// Why a warning is acknowledged: what the JSON report and SARIF say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Allowed {
    /// SARIF's suppression kind: `inSource` (a comment), `external`
    /// (`--allow`, `.sme2wasm.yaml`).
    pub kind: &'static str,
    /// The reason given (may be empty for `--allow`).
    pub justification: String,
    /// Where the allow was written: `--allow`, or FILE:LINE.
    pub by: String,
}

impl Allow {
    fn allowed(&self) -> Allowed {
        let (kind, by) = match &self.origin {
            Origin::Flag => ("external", format!("--allow {}", self.code)),
            Origin::Config(s) => ("external", s.to_string()),
            Origin::Inline(s) => ("inSource", s.to_string()),
        };
        Allowed {
            kind,
            justification: self.reason.clone(),
            by,
        }
    }

    fn covers(&self, n: &Notification, code: &str) -> bool {
        // `W104`, `w104`, `104` or the rule's name.
        let named = Code::lookup(&self.code).map_or(self.code.as_str(), |r| r.code.as_str());
        if n.level != Level::Warn || code != named {
            return false;
        }
        if let Some(paths) = &self.paths {
            match &n.source {
                Some(s) if paths.is_match(&s.file) => {}
                _ => return false,
            }
        }
        if let Some((file, from, to)) = &self.lines {
            match &n.source {
                Some(s) if s.file == *file && (*from..=*to).contains(&s.line) => {}
                _ => return false,
            }
        }
        true
    }
}

/// `--allow CODE`s.
pub fn from_flags(codes: &[String]) -> Vec<Allow> {
    codes
        .iter()
        .map(|c| Allow {
            code: c.trim().to_string(),
            reason: String::new(),
            origin: Origin::Flag,
            paths: None,
            lines: None,
        })
        .collect()
}

/// The settings file that governs `base` (the walked directory, or the
/// current directory for convert): `.sme2wasm.yaml` in `base` or the
/// nearest directory above it, up to the top of its git work tree (the
/// first directory with a `.git`).
pub fn find_config(base: &Path) -> Option<PathBuf> {
    let base = std::path::absolute(base).ok()?;
    for dir in base.ancestors() {
        let candidate = dir.join(CONFIG);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    allow: Vec<ConfigEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigEntry {
    code: String,
    reason: String,
    #[serde(default)]
    paths: Vec<String>,
}

/// Where `base` (the directory notification file names are relative to)
/// lies below the settings file's directory, whose globs are written from
/// there: empty when they are the same.
pub fn prefix_of(config: &Path, base: &Path) -> PathBuf {
    let root = config.parent().unwrap_or(Path::new("."));
    match (std::path::absolute(base), std::path::absolute(root)) {
        (Ok(b), Ok(r)) => b.strip_prefix(r).map(Path::to_path_buf).unwrap_or_default(),
        _ => PathBuf::new(),
    }
}

/// The allows of a settings file; its path globs are relative to its own
/// directory (the repository root).
pub fn load_config(path: &Path) -> Result<Vec<Allow>, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let file: ConfigFile = crate::yaml::from_str(&text).map_err(|e| match e.line {
        Some(l) => format!(
            "{shown}:{l}: {e}; expected `allow:` with entries of `code`, `reason` and optional `paths`"
        ),
        None => format!("{shown}: {e}"),
    })?;
    // Each entry's line: the n-th `code:` key of the file.
    let code_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches('-').trim_start();
            t.starts_with("code:")
        })
        .map(|(i, _)| i + 1)
        .collect();
    let mut out = Vec::new();
    for (i, e) in file.allow.into_iter().enumerate() {
        let line = code_lines.get(i).copied().unwrap_or(1);
        if e.reason.trim().is_empty() {
            return Err(format!(
                "{shown}:{line}: the allow of {} has no reason; say why the warning is accepted",
                e.code
            ));
        }
        let paths = if e.paths.is_empty() {
            None
        } else {
            let mut set = globset::GlobSetBuilder::new();
            for p in &e.paths {
                let glob = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|err| format!("{shown}:{line}: path {p:?}: {err}"))?;
                set.add(glob);
            }
            Some(
                set.build()
                    .map_err(|err| format!("{shown}:{line}: {err}"))?,
            )
        };
        out.push(Allow {
            code: e.code.trim().to_string(),
            reason: e.reason.trim().to_string(),
            origin: Origin::Config(Source::new(shown.clone(), line)),
            paths,
            lines: None,
        });
    }
    Ok(out)
}

/// A file's text for its inline allows: `None` when it cannot be read or
/// names no allow. Read in blocks first, so that a large input without an
/// allow is never held whole again.
pub fn marked_file_text(name: &str) -> Option<String> {
    use std::io::Read;
    if name == "<stdin>" {
        return None;
    }
    let mut file = std::fs::File::open(name).ok()?;
    let mut block = vec![0u8; 1 << 16];
    // The end of the previous block, in case the marker spans two.
    let keep = MARKER.len() - 1;
    let mut carry: Vec<u8> = Vec::new();
    let mut found = false;
    loop {
        let n = file.read(&mut block).ok()?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&block[..n]);
        if carry.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()) {
            found = true;
            break;
        }
        let cut = carry.len().saturating_sub(keep);
        carry.drain(..cut);
    }
    if !found {
        return None;
    }
    std::fs::read_to_string(name).ok()
}

/// The inline allows of one file (`name` as notifications write it).
pub fn inline(name: &str, text: &str) -> Vec<Allow> {
    // Most files have none: no table of lines for them.
    if !text.contains(MARKER) {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let is_marker = |l: &str| {
        let t = l.trim();
        t == "---" || t.starts_with("--- ") || t == "..."
    };
    let is_comment_or_blank = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(hash) = comment_start(line) else {
            continue;
        };
        let comment = line[hash + 1..].trim();
        let Some(rest) = comment.strip_prefix(MARKER) else {
            continue;
        };
        let mut words = rest.trim().splitn(2, char::is_whitespace);
        let Some(code) = words.next().filter(|c| !c.is_empty()) else {
            continue;
        };
        let reason = words.next().unwrap_or("").trim().to_string();
        let no = i + 1;
        let whole_line = line[..hash].trim().is_empty();
        // The document this line belongs to: from the line after the last
        // marker above (or the top) to the line before the next marker.
        let start = lines[..i]
            .iter()
            .rposition(|l| is_marker(l))
            .map_or(0, |p| p + 1);
        let end = lines[i + 1..]
            .iter()
            .position(|l| is_marker(l))
            .map_or(lines.len(), |p| i + 1 + p);
        let first_content = (start..end).find(|&k| !is_comment_or_blank(lines[k]));
        let covers_document = match first_content {
            // In the comments that open the document.
            Some(k) if whole_line => k > i,
            // At the end of the document's first line.
            Some(k) => k == i,
            None => false,
        };
        let (from, to) = if covers_document {
            (start + 1, end)
        } else if whole_line {
            // This line and the next line with content.
            let next = (i + 1..lines.len())
                .find(|&k| !is_comment_or_blank(lines[k]))
                .map_or(no, |k| k + 1);
            (no, next)
        } else {
            (no, no)
        };
        out.push(Allow {
            code: code.to_string(),
            reason,
            origin: Origin::Inline(Source::new(name.to_string(), no)),
            paths: None,
            lines: Some((name.to_string(), from, to)),
        });
    }
    out
}

/// Where a YAML comment starts on a line: a `#` at the start or after
/// whitespace, outside quotes (good enough for the lines that carry an
/// allow; a `#` in a plain scalar needs a space before it to be a comment).
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

/// Every allow that governs a run, applied to its notifications: the
/// `--allow` flags, the settings file found from `base` (the directory
/// notification file names are relative to), and the inline comments of
/// the files the notifications name and the files `also` names
/// (`text_of` gives a file's text as it
/// was read). Stale allows are added to `notes` as WARNs. Returns, per
/// notification, whether it is acknowledged.
pub fn acknowledge(
    flags: &[String],
    base: &Path,
    also: &[&str],
    text_of: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<Notification>,
) -> Result<Vec<Option<Allowed>>, String> {
    let mut allows = from_flags(flags);
    let mut prefix = PathBuf::new();
    if let Some(config) = find_config(base) {
        prefix = prefix_of(&config, base);
        allows.extend(load_config(&config)?);
    }
    let mut files: Vec<&str> = notes
        .iter()
        .filter_map(|n| n.source.as_ref().map(|s| s.file.as_str()))
        .chain(also.iter().copied())
        .collect();
    files.sort_unstable();
    files.dedup();
    for f in files {
        if let Some(text) = text_of(f) {
            allows.extend(inline(f, &text));
        }
    }
    let (mut verdicts, stale) = apply(&allows, notes, &prefix);
    verdicts.extend(stale.iter().map(|_| None));
    notes.extend(stale);
    Ok(verdicts)
}

/// Apply the allows to a run's notifications: for each notification,
/// whether (and why) it is acknowledged; then a WARN for each allow that
/// matched nothing. `code_of` gives a notification's code; `prefix` is the
/// walked directory's place below the settings file (for path globs).
pub fn apply(
    allows: &[Allow],
    notes: &[Notification],
    prefix: &Path,
) -> (Vec<Option<Allowed>>, Vec<Notification>) {
    let mut used = vec![false; allows.len()];
    let verdicts = notes
        .iter()
        .map(|n| {
            let code = n.code.as_str();
            let rooted;
            let probe = if prefix.as_os_str().is_empty() {
                n
            } else {
                // Path globs are written from the root.
                rooted = n.source.as_ref().map(|s| {
                    let mut r = n.clone();
                    r.source = Some(Source {
                        file: prefix.join(&s.file).to_string_lossy().replace('\\', "/"),
                        ..s.clone()
                    });
                    r
                });
                rooted.as_ref().unwrap_or(n)
            };
            let hit = allows.iter().position(|a| {
                if a.paths.is_some() {
                    a.covers(probe, code)
                } else {
                    a.covers(n, code)
                }
            })?;
            used[hit] = true;
            Some(allows[hit].allowed())
        })
        .collect();
    let stale = allows
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(a, _)| stale_note(a))
        .collect();
    (verdicts, stale)
}

fn stale_note(a: &Allow) -> Notification {
    let (message, source) = match &a.origin {
        Origin::Flag => (format!("--allow {} matches no warning", a.code), None),
        Origin::Config(s) => (
            format!("the allow of {} in {CONFIG} matches no warning", a.code),
            Some(s.clone()),
        ),
        Origin::Inline(s) => (
            format!("`# {MARKER} {}` matches no warning", a.code),
            Some(s.clone()),
        ),
    };
    let mut n = Notification::new(Code::AllowMatchesNothing, "", message)
        .advice("remove the allow: the warning it acknowledged is gone (or the code is wrong)");
    n.source = source;
    n
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_files_that_name_an_allow_are_read_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.yaml");
        std::fs::write(&plain, "a: 1\n".repeat(40_000)).unwrap();
        assert_eq!(marked_file_text(plain.to_str().unwrap()), None);
        // The marker across the boundary of two blocks (64 KiB).
        let marked = dir.path().join("marked.yaml");
        let mut text = "x".repeat((1 << 16) - 5);
        text.push_str(&format!("# {MARKER} W103 repacked elsewhere\na: 1\n"));
        std::fs::write(&marked, &text).unwrap();
        assert_eq!(marked_file_text(marked.to_str().unwrap()), Some(text));
        assert_eq!(marked_file_text("<stdin>"), None);
        assert_eq!(
            marked_file_text(dir.path().join("none").to_str().unwrap()),
            None
        );
    }

    use super::*;

    fn lines_of(text: &str) -> Vec<(String, usize, usize)> {
        inline("f.yaml", text)
            .into_iter()
            .map(|a| {
                let (_, from, to) = a.lines.unwrap();
                (a.code, from, to)
            })
            .collect()
    }

    #[test]
    fn inline_allows_cover_their_line_the_next_or_the_document() {
        let text = "\
# sme2wasm: allow W1 the whole first document
apiVersion: maistra.io/v1
kind: ServiceMeshExtension
spec:
  # sme2wasm: allow W2 the next line
  image: x
  phase: y # sme2wasm: allow W3 this line
---
apiVersion: maistra.io/v1 # sme2wasm: allow W4 the second document
kind: ServiceMeshExtension
";
        assert_eq!(
            lines_of(text),
            vec![
                ("W1".into(), 1, 7),
                ("W2".into(), 5, 6),
                ("W3".into(), 7, 7),
                ("W4".into(), 9, 10),
            ]
        );
        let a = &inline("f.yaml", text)[0];
        assert_eq!(a.reason, "the whole first document");
        assert_eq!(a.origin, Origin::Inline(Source::new("f.yaml", 1)));
    }

    #[test]
    fn a_hash_in_a_quoted_value_is_not_a_comment() {
        assert!(inline("f", "a: \"x # sme2wasm: allow W1 no\"\n").is_empty());
        assert!(inline("f", "a: x#sme2wasm: allow W1 no\n").is_empty());
        assert_eq!(inline("f", "a: 'x' # sme2wasm: allow W1 yes\n").len(), 1);
    }
}
