//! Writing files so that a reader (or a crash) sees either the old content
//! or the new, never half of it: a temporary file in the same directory,
//! fsync, then rename over the target, keeping the target's owner, group
//! and permissions. And printing paths so that no file name can forge a
//! line of output.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sme2wasm-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if let Ok(meta) = std::fs::metadata(path) {
        // The owner and group first: changing them clears set-user-ID and
        // set-group-ID bits, which the permissions then restore.
        let mine = tmp.as_file().metadata()?;
        if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
            if let Err(e) =
                std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()))
            {
                // Only root may give a file away; anyone else keeps what
                // the system allows (at least the group, when a member).
                if mine.uid() == 0 {
                    return Err(e);
                }
                let _ = std::os::unix::fs::fchown(tmp.as_file(), None, Some(meta.gid()));
            }
        }
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A path as it is printed: as it is, unless it holds a control character
/// (a newline, a tab, an escape…), a double quote or a backslash; then in
/// double quotes with C-style escapes, as git quotes paths
/// (`"evil\n+++ b/x.yaml"`), so that no file name can forge a line of a
/// diff or a notification. Other non-ASCII text is kept as it is (git's
/// `core.quotePath=false`).
pub fn quote_path(name: &str) -> Cow<'_, str> {
    if !name
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    out.push('"');
    for c in name.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:03o}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_file_is_mapped_and_reads_the_same_after_its_pages_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let line = "key: välue # a comment\n";
        let text = line.repeat((MAP_AT_LEAST as usize) / line.len() + 10);
        std::fs::write(&path, &text).unwrap();
        let t = Text::read(&path).unwrap();
        assert!(t.is_mapped());
        assert_eq!(&*t, text.as_str());
        t.release_before(text.len() / 2);
        assert_eq!(&t[..100], &text[..100]);
        t.release_before(usize::MAX);
        assert_eq!(&*t, text.as_str());
        // Small files are read into memory.
        let small = dir.path().join("small.yaml");
        std::fs::write(&small, line).unwrap();
        let t = Text::read(&small).unwrap();
        assert!(!t.is_mapped());
        assert_eq!(&*t, line);
        // Not UTF-8, mapped or not.
        let mut bad = text.into_bytes();
        bad[MAP_AT_LEAST as usize] = 0xff;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(Text::read(&path), Err(TextError::NotUtf8)));
        std::fs::write(&small, [b'a', 0xff]).unwrap();
        assert!(matches!(Text::read(&small), Err(TextError::NotUtf8)));
    }

    #[test]
    fn replaces_content_and_keeps_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn keeps_owner_and_group() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.yaml");
        std::fs::write(&p, "old").unwrap();
        // Someone else's file (the tests run as root; as anyone else
        // chown fails here and the test with it).
        std::os::unix::fs::chown(&p, Some(4321), Some(8765)).unwrap();
        write_atomic(&p, b"new").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 8765));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
    }

    #[test]
    fn paths_are_quoted_as_git_quotes_them() {
        assert_eq!(quote_path("base/sme.yaml"), "base/sme.yaml");
        assert_eq!(quote_path("é/ü.yaml"), "é/ü.yaml");
        assert_eq!(
            quote_path("evil\n+++ b/injected.yaml"),
            "\"evil\\n+++ b/injected.yaml\""
        );
        assert_eq!(
            quote_path("a\tb\rc\x1b[31md\x7f\"q\"\\z\u{85}"),
            "\"a\\tb\\rc\\033[31md\\177\\\"q\\\"\\\\z\\302\\205\""
        );
    }
}

/// Files at least this large are mapped rather than read into memory.
const MAP_AT_LEAST: u64 = 4 << 20;

/// The text of an input file: read into memory, or, for a large file,
/// mapped read-only, so that the pages of what has been read already can
/// be given back to the system ([`Text::release_before`]) and the file is
/// never held whole for the length of a run. As with any mapped file, the
/// file must not be truncated while sme2wasm reads it.
pub struct Text {
    repr: Repr,
    /// Bytes from the start already given back.
    released: std::sync::atomic::AtomicUsize,
}

enum Repr {
    Owned(String),
    /// Checked to be UTF-8 when mapped.
    Mapped(memmap2::Mmap),
}

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum TextError {
    Io(std::io::Error),
    NotUtf8,
}

impl Text {
    /// Read (or map) the file at `path`, which must be UTF-8.
    pub fn read(path: &Path) -> Result<Text, TextError> {
        let file = std::fs::File::open(path).map_err(TextError::Io)?;
        let meta = file.metadata().map_err(TextError::Io)?;
        if meta.is_file() && meta.len() >= MAP_AT_LEAST {
            // SAFETY: the map is read-only and private; its bytes are
            // checked to be UTF-8 below before any is read as text. Like
            // every program that maps its input (ripgrep does too), this
            // relies on the file not being truncated during the run.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(TextError::Io)?;
            let _ = map.advise(memmap2::Advice::Sequential);
            if std::str::from_utf8(&map).is_err() {
                return Err(TextError::NotUtf8);
            }
            let text = Text {
                repr: Repr::Mapped(map),
                released: 0.into(),
            };
            // The check read every page: give them back until needed.
            text.release_all();
            return Ok(text);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(TextError::Io)?;
        String::from_utf8(bytes)
            .map(Text::from)
            .map_err(|_| TextError::NotUtf8)
    }

    /// Give back the memory of the pages before byte `offset`; reading them
    /// again reads them from the file. Nothing for text read into memory.
    pub fn release_before(&self, offset: usize) {
        use std::sync::atomic::Ordering;
        let Repr::Mapped(map) = &self.repr else {
            return;
        };
        const PAGE: usize = 4096;
        // In steps of at least 1 MiB (one call per page would cost more
        // than it gives), and whole at the end.
        const STEP: usize = 1 << 20;
        let end = if offset >= map.len() {
            map.len()
        } else {
            offset / PAGE * PAGE
        };
        let from = self.released.load(Ordering::Relaxed);
        if end <= from || (end - from < STEP && end < map.len()) {
            return;
        }
        // SAFETY: the map is a private read-only mapping of a file, so the
        // discarded pages are read again from the file when next touched;
        // no data of this program's is lost. The text keeps its meaning as
        // long as the file is not changed during the run (see `read`).
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, end - from)
        };
        self.released.store(end, Ordering::Relaxed);
    }

    /// Give back every page (they are read again when needed).
    pub fn release_all(&self) {
        self.released.store(0, std::sync::atomic::Ordering::Relaxed);
        self.release_before(usize::MAX);
        self.released.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the text is a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.repr, Repr::Mapped(_))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text {
            repr: Repr::Owned(s),
            released: 0.into(),
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.repr {
            Repr::Owned(s) => s,
            // SAFETY: checked to be UTF-8 in `Text::read`.
            Repr::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m) },
        }
    }
}

impl Clone for Text {
    fn clone(&self) -> Text {
        Text::from(self.to_string())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Text")
            .field("mapped", &self.is_mapped())
            .field("len", &self.len())
            .finish()
    }
}
