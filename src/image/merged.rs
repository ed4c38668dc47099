//! The merged file system of an image, read from the top layer down.
//!
//! Each layer is scanned once into a [`LayerIndex`] (what it adds, replaces,
//! deletes with `.wh.NAME` whiteouts, and hides with `.wh..wh..opq` opaque
//! directories). [`MergedView::resolve`] answers "which regular file does this
//! path name?" from the layers read so far, or says that a lower layer could
//! still change the answer; the caller reads another layer only then, so
//! lower layers that cannot matter are never downloaded.
//!
//! Paths are resolved inside the image only: `..` cannot climb above the
//! root, absolute symlink targets start at the image root, and a path that
//! would leave the image is an error rather than something clamped silently.

use crate::image::tarstream::TarReader;
use flate2::read::MultiGzDecoder;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};

/// The largest module Istio's fetcher accepts (1.30+), SPEC §7.
pub const MAX_MODULE: u64 = 256 * 1024 * 1024;
/// manifest.yaml is a few lines; anything this large is not one.
pub const MAX_MANIFEST: u64 = 1024 * 1024;
const MAX_SYMLINKS: usize = 40;
/// The most paths (and bytes of path names, ancestors and link targets
/// included) one layer's index holds: well above real layers (a large
/// node_modules layer holds a few hundred thousand files).
pub const MAX_ENTRIES: usize = 1_000_000;
pub const MAX_NAME_BYTES: usize = 64 * 1024 * 1024;

/// What a layer says about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File {
        size: u64,
    },
    Dir,
    Symlink(String),
    /// A hard link to another path of the same layer.
    Hardlink(String),
    /// Deleted by a `.wh.NAME` whiteout.
    Whiteout,
    /// Devices, FIFOs and the like.
    Other,
}

/// The entries of one layer, by normalised path (no leading `/`, no `.`).
#[derive(Debug, Default, Clone)]
pub struct LayerIndex {
    pub entries: HashMap<String, EntryKind>,
    /// Directories whose lower content this layer hides ("" is the root).
    pub opaque: HashSet<String>,
    /// Bytes of the paths and link targets held.
    pub name_bytes: usize,
}

