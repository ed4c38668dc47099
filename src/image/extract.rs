//! Reading a ServiceMeshExtension image: its manifest (a platform chosen
//! from an index), then its layers from the top down until manifest.yaml and
//! the module it names are settled in the merged file system — or until the
//! image turns out to be migrated already. Lower layers that cannot change
//! the answer are never downloaded.

use crate::conversion::manifest::Manifest;
use crate::image::media::{self, Format, Manifest as ImageManifestDoc, Platform};
use crate::image::merged::{self, Capture, MergedView, Resolved, MAX_MANIFEST, MAX_MODULE};
use crate::image::source::{Selector, Store};
use crate::image::wasm::{self, ModuleInfo};
use crate::image::ImageRef;
use std::io::Read;

/// A failure: the message names the image and says what to do.
type Failure = String;

/// The source image as far as repack needs it.
pub struct SourceImage {
    /// The digest of the image manifest (of the chosen child of an index).
    pub manifest_digest: String,
    pub image: media::ImageManifest,
    /// os/architecture from its config.
    pub platform: Option<Platform>,
}

/// Fetch the manifest (choosing a platform from an index) and the config.
pub fn read_source(
    store: &dyn Store,
    src: &ImageRef,
    platform: Option<&Platform>,
) -> Result<SourceImage, Failure> {
    let sel = Selector::of(src);
    let fetched = store.fetch_manifest(&sel).map_err(|e| e.message)?.ok_or_else(|| match src {
        ImageRef::Layout(_) => format!("{src}: the layout has no such image; check the directory and tag (`skopeo inspect {src}` lists it)"),
        ImageRef::Registry(_) => format!("{src}: the registry has no such image (manifest unknown); check the repository and tag"),
    })?;
    let parsed = media::parse(&fetched.body).map_err(|m| format!("{src}: {m}"))?;
    let (image, digest) = match parsed {
        ImageManifestDoc::Image(m) => (m, fetched.digest),
        ImageManifestDoc::Index(children) => {
            let child =
                media::choose_platform(&children, platform).map_err(|m| format!("{src}: {m}"))?;
            let sel = Selector::Digest(child.digest.clone());
            let f = store
                .fetch_manifest(&sel)
                .map_err(|e| e.message)?
                .ok_or_else(|| match src {
                    ImageRef::Layout(l) => format!(
                        "{src}: the index names {} but the layout has no such blob ({}/blobs/sha256/…); copy the image again with `skopeo copy --all`",
                        child.digest,
                        l.path.display()
                    ),
                    ImageRef::Registry(_) => format!(
                        "{src}: the index names {} but the registry does not have it",
                        child.digest
                    ),
                })?;
            match media::parse(&f.body).map_err(|m| format!("{src}@{}: {m}", child.digest))? {
                ImageManifestDoc::Image(m) => (m, f.digest),
                ImageManifestDoc::Index(_) => {
                    return Err(format!("{src}: the index points to another index; Istio's fetcher needs an image manifest"))
                }
            }
        }
    };
    // The config is small; os/architecture come from it.
    let cfg = &image.config;
    if cfg.size > 16 * 1024 * 1024 {
        return Err(format!(
            "{src}: the image config is {} bytes; that is not an image config",
            cfg.size
        ));
    }
    // A download cut short or stalled is tried again, as layers are.
    let mut config = Vec::new();
    let mut delay = std::time::Duration::from_millis(500);
    for attempt in 1.. {
        config.clear();
        let read = store
            .open_blob(cfg)
            .map_err(|e| e.message)?
            .read_to_end(&mut config);
        match read {
            Ok(_) => break,
            Err(e)
                if attempt < LAYER_ATTEMPTS && !e.to_string().contains("failed verification") =>
            {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(format!("{src}: image config {}: {e}", cfg.digest)),
        }
    }
    Ok(SourceImage {
        manifest_digest: digest,
        platform: media::config_platform(&config),
        image,
    })
}

/// What the image holds.
#[derive(Debug)]
pub enum Found {
    /// One gzip layer whose first `plugin.wasm` is a regular root file
    /// holding a module: what Istio's fetcher takes already.
    AlreadyMigrated {
        info: ModuleInfo,
        manifest: Option<Manifest>,
    },
    /// A ServiceMeshExtension image: its manifest.yaml and module (not yet
    /// checked), and where the module was (resolved, no leading `/`).
    Extension {
        manifest: Manifest,
        path: String,
        module: Vec<u8>,
    },
}

/// What [`extract`] found and how many layer downloads it took.
#[derive(Debug)]
pub struct Extraction {
    pub found: Found,
    pub layers_read: usize,
}

/// Find manifest.yaml and the module of `image` (read from `store`).
pub fn extract(
    store: &dyn Store,
    src: &ImageRef,
    image: &media::ImageManifest,
) -> Result<Extraction, Failure> {
    if image.layers.is_empty() {
        return Err(format!(
            "{src}: the image has no layers, so no manifest.yaml and no module"
        ));
    }
    let mut reader = LayerReader {
        store,
        src,
        image,
        view: MergedView::new(image.layers.len()),
        scans: Vec::new(),
        downloads: 0,
    };

    // Already migrated? One gzip layer whose first plugin.wasm is a regular
    // file at the root holding a module: what Istio's fetcher accepts.
    let candidate =
        image.layers.len() == 1 && is_gzip_layer_of(image.format, &image.layers[0].media_type);
    let mut first = Capture::default();
    first.paths.insert("manifest.yaml".into(), MAX_MANIFEST);
    first.first_plugin_wasm = candidate;
    first.module_of_manifest = Some(module_of_manifest);
    first.spool_wasm = true;
    let top = reader.read_next(&first)?;
    if candidate {
        if let Some((info, manifest)) = already_migrated(&reader.scans[top]) {
            return Ok(Extraction {
                found: Found::AlreadyMigrated { info, manifest },
                layers_read: reader.downloads,
            });
        }
    }

    // manifest.yaml, from the merged file system.
    let manifest_file = format!("{src}:/manifest.yaml");
    let Some((layer, path)) = reader.settle("manifest.yaml", "rebuild the image", || {
        let mut c = Capture::default();
        c.paths.insert("manifest.yaml".into(), MAX_MANIFEST);
        c.module_of_manifest = Some(module_of_manifest);
        c.spool_wasm = true;
        c
    })?
    else {
        return Err(format!("{src}: the image has no /manifest.yaml, so it is not a ServiceMeshExtension image (those carry manifest.yaml at the root, naming the module); check the reference"));
    };
    let text = reader.content(layer, &path, MAX_MANIFEST)?;
    let text = String::from_utf8(text).map_err(|_| format!("{manifest_file}: not UTF-8 text"))?;
    let manifest = Manifest::parse(&text, &manifest_file)
        .map_err(|e| format!("{e}; fix manifest.yaml and rebuild the image"))?;

    // The module, inside the image only.
    let module_path = manifest.module.trim().to_string();
    let lexical = merged::normalize_entry_name(&module_path);
    let found = reader.settle(&module_path, MODULE_ADVICE, || {
        let mut c = Capture::default();
        if let Some(p) = &lexical {
            c.paths.insert(p.clone(), MAX_MODULE);
        }
        c
    })?;
    let Some((layer, path)) = found else {
        return Err(format!("{src}: manifest.yaml names module {module_path:?}, but the image has no such file; {MODULE_ADVICE}"));
    };
    let module = reader.content(layer, &path, MAX_MODULE)?;
    Ok(Extraction {
        found: Found::Extension {
            manifest,
            path,
            module,
        },
        layers_read: reader.downloads,
    })
}

/// Read layers from the top until manifest.yaml and the module are settled.
struct LayerReader<'a> {
    store: &'a dyn Store,
    src: &'a ImageRef,
    image: &'a media::ImageManifest,
    /// The indexes of the layers read so far, top first.
    view: MergedView,
    /// What else was kept of each layer read (its index moved to `view`).
    scans: Vec<merged::LayerScan>,
    /// Layer downloads, re-reads and retries included.
    downloads: usize,
}

