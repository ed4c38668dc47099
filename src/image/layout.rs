//! OCI image-layout directories (`oci:PATH[:TAG]`, skopeo's syntax), for
//! sites without a registry: `index.json`, `oci-layout`, `blobs/sha256/…`.
//! A tag is the `org.opencontainers.image.ref.name` annotation of an
//! `index.json` entry.

use crate::image::build::Blob;
use crate::image::media::{Descriptor, OCI_INDEX};
use crate::image::source::{
    verify_manifest, Fetched, Selector, Store, StoreError, VerifyingReader,
};
use crate::image::LayoutRef;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Serialises index.json updates when several images go to one layout.
static INDEX_LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An OCI image-layout directory.
pub struct LayoutStore {
    pub reference: LayoutRef,
}

impl LayoutStore {
    pub fn new(reference: LayoutRef) -> LayoutStore {
        LayoutStore { reference }
    }

    fn root(&self) -> &Path {
        &self.reference.path
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = crate::image::reference::digest_hex(digest).ok_or_else(|| {
            StoreError::new(format!(
                "{}: digest {digest:?} is not a sha256 digest",
                self.reference
            ))
        })?;
        Ok(self.root().join("blobs").join("sha256").join(hex))
    }

    fn read_index(&self) -> Result<Option<Index>, StoreError> {
        let path = self.root().join("index.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::new(format!(
                    "{}: cannot read {}: {e}",
                    self.reference,
                    path.display()
                )))
            }
        };
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            StoreError::new(format!(
                "{}: {} is not an OCI image index ({e}); is this an OCI image-layout directory?",
                self.reference,
                path.display()
            ))
        })
    }

    fn io_err(&self, what: &str, path: &Path, e: std::io::Error) -> StoreError {
        StoreError::new(format!(
            "{}: cannot {what} {}: {e}",
            self.reference,
            path.display()
        ))
    }

    fn write_atomically(&self, path: &Path, data: &[u8]) -> Result<(), StoreError> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, data).map_err(|e| self.io_err("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.io_err("write", path, e))
    }
}

impl Store for LayoutStore {
    fn fetch_manifest(&self, sel: &Selector) -> Result<Option<Fetched>, StoreError> {
        let Some(index) = self.read_index()? else {
            return Ok(None);
        };
        let found = match sel {
            Selector::Digest(d) => index.manifests.iter().find(|m| &m.digest == d),
            Selector::Tag(t) => index
                .manifests
                .iter()
                .find(|m| m.annotations.get(REF_NAME) == Some(t)),
            Selector::Only => match index.manifests.as_slice() {
                [only] => Some(only),
                [] => None,
                many => {
                    let tags: Vec<&str> = many
                        .iter()
                        .filter_map(|m| m.annotations.get(REF_NAME).map(String::as_str))
                        .collect();
                    return Err(StoreError::new(format!(
                        "{} holds {} images; name one as oci:{}:TAG (tags: {})",
                        self.reference,
                        many.len(),
                        self.root().display(),
                        tags.join(", ")
                    )));
                }
            },
        };
        let Some(desc) = found else {
            // The children of an index (a multi-platform image that
            // `skopeo copy --all` wrote) are in blobs/, not in index.json.
            if let Selector::Digest(d) = sel {
                let path = self.blob_path(d)?;
                return match std::fs::read(&path) {
                    Ok(body) => verify_manifest(body, sel)
                        .map(Some)
                        .map_err(|m| StoreError::new(format!("{}: {m}", self.reference))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(self.io_err("read", &path, e)),
                };
            }
            return Ok(None);
        };
        let path = self.blob_path(&desc.digest)?;
        let body = std::fs::read(&path).map_err(|e| self.io_err("read", &path, e))?;
        verify_manifest(body, &Selector::Digest(desc.digest.clone()))
            .map(Some)
            .map_err(|m| StoreError::new(format!("{}: {m}", self.reference)))
    }

    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>, StoreError> {
        let path = self.blob_path(&desc.digest)?;
        let file = std::fs::File::open(&path).map_err(|e| self.io_err("open", &path, e))?;
        Ok(Box::new(VerifyingReader::new(
            std::io::BufReader::with_capacity(256 * 1024, file),
            desc,
        )))
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool, StoreError> {
        let path = self.blob_path(&desc.digest)?;
        Ok(std::fs::metadata(path).is_ok_and(|m| m.len() == desc.size))
    }

    fn put_blob(&self, blob: &Blob) -> Result<(), StoreError> {
        let path = self.blob_path(&blob.digest)?;
        let dir = path.parent().unwrap_or(self.root());
        std::fs::create_dir_all(dir).map_err(|e| self.io_err("create", dir, e))?;
        if self.has_blob(&blob.descriptor())? {
            return Ok(());
        }
        self.write_atomically(&path, &blob.data)
    }

    fn put_manifest(&self, manifest: &Blob, sel: &Selector) -> Result<(), StoreError> {
        self.put_blob(manifest)?;
        if let Selector::Digest(_) = sel {
            // Stored by digest only (an index child): no entry of its own.
            return Ok(());
        }
        let _guard = INDEX_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let layout_file = self.root().join("oci-layout");
        if !layout_file.exists() {
            self.write_atomically(&layout_file, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let mut index = self.read_index()?.unwrap_or(Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: Vec::new(),
        });
        let mut desc = manifest.descriptor();
        match sel {
            Selector::Tag(t) => {
                index
                    .manifests
                    .retain(|m| m.annotations.get(REF_NAME) != Some(t));
                desc.annotations.insert(REF_NAME.into(), t.clone());
            }
            Selector::Digest(_) | Selector::Only => {
                // An untagged image: one entry per digest.
                index.manifests.retain(|m| m.digest != desc.digest);
            }
        }
        index.manifests.push(desc);
        let text = serde_json::to_vec_pretty(&index).map_err(|e| StoreError::new(e.to_string()))?;
        self.write_atomically(&self.root().join("index.json"), &text)
    }
}