/// Normalise a tar entry name: strip `./` and `/`, drop `.` and empty
/// components. `None` for names that climb with `..` (never valid in a layer).
pub fn normalize_entry_name(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn parent_and_base(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// The proper ancestors of a path, root excluded: `a/b/c` → `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

impl LayerIndex {
    fn add_implicit_dirs(&mut self, path: &str) {
        // Longest first; an ancestor present has its own ancestors too, so
        // a deep path costs its new directories only.
        let mut missing = Vec::new();
        for (i, _) in path.rmatch_indices('/') {
            let a = &path[..i];
            if self.entries.contains_key(a) {
                break;
            }
            missing.push(a);
        }
        for a in missing {
            self.name_bytes += a.len();
            self.entries.insert(a.to_string(), EntryKind::Dir);
        }
    }

    /// Record one tar entry; whiteouts become deletions or opaque marks.
    pub fn add(&mut self, path: String, kind: EntryKind) {
        if path.is_empty() {
            return;
        }
        let (parent, base) = parent_and_base(&path);
        if base == ".wh..wh..opq" {
            self.name_bytes += parent.len();
            self.opaque.insert(parent.to_string());
            if !parent.is_empty() {
                self.entries
                    .entry(parent.to_string())
                    .or_insert(EntryKind::Dir);
                self.add_implicit_dirs(parent);
            }
            return;
        }
        if base.starts_with(".wh..wh.") {
            // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
            return;
        }
        if let Some(deleted) = base.strip_prefix(".wh.") {
            let target = if parent.is_empty() {
                deleted.to_string()
            } else {
                format!("{parent}/{deleted}")
            };
            self.add_implicit_dirs(&target);
            self.name_bytes += target.len();
            self.entries.insert(target, EntryKind::Whiteout);
            return;
        }
        self.add_implicit_dirs(&path);
        self.name_bytes += path.len()
            + match &kind {
                EntryKind::Symlink(t) | EntryKind::Hardlink(t) => t.len(),
                _ => 0,
            };
        self.entries.insert(path, kind);
    }
}

/// What a lookup in the merged view found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// In layer `layer` (0 = the top layer).
    Found {
        layer: usize,
        kind: EntryKind,
    },
    Absent,
    /// A layer not read yet could hold it.
    Unknown,
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file: its content is entry `path` of layer `layer`.
    File {
        layer: usize,
        path: String,
        size: u64,
    },
    /// Nothing there; `path` is the component that is missing.
    Missing { path: String },
    /// Read another layer and ask again.
    NeedMore,
}

/// Why a path could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{path} leads outside the image root{via}; paths are resolved inside the image only")]
    Escapes { path: String, via: String },
    #[error("{path} is a {what}, not a regular file")]
    NotRegular { path: String, what: &'static str },
    #[error("{path}: more than {MAX_SYMLINKS} symbolic links (a loop?)")]
    TooManyLinks { path: String },
}

/// The layers read so far, top first, over an image of `total` layers.
#[derive(Debug, Clone)]
pub struct MergedView {
    pub layers: Vec<LayerIndex>,
    pub total: usize,
}

impl MergedView {
    pub fn new(total: usize) -> MergedView {
        MergedView {
            layers: Vec::new(),
            total,
        }
    }

    fn complete(&self) -> bool {
        self.layers.len() >= self.total
    }

    /// Look up a path whose ancestors are directories in the merged view.
    pub fn lookup(&self, path: &str) -> Lookup {
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(kind) = layer.entries.get(path) {
                return match kind {
                    EntryKind::Whiteout => Lookup::Absent,
                    k => Lookup::Found {
                        layer: i,
                        kind: k.clone(),
                    },
                };
            }
            for a in ancestors(path) {
                match layer.entries.get(a) {
                    None | Some(EntryKind::Dir) => {}
                    // Deleted, or replaced by a non-directory: nothing below.
                    Some(_) => return Lookup::Absent,
                }
            }
            if layer.opaque.contains("") || ancestors(path).any(|a| layer.opaque.contains(a)) {
                return Lookup::Absent;
            }
        }
        if self.complete() {
            Lookup::Absent
        } else {
            Lookup::Unknown
        }
    }

    /// Resolve a path (relative to the root; a leading `/` is harmless)
    /// to a regular file, following symbolic links inside the image.
    pub fn resolve(&self, path: &str) -> Result<Resolved, ResolveError> {
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut current: Vec<String> = Vec::new();
        let mut links = 0usize;
        let mut via = String::new();
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if current.pop().is_none() {
                        return Err(ResolveError::Escapes {
                            path: path.to_string(),
                            via,
                        });
                    }
                    continue;
                }
                _ => {}
            }
            current.push(c);
            let here = current.join("/");
            let last = todo.iter().all(|c| c.is_empty() || c == ".");
            match self.lookup(&here) {
                Lookup::Unknown => return Ok(Resolved::NeedMore),
                Lookup::Absent => return Ok(Resolved::Missing { path: here }),
                Lookup::Found { layer, kind } => match kind {
                    EntryKind::Dir => {
                        if last {
                            return Err(ResolveError::NotRegular {
                                path: here,
                                what: "directory",
                            });
                        }
                    }
                    EntryKind::File { size } => {
                        if last {
                            return Ok(Resolved::File {
                                layer,
                                path: here,
                                size,
                            });
                        }
                        return Ok(Resolved::Missing { path: here });
                    }
                    EntryKind::Hardlink(target) => {
                        let Some(target) = normalize_entry_name(&target) else {
                            return Err(ResolveError::Escapes {
                                path: path.to_string(),
                                via: format!(" (through the hard link {here})"),
                            });
                        };
                        if !last {
                            return Ok(Resolved::Missing { path: here });
                        }
                        // A hard link names content stored earlier in the same layer.
                        return match self.layers[layer].entries.get(&target) {
                            Some(EntryKind::File { size }) => Ok(Resolved::File {
                                layer,
                                path: target,
                                size: *size,
                            }),
                            _ => Ok(Resolved::Missing { path: target }),
                        };
                    }
                    EntryKind::Symlink(target) => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(ResolveError::TooManyLinks {
                                path: path.to_string(),
                            });
                        }
                        via = format!(" (through the symbolic link {here} -> {target})");
                        current.pop();
                        if target.starts_with('/') {
                            current.clear();
                        }
                        todo.extend(target.split('/').rev().map(str::to_string));
                    }
                    EntryKind::Other => {
                        return Err(ResolveError::NotRegular {
                            path: here,
                            what: "special file",
                        })
                    }
                    EntryKind::Whiteout => unreachable!("lookup never returns whiteouts"),
                },
            }
        }
        Err(ResolveError::NotRegular {
            path: path.to_string(),
            what: "directory (the image root)",
        })
    }
}

