//! Where `verify` gets each plugin's module: one file for every SME
//! (`--module`), or the SME's image read as `repack` reads it, and the
//! image map's repacked image, whose module must be the same bytes.
//! Each image is read once per run, each distinct module prepared once.

use super::host::Prepared;
use crate::image::extract::{self, Found};
use crate::image::layout::LayoutStore;
use crate::image::media::Platform;
use crate::image::merged::{self, Capture, MAX_MODULE};
use crate::image::registry::{RegistryClient, RegistryOptions, RegistryStore};
use crate::image::source::Store;
use crate::image::ImageRef;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// A module's bytes and where they came from.
#[derive(Clone)]
pub struct Loaded {
    pub bytes: Rc<Vec<u8>>,
    /// `sha256:…` of the bytes.
    pub sha256: String,
}

pub fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
    )
}

/// Reads images (once each) and prepares modules (once each).
pub struct Modules {
    registry: RegistryOptions,
    platform: Option<Platform>,
    client: Option<Arc<RegistryClient>>,
    images: HashMap<String, Result<Loaded, String>>,
    prepared: HashMap<String, Rc<Result<Prepared, super::abi::LoadError>>>,
}

impl Modules {
    pub fn new(registry: RegistryOptions, platform: Option<Platform>) -> Modules {
        Modules {
            registry,
            platform,
            client: None,
            images: HashMap::new(),
            prepared: HashMap::new(),
        }
    }

    /// The module of an image (an SME image, or a repacked one).
    pub fn from_image(&mut self, reference: &str) -> Result<Loaded, String> {
        if let Some(r) = self.images.get(reference) {
            return r.clone();
        }
        let r = self.read_image(reference);
        self.images.insert(reference.to_string(), r.clone());
        r
    }

    fn read_image(&mut self, reference: &str) -> Result<Loaded, String> {
        let src = ImageRef::parse(reference).map_err(|e| format!("{reference}: {e}"))?;
        let store: Box<dyn Store> = match &src {
            ImageRef::Layout(l) => Box::new(LayoutStore::new(l.clone())),
            ImageRef::Registry(r) => {
                if self.client.is_none() {
                    self.client = Some(RegistryClient::new(self.registry.clone())?);
                }
                let client = self.client.clone().expect("created above");
                Box::new(RegistryStore::new(client, r.clone()))
            }
        };
        let source = extract::read_source(store.as_ref(), &src, self.platform.as_ref())?;
        let extraction = extract::extract(store.as_ref(), &src, &source.image)?;
        let bytes = match extraction.found {
            Found::Extension { module, .. } => module,
            Found::AlreadyMigrated { .. } => {
                // One layer whose plugin.wasm is the module: read it.
                let mut capture = Capture::default();
                capture.paths.insert("plugin.wasm".into(), MAX_MODULE);
                let layer = &source.image.layers[0];
                let reader = store.open_blob(layer).map_err(|e| e.message)?;
                let mut scan = merged::scan_layer(reader, &capture)
                    .map_err(|e| format!("{src}: layer {}: {e}", layer.digest))?;
                scan.captured
                    .remove("plugin.wasm")
                    .ok_or_else(|| format!("{src}: /plugin.wasm could not be read"))?
            }
        };
        crate::image::wasm::check(&bytes).map_err(|e| format!("{src}: its module: {e}"))?;
        Ok(Loaded {
            sha256: sha256(&bytes),
            bytes: Rc::new(bytes),
        })
    }

    /// The module checked and compiled, once per distinct module.
    pub fn prepare(&mut self, module: &Loaded) -> Rc<Result<Prepared, super::abi::LoadError>> {
        self.prepared
            .entry(module.sha256.clone())
            .or_insert_with(|| Rc::new(Prepared::new(&module.bytes)))
            .clone()
    }
}
