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