/// Reads the module path out of a manifest.yaml's bytes.
pub type ModuleOfManifest = fn(&[u8]) -> Option<String>;

/// Which file contents to keep while a layer streams by.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    /// Normalised paths and the most bytes to keep of each.
    pub paths: BTreeMap<String, u64>,
    /// Note the first entry whose base name is `plugin.wasm` (Istio's rule).
    pub first_plugin_wasm: bool,
    /// When the root manifest.yaml streams by, ask this for the module path
    /// and keep that file too if it comes later in the same layer.
    pub module_of_manifest: Option<ModuleOfManifest>,
    /// Keep `*.wasm` files in an anonymous temporary file (not in memory):
    /// one of them may turn out to be the module once manifest.yaml is known,
    /// and the layer then need not be downloaded again.
    pub spool_wasm: bool,
    /// The most bytes spooled at a time (default: the module limit).
    pub spool_limit: Option<u64>,
}

/// The first `plugin.wasm` entry of a layer, as Istio's fetcher finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPluginWasm {
    pub path: String,
    pub regular: bool,
    /// The content, when it is a regular file at the root within the limit.
    pub content: Option<Vec<u8>>,
    /// Was it the first entry of the archive?
    pub first_entry: bool,
}

/// A scanned layer: its index and the captured contents.
#[derive(Debug, Default)]
pub struct LayerScan {
    pub index: LayerIndex,
    /// Content of captured paths (the last occurrence wins, like extraction).
    pub captured: HashMap<String, Vec<u8>>,
    /// Captured paths that were larger than their limit, with their size.
    pub too_large: HashMap<String, u64>,
    /// Captured paths stored as sparse files (not reassembled).
    pub sparse: HashSet<String>,
    pub first_plugin_wasm: Option<FirstPluginWasm>,
    /// The layer was gzip-compressed (Istio needs that of a migrated image).
    pub gzip: bool,
    /// Spooled `*.wasm` files: path → (offset, length) in `spool`.
    pub spooled: HashMap<String, (u64, u64)>,
    pub spool: Option<std::fs::File>,
}

impl LayerScan {
    /// A spooled file's content, if it was spooled.
    pub fn take_spooled(&mut self, path: &str) -> io::Result<Option<Vec<u8>>> {
        use std::io::{Seek, SeekFrom};
        let (Some(&(offset, len)), Some(spool)) = (self.spooled.get(path), self.spool.as_mut())
        else {
            return Ok(None);
        };
        spool.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len as usize);
        spool.take(len).read_to_end(&mut buf)?;
        Ok(Some(buf))
    }
}

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("the layer is {0}-compressed, which sme2wasm cannot read; rebuild the image with gzip or uncompressed layers")]
    Compression(&'static str),
    #[error("the layer is not a readable tar archive: {0}")]
    Tar(io::Error),
    #[error("{0}")]
    Io(io::Error),
}

/// Sniff the compression from the first bytes, as containerd does, rather
/// than trusting the media type (tools disagree about layer media types).
fn sniff(head: &[u8]) -> Result<bool, LayerError> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(true);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(LayerError::Compression("zstd"));
    }
    if head.starts_with(b"BZh") {
        return Err(LayerError::Compression("bzip2"));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(LayerError::Compression("xz"));
    }
    Ok(false)
}