const MODULE_ADVICE: &str =
    "fix `module:` in manifest.yaml (a path from the image root) or rebuild the image";

/// A layer download cut short (not a verification failure) is tried again.
const LAYER_ATTEMPTS: u32 = 3;

impl LayerReader<'_> {
    /// Layer `i` counted from the top (0 = the last in the manifest).
    fn desc(&self, i: usize) -> &media::Descriptor {
        &self.image.layers[self.image.layers.len() - 1 - i]
    }

    fn scan(&mut self, i: usize, capture: &Capture) -> Result<merged::LayerScan, Failure> {
        let desc = self.desc(i).clone();
        let mut delay = std::time::Duration::from_millis(500);
        for attempt in 1.. {
            self.downloads += 1;
            let reader = self.store.open_blob(&desc).map_err(|e| e.message)?;
            match merged::scan_layer(reader, capture) {
                Ok(scan) => return Ok(scan),
                Err(merged::LayerError::Io(e))
                    if attempt < LAYER_ATTEMPTS
                        && !e.to_string().contains("failed verification") =>
                {
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(e) => return Err(format!("{}: layer {}: {e}", self.src, desc.digest)),
            }
        }
        unreachable!("the loop returns")
    }

    /// Read the next layer down; returns its position (0 = top).
    fn read_next(&mut self, capture: &Capture) -> Result<usize, Failure> {
        let i = self.view.layers.len();
        let mut scan = self.scan(i, capture)?;
        self.view.layers.push(std::mem::take(&mut scan.index));
        self.scans.push(scan);
        Ok(i)
    }

    fn too_large(&self, path: &str, size: u64, limit: u64) -> Failure {
        format!(
            "{}: /{path} is {size} bytes, more than the {limit} allowed",
            self.src
        )
    }

    /// The content of a resolved file: kept while streaming, spooled, or
    /// (rarely) read again.
    fn content(&mut self, layer: usize, path: &str, limit: u64) -> Result<Vec<u8>, Failure> {
        if let Some(&size) = self.scans[layer].too_large.get(path) {
            return Err(self.too_large(path, size, limit));
        }
        if self.scans[layer].sparse.contains(path) {
            return Err(format!(
                "{}: /{path} is stored as a sparse file, which sme2wasm does not reassemble; rebuild the image without sparse files (tar without --sparse)",
                self.src
            ));
        }
        if let Some(c) = self.scans[layer].captured.remove(path) {
            return Ok(c);
        }
        if let Some(c) = self.scans[layer]
            .take_spooled(path)
            .map_err(|e| format!("{}: reading back /{path}: {e}", self.src))?
        {
            return Ok(c);
        }
        let mut capture = Capture::default();
        capture.paths.insert(path.to_string(), limit);
        let mut scan = self.scan(layer, &capture)?;
        if let Some(&size) = scan.too_large.get(path) {
            return Err(self.too_large(path, size, limit));
        }
        if scan.sparse.contains(path) {
            return Err(format!(
                "{}: /{path} is stored as a sparse file, which sme2wasm does not reassemble; rebuild the image without sparse files (tar without --sparse)",
                self.src
            ));
        }
        scan.captured.remove(path).ok_or_else(|| {
            format!(
                "{}: /{path} vanished when its layer was read again",
                self.src
            )
        })
    }

    /// Resolve a path, reading more layers while the answer is open.
    fn settle(
        &mut self,
        path: &str,
        advice: &str,
        mut capture: impl FnMut() -> Capture,
    ) -> Result<Option<(usize, String)>, Failure> {
        loop {
            match self
                .view
                .resolve(path)
                .map_err(|e| format!("{}: {e}; {advice}", self.src))?
            {
                Resolved::File { layer, path, .. } => return Ok(Some((layer, path))),
                Resolved::Missing { .. } => return Ok(None),
                Resolved::NeedMore => {
                    let c = capture();
                    self.read_next(&c)?;
                }
            }
        }
    }
}

/// The module path of a manifest.yaml seen mid-stream (errors come later,
/// when the manifest is parsed for real).
fn module_of_manifest(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    Manifest::parse(text, "manifest.yaml")
        .ok()
        .map(|m| m.module)
}

/// The single layer of an image, if it already is what Istio's fetcher
/// takes: gzip, the first `plugin.wasm` a regular file at the root, a module.
fn already_migrated(scan: &merged::LayerScan) -> Option<(ModuleInfo, Option<Manifest>)> {
    let fp = scan.first_plugin_wasm.as_ref()?;
    if !scan.gzip || !fp.regular || fp.path != "plugin.wasm" {
        return None;
    }
    let info = wasm::check(fp.content.as_deref()?).ok()?;
    let manifest = scan
        .captured
        .get("manifest.yaml")
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| Manifest::parse(t, "manifest.yaml").ok());
    Some((info, manifest))
}

fn is_gzip_layer_of(format: Format, media_type: &str) -> bool {
    media_type == format.layer_type()
}
