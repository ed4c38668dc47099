//! Manifests and descriptors as registries serve them: Docker v2s2 and OCI
//! image manifests (also with `mediaType` omitted, as the OCI spec allows),
//! manifest lists and OCI indexes, and the platform choice Istio's fetcher
//! makes (SPEC §7). Schema 1 is recognised only to be refused clearly.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest type `repack` asks a registry for.
pub const ACCEPTED: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_LIST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
];

/// The Compat variant annotation of the solo-io Wasm image spec.
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";
pub const VARIANT_COMPAT: &str = "compat";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(format!(
                "platform {text:?} must be OS/ARCH[/VARIANT], as in linux/amd64"
            )),
        }
    }
}

/// The two manifest formats; `repack` never mixes their media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Oci,
    Docker,
}

impl Format {
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_MANIFEST,
            Format::Docker => DOCKER_MANIFEST,
        }
    }
    pub fn config_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_CONFIG,
            Format::Docker => DOCKER_CONFIG,
        }
    }
    pub fn layer_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_LAYER_GZIP,
            Format::Docker => DOCKER_LAYER_GZIP,
        }
    }
}

/// A single-platform image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub format: Format,
    pub config: Descriptor,
    /// Bottom first, as manifests list them.
    pub layers: Vec<Descriptor>,
}

/// A manifest as fetched: an image, or an index to choose from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Vec<Descriptor>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Parse a manifest body. The error says what the body is and why it is
/// refused; the caller adds the reference.
pub fn parse(body: &[u8]) -> Result<Manifest, String> {
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| format!("the manifest is not valid JSON ({e})"))?;
    let media_type = raw.media_type.as_deref().unwrap_or("");
    if raw.schema_version == Some(1)
        || media_type == DOCKER_SCHEMA1
        || media_type == DOCKER_SCHEMA1_SIGNED
    {
        return Err("it is a Docker schema 1 manifest, which Istio's fetcher rejects; push the image again with a current Docker, buildah or skopeo (they write schema 2)".into());
    }
    if raw.schema_version != Some(2) {
        return Err(format!("schemaVersion {:?} is not 2", raw.schema_version));
    }
    let is_index = match media_type {
        OCI_INDEX | DOCKER_LIST => true,
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        "" => raw.manifests.is_some() && raw.layers.is_none(),
        other => {
            return Err(format!(
                "manifest media type {other} is not an image manifest or index"
            ))
        }
    };
    if is_index {
        return Ok(Manifest::Index(raw.manifests.unwrap_or_default()));
    }
    let config = raw
        .config
        .ok_or("the image manifest has no config descriptor")?;
    let layers = raw.layers.unwrap_or_default();
    let format = match media_type {
        DOCKER_MANIFEST => Format::Docker,
        OCI_MANIFEST => Format::Oci,
        // mediaType omitted: the config's type tells the two apart.
        _ if config.media_type == DOCKER_CONFIG => Format::Docker,
        _ => Format::Oci,
    };
    Ok(Manifest::Image(ImageManifest {
        format,
        config,
        layers,
    }))
}

/// The child Istio's fetcher would pick: the requested platform (default
/// linux/amd64), else the only child, else a child without a platform.
pub fn choose_platform<'a>(
    children: &'a [Descriptor],
    want: Option<&Platform>,
) -> Result<&'a Descriptor, String> {
    let default = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let want_p = want.unwrap_or(&default);
    let matches = |p: &Platform| {
        p.os == want_p.os
            && p.architecture == want_p.architecture
            && (want_p.variant.is_none() || p.variant == want_p.variant)
    };
    if let Some(d) = children
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(matches))
    {
        return Ok(d);
    }
    if want.is_none() {
        if children.len() == 1 {
            return Ok(&children[0]);
        }
        if let Some(d) = children.iter().find(|d| d.platform.is_none()) {
            return Ok(d);
        }
    }
    let available: Vec<String> = children
        .iter()
        .map(|d| {
            d.platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "(no platform)".into())
        })
        .collect();
    Err(format!(
        "the index has no {want_p} image (it has: {}); choose one with --platform",
        if available.is_empty() {
            "nothing".to_string()
        } else {
            available.join(", ")
        }
    ))
}

/// os/architecture from an image config blob; `None` when it has neither.
pub fn config_platform(config: &[u8]) -> Option<Platform> {
    let v: serde_json::Value = serde_json::from_slice(config).ok()?;
    let os = v.get("os")?.as_str()?.to_string();
    let architecture = v.get("architecture")?.as_str()?.to_string();
    let variant = v
        .get("variant")
        .and_then(|x| x.as_str())
        .map(str::to_string);
    Some(Platform {
        os,
        architecture,
        variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(p: Option<(&str, &str)>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            size: 1,
            platform: p.map(|(os, a)| Platform {
                os: os.into(),
                architecture: a.into(),
                variant: None,
            }),
            annotations: Default::default(),
        }
    }

    #[test]
    fn detects_formats() {
        let d = r#"{"digest":"sha256:00","size":1"#;
        let docker = format!(
            r#"{{"schemaVersion":2,"config":{d},"mediaType":"{DOCKER_CONFIG}"}},"layers":[]}}"#
        );
        match parse(docker.as_bytes()).unwrap() {
            Manifest::Image(m) => assert_eq!(m.format, Format::Docker),
            other => panic!("{other:?}"),
        }
        let oci = format!(r#"{{"schemaVersion":2,"config":{d}}},"layers":[]}}"#);
        assert!(matches!(
            parse(oci.as_bytes()).unwrap(),
            Manifest::Image(ImageManifest {
                format: Format::Oci,
                ..
            })
        ));
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(index.as_bytes()).unwrap(),
            Manifest::Index(_)
        ));
        let e = parse(br#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap_err();
        assert!(e.contains("schema 1"), "{e}");
    }

    #[test]
    fn chooses_like_istio() {
        let both = [
            desc(Some(("linux", "arm64"))),
            desc(Some(("linux", "amd64"))),
        ];
        assert_eq!(choose_platform(&both, None).unwrap(), &both[1]);
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(choose_platform(&both, Some(&arm)).unwrap(), &both[0]);
        let only = [desc(Some(("linux", "arm64")))];
        assert_eq!(choose_platform(&only, None).unwrap(), &only[0]);
        let e = choose_platform(&both, Some(&Platform::parse("linux/s390x").unwrap())).unwrap_err();
        assert!(e.contains("linux/arm64, linux/amd64"), "{e}");
        assert!(Platform::parse("linux").is_err());
    }
}