/// Read one layer (gzip or plain tar) into an index, keeping the contents
/// `want` asks for. The whole stream is consumed, so that a verifying reader
/// below sees every byte.
pub fn scan_layer<R: Read>(mut reader: R, want: &Capture) -> Result<LayerScan, LayerError> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LayerError::Io(e)),
        }
    }
    let gzip = sniff(&head[..got])?;
    let mut chained = io::Cursor::new(head[..got].to_vec()).chain(&mut reader);
    let mut scan = LayerScan {
        gzip,
        ..Default::default()
    };
    if got == 0 {
        return Ok(scan); // An empty blob: an empty layer.
    }
    let result = if gzip {
        scan_tar(MultiGzDecoder::new(&mut chained), want, &mut scan)
    } else {
        scan_tar(&mut chained, want, &mut scan)
    };
    // Trailing bytes after the tar end (padding) still belong to the blob;
    // after a broken archive, the rest tells a corrupted download (digest
    // mismatch) from a layer that was built broken.
    let drained = io::copy(&mut chained, &mut io::sink());
    match (result, drained) {
        // A failed download or a digest mismatch explains any tar error.
        (_, Err(e)) => Err(LayerError::Io(e)),
        (Err(e), Ok(_)) => Err(e),
        (Ok(()), Ok(_)) => Ok(scan),
    }
}

fn is_verification_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("failed verification")
}

