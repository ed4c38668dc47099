//! The new image: one gzip layer whose first entry is the regular file
//! `plugin.wasm`, then (unless left out) manifest.yaml rewritten to
//! `module: plugin.wasm`; a real image config; OCI or Docker v2s2 media
//! types, never mixed (SPEC §7).
//!
//! Reproducible: the same module and options give the same bytes, hence the
//! same digest, on every machine — fixed mtimes, owners and modes, no gzip
//! timestamp or file name, and JSON written from structs in a fixed order.

use crate::image::media::{Descriptor, Format, Platform, VARIANT_ANNOTATION, VARIANT_COMPAT};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;

/// A blob with its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            data,
        }
    }
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// `sha256:` and the lowercase hex digest of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A built image: config, the one layer, and the manifest that names them.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub format: Format,
    pub config: Blob,
    pub layer: Blob,
    pub manifest: Blob,
}

impl BuiltImage {
    pub fn digest(&self) -> &str {
        &self.manifest.digest
    }
}

/// What goes into the new image.
#[derive(Debug, Clone)]
pub struct ImageSpec<'a> {
    pub module: &'a [u8],
    /// manifest.yaml for the layer (already rewritten), or `None`.
    pub sme_manifest: Option<&'a str>,
    pub format: Format,
    /// From the source image config; linux/amd64 when it says nothing.
    pub platform: Option<Platform>,
}

fn tar_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_cksum();
    builder.append_data(&mut h, name, data)
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: ContainerConfig,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct ContainerConfig {
    #[serde(rename = "Labels")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

fn compat() -> BTreeMap<String, String> {
    BTreeMap::from([(VARIANT_ANNOTATION.to_string(), VARIANT_COMPAT.to_string())])
}

/// Build the image. Pure: no I/O, the same input gives the same bytes.
pub fn build(spec: &ImageSpec) -> std::io::Result<BuiltImage> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar_file(&mut tar, "plugin.wasm", spec.module)?;
    if let Some(m) = spec.sme_manifest {
        tar_file(&mut tar, "manifest.yaml", m.as_bytes())?;
    }
    let tar = tar.into_inner()?;
    let diff_id = sha256_digest(&tar);
    // No file name, mtime 0, a fixed OS byte: nothing that varies by machine.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    let layer = Blob::new(spec.format.layer_type(), gz.finish()?);

    let platform = spec.platform.clone().unwrap_or(Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    });
    let config = ConfigJson {
        architecture: &platform.architecture,
        os: &platform.os,
        variant: platform.variant.as_deref(),
        config: ContainerConfig { labels: compat() },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![diff_id],
        },
    };
    let config = Blob::new(
        spec.format.config_type(),
        serde_json::to_vec(&config).map_err(std::io::Error::other)?,
    );
    let manifest = ManifestJson {
        schema_version: 2,
        media_type: spec.format.manifest_type(),
        config: config.descriptor(),
        layers: vec![layer.descriptor()],
        // Docker v2s2 has no manifest annotations; its config label says it.
        annotations: match spec.format {
            Format::Oci => compat(),
            Format::Docker => BTreeMap::new(),
        },
    };
    let manifest = Blob::new(
        spec.format.manifest_type(),
        serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?,
    );
    Ok(BuiltImage {
        format: spec.format,
        config,
        layer,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// The digest promise, pinned: if a dependency update (the deflate
    /// implementation, tar headers) changes these bytes, users re-running
    /// repack would get new digests; that must be a deliberate change.
    #[test]
    fn golden_digests() {
        let module = b"\0asm\x01\0\0\0";
        let spec = ImageSpec {
            module,
            sme_manifest: Some(
                "schemaVersion: 1\nphase: PreAuthZ\npriority: 0\nmodule: plugin.wasm\n",
            ),
            format: Format::Oci,
            platform: None,
        };
        let oci = build(&spec).unwrap();
        let docker = build(&ImageSpec {
            format: Format::Docker,
            ..spec.clone()
        })
        .unwrap();
        assert_eq!(
            oci.digest(),
            "sha256:433d19072c4705637ee0e294c79afd0b42232f9a5245a93a1b52d796bdfa74db"
        );
        assert_eq!(
            docker.digest(),
            "sha256:f7815883afe2955b4f6de471cfe3eab803484796de9c3dd2a6b2922567ff7fe5"
        );
    }

    #[test]
    fn reproducible_single_layer_plugin_wasm_first() {
        let module = b"\0asm\x01\0\0\0";
        let spec = ImageSpec {
            module,
            sme_manifest: Some("schemaVersion: 1\nmodule: plugin.wasm\n"),
            format: Format::Oci,
            platform: None,
        };
        let a = build(&spec).unwrap();
        let b = build(&spec).unwrap();
        assert_eq!(a.digest(), b.digest());
        let docker = build(&ImageSpec {
            format: Format::Docker,
            ..spec.clone()
        })
        .unwrap();
        assert_ne!(docker.digest(), a.digest());
        let m: serde_json::Value = serde_json::from_slice(&docker.manifest.data).unwrap();
        assert_eq!(
            m["layers"][0]["mediaType"],
            crate::image::media::DOCKER_LAYER_GZIP
        );
        assert_eq!(m["config"]["mediaType"], crate::image::media::DOCKER_CONFIG);

        let mut gz = flate2::read::GzDecoder::new(&a.layer.data[..]);
        assert!(gz.header().unwrap().filename().is_none());
        assert_eq!(gz.header().unwrap().mtime(), 0);
        let mut tar = Vec::new();
        gz.read_to_end(&mut tar).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let mut entries = ar.entries().unwrap();
        let mut first = entries.next().unwrap().unwrap();
        assert_eq!(first.path().unwrap().to_str(), Some("plugin.wasm"));
        assert_eq!(first.header().entry_type(), tar::EntryType::Regular);
        let mut got = Vec::new();
        first.read_to_end(&mut got).unwrap();
        assert_eq!(got, module);
        let config: serde_json::Value = serde_json::from_slice(&a.config.data).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256_digest(&tar));
        assert_eq!(config["os"], "linux");
    }
}