fn scan_tar<R: Read>(reader: R, want: &Capture, scan: &mut LayerScan) -> Result<(), LayerError> {
    // The tar reader reports our reader's errors and its own parse errors
    // alike; scan_layer tells them apart by reading the rest of the blob.
    let wrap = |e: io::Error| {
        if is_verification_error(&e) {
            LayerError::Io(e)
        } else {
            LayerError::Tar(e)
        }
    };
    let mut archive = TarReader::new(reader);
    let mut first = true;
    let mut wanted = want.paths.clone();
    let spool_limit = want.spool_limit.unwrap_or(MAX_MODULE);
    let mut spooled_bytes = 0u64;
    while let Some(entry) = archive.next_entry().map_err(wrap)? {
        let raw_name = String::from_utf8_lossy(&entry.path).into_owned();
        let Some(path) = normalize_entry_name(&raw_name) else {
            first = false;
            continue;
        };
        let size = entry.size;
        let link = || String::from_utf8_lossy(&entry.link).into_owned();
        let kind = match entry.typeflag {
            b'0' | b'7' | b'S' => EntryKind::File { size },
            b'5' => EntryKind::Dir,
            b'2' => EntryKind::Symlink(link()),
            b'1' => EntryKind::Hardlink(link()),
            _ => EntryKind::Other,
        };
        // A sparse file's stored data is not its content: never captured.
        let readable = !entry.sparse;
        if want.first_plugin_wasm
            && scan.first_plugin_wasm.is_none()
            && parent_and_base(&path).1 == "plugin.wasm"
        {
            let regular = matches!(kind, EntryKind::File { .. });
            let mut fp = FirstPluginWasm {
                path: path.clone(),
                regular,
                content: None,
                first_entry: first,
            };
            if regular && readable && path == "plugin.wasm" && size <= MAX_MODULE {
                let mut buf = Vec::with_capacity(size as usize);
                archive.read_to_end(&mut buf).map_err(wrap)?;
                fp.content = Some(buf.clone());
                if want.paths.contains_key(&path) {
                    scan.captured.insert(path.clone(), buf);
                }
            }
            scan.first_plugin_wasm = Some(fp);
        }
        first = false;
        if let (Some(limit), EntryKind::File { .. }) = (wanted.get(&path).copied(), &kind) {
            let limit = &limit;
            // A later entry of the same path replaces an earlier one.
            if !readable {
                scan.sparse.insert(path.clone());
                scan.captured.remove(&path);
            } else if size > *limit {
                scan.too_large.insert(path.clone(), size);
                scan.captured.remove(&path);
            } else if !scan.captured.contains_key(&path) || scan.index.entries.contains_key(&path) {
                let mut buf = Vec::with_capacity(size as usize);
                archive.read_to_end(&mut buf).map_err(wrap)?;
                scan.too_large.remove(&path);
                scan.sparse.remove(&path);
                if path == "manifest.yaml" {
                    let module = want.module_of_manifest.and_then(|f| f(&buf));
                    if let Some(m) = module.as_deref().and_then(normalize_entry_name) {
                        wanted.entry(m).or_insert(MAX_MODULE);
                    }
                }
                scan.captured.insert(path.clone(), buf);
            }
        } else if want.spool_wasm
            && readable
            && matches!(kind, EntryKind::File { size } if size <= MAX_MODULE)
            && path.to_ascii_lowercase().ends_with(".wasm")
        {
            // Candidates wait on disk, never more than one module's worth
            // at a time: a later one that would pass the limit replaces the
            // spool (the layer is read again if an earlier one is wanted).
            if spooled_bytes + size > spool_limit {
                scan.spool = None;
                scan.spooled.clear();
                spooled_bytes = 0;
            }
            if size <= spool_limit {
                if scan.spool.is_none() {
                    scan.spool = Some(tempfile::tempfile().map_err(LayerError::Io)?);
                }
                if let Some(spool) = scan.spool.as_mut() {
                    use std::io::{Seek, SeekFrom};
                    let offset = spool.seek(SeekFrom::End(0)).map_err(LayerError::Io)?;
                    let len = io::copy(&mut archive, spool).map_err(wrap)?;
                    spooled_bytes += len;
                    scan.spooled.insert(path.clone(), (offset, len));
                }
            }
        }
        scan.index.add(path, kind);
        if scan.index.entries.len() > MAX_ENTRIES || scan.index.name_bytes > MAX_NAME_BYTES {
            return Err(LayerError::Tar(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the layer holds more than {MAX_ENTRIES} paths or {} MiB of path names; sme2wasm keeps a layer's paths to resolve the module and refuses more; this is no plugin image",
                    MAX_NAME_BYTES >> 20
                ),
            )));
        }
    }
    // Drain what the archive reader left (end-of-archive blocks, padding).
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(wrap)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, EntryKind)]) -> LayerIndex {
        let mut l = LayerIndex::default();
        for (p, k) in entries {
            l.add(normalize_entry_name(p).unwrap(), k.clone());
        }
        l
    }
    fn file() -> EntryKind {
        EntryKind::File { size: 1 }
    }

    #[test]
    fn later_layers_win_and_whiteouts_delete() {
        let top = layer(&[("a/.wh.gone", file()), ("b/x.wasm", file())]);
        let base = layer(&[("a/gone", file()), ("b/x.wasm", file()), ("a/kept", file())]);
        let v = MergedView {
            layers: vec![top, base],
            total: 2,
        };
        assert_eq!(
            v.resolve("/b/x.wasm").unwrap(),
            Resolved::File {
                layer: 0,
                path: "b/x.wasm".into(),
                size: 1
            }
        );
        assert_eq!(
            v.resolve("a/gone").unwrap(),
            Resolved::Missing {
                path: "a/gone".into()
            }
        );
        assert!(matches!(
            v.resolve("a/kept").unwrap(),
            Resolved::File { layer: 1, .. }
        ));
    }

    #[test]
    fn opaque_directories_hide_lower_content() {
        let top = layer(&[("d/.wh..wh..opq", file()), ("d/new", file())]);
        let base = layer(&[("d/old", file()), ("e/f", file())]);
        let v = MergedView {
            layers: vec![top, base],
            total: 2,
        };
        assert!(matches!(
            v.resolve("d/old").unwrap(),
            Resolved::Missing { .. }
        ));
        assert!(matches!(
            v.resolve("d/new").unwrap(),
            Resolved::File { layer: 0, .. }
        ));
        assert!(matches!(
            v.resolve("e/f").unwrap(),
            Resolved::File { layer: 1, .. }
        ));
    }

    #[test]
    fn stops_early_only_when_settled() {
        let top = layer(&[("m.wasm", file())]);
        let v = MergedView {
            layers: vec![top],
            total: 3,
        };
        assert!(matches!(
            v.resolve("m.wasm").unwrap(),
            Resolved::File { .. }
        ));
        assert_eq!(v.resolve("other").unwrap(), Resolved::NeedMore);
    }

    #[test]
    fn symlinks_stay_inside_the_image() {
        let l = layer(&[
            ("lib/real.wasm", file()),
            ("abs", EntryKind::Symlink("/lib/real.wasm".into())),
            ("rel", EntryKind::Symlink("lib/../lib/real.wasm".into())),
            ("dirlink", EntryKind::Symlink("lib".into())),
            ("out", EntryKind::Symlink("../../etc/passwd".into())),
            ("loop", EntryKind::Symlink("loop".into())),
        ]);
        let v = MergedView {
            layers: vec![l],
            total: 1,
        };
        for p in ["abs", "rel", "dirlink/real.wasm", "/dirlink/./real.wasm"] {
            assert!(
                matches!(v.resolve(p).unwrap(), Resolved::File { .. }),
                "{p}"
            );
        }
        assert!(matches!(
            v.resolve("out"),
            Err(ResolveError::Escapes { .. })
        ));
        assert!(matches!(
            v.resolve("../x"),
            Err(ResolveError::Escapes { .. })
        ));
        assert!(matches!(
            v.resolve("loop"),
            Err(ResolveError::TooManyLinks { .. })
        ));
        assert!(matches!(
            v.resolve("lib"),
            Err(ResolveError::NotRegular { .. })
        ));
    }

    #[test]
    fn scans_gzip_and_plain_tar_and_refuses_zstd() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "./x/plugin.wasm", &b"abc"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        let mut want = Capture::default();
        want.paths.insert("x/plugin.wasm".into(), 10);
        want.first_plugin_wasm = true;
        let s = scan_layer(&tar[..], &want).unwrap();
        assert!(!s.gzip);
        assert_eq!(s.captured["x/plugin.wasm"], b"abc");
        assert_eq!(s.first_plugin_wasm.unwrap().path, "x/plugin.wasm");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let s = scan_layer(&gz.finish().unwrap()[..], &want).unwrap();
        assert!(s.gzip);
        want.paths.insert("x/plugin.wasm".into(), 2);
        let s = scan_layer(&tar[..], &want).unwrap();
        assert_eq!(
            s.too_large["x/plugin.wasm"], 3,
            "larger than its limit: not kept"
        );
        assert!(!s.captured.contains_key("x/plugin.wasm"));
        assert!(matches!(
            scan_layer(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0][..], &want),
            Err(LayerError::Compression("zstd"))
        ));
    }

    #[test]
    fn long_names_and_hard_links_as_other_tools_write_them() {
        let long = format!("./opt/{}/filter.wasm", "deep".repeat(40));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Link);
        l.set_size(0);
        b.append_link(&mut l, "linked.wasm", &long).unwrap();
        let tar = b.into_inner().unwrap();
        let target = normalize_entry_name(&long).unwrap();
        let mut want = Capture::default();
        want.paths.insert(target.clone(), 10);
        let scan = scan_layer(&tar[..], &want).unwrap();
        assert_eq!(scan.captured[&target], b"abc");
        let v = MergedView {
            layers: vec![scan.index],
            total: 1,
        };
        assert_eq!(
            v.resolve("linked.wasm").unwrap(),
            Resolved::File {
                layer: 0,
                path: target,
                size: 3
            }
        );
    }
}

#[cfg(test)]
mod spool_tests {
    use super::*;

    /// Candidates spool one module's worth at a time, however many the
    /// layer holds above manifest.yaml; the module is still found.
    #[test]
    fn the_spool_holds_at_most_its_limit() {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..8 {
            let mut h = tar::Header::new_ustar();
            h.set_size(100);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("m{i}.wasm"), &[i as u8; 100][..])
                .unwrap();
        }
        let tar = b.into_inner().unwrap();
        let want = Capture {
            spool_wasm: true,
            spool_limit: Some(250),
            ..Default::default()
        };
        let mut scan = scan_layer(&tar[..], &want).unwrap();
        let spool_len = scan.spool.as_ref().unwrap().metadata().unwrap().len();
        assert!(spool_len <= 250, "{spool_len}");
        assert_eq!(scan.take_spooled("m7.wasm").unwrap().unwrap(), [7u8; 100]);
        assert!(
            scan.take_spooled("m0.wasm").unwrap().is_none(),
            "an early one was let go (the layer is read again if it is the module)"
        );
        assert_eq!(scan.index.entries.len(), 8);
    }
}
