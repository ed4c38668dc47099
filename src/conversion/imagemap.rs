//! The image map: which WasmPlugin image replaces which ServiceMeshExtension
//! image. `repack --image-map` writes it (merging into an existing file);
//! `convert --image-map` and `migrate --image-map` read it to rewrite
//! `spec.url` and pin `spec.sha256`.
//!
//! ```yaml
//! apiVersion: sme2wasm.io/v1
//! kind: ImageMap
//! images:
//! - from: quay.io/maistra-dev/header-append-filter:2.2
//!   to: registry.example.com/wasm/header-append-filter:2.2
//!   digest: sha256:0123…(64 lowercase hex, the MANIFEST digest)
//!   phase: PostAuthZ   # optional: manifest.yaml defaults found by repack
//!   priority: 100      # optional
//! ```

use crate::conversion::mapping::SmePhase;
use crate::yaml;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const API_VERSION: &str = "sme2wasm.io/v1";
pub const KIND: &str = "ImageMap";

/// One old image and its replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMapEntry {
    /// The SME image reference as the SMEs write it.
    pub from: String,
    /// The new image reference (tag or repository), without `oci://`.
    pub to: String,
    /// `sha256:` and 64 lowercase hex: the new image's manifest digest.
    pub digest: String,
    /// The phase manifest.yaml gave, used when an SME sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The priority manifest.yaml gave, used when an SME sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageMap {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub images: Vec<ImageMapEntry>,
}

impl Default for ImageMap {
    fn default() -> Self {
        ImageMap {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            images: Vec::new(),
        }
    }
}

/// A refused image map: file, line, message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ImageMapError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

pub use crate::image::reference::digest_hex;

/// The form used to compare references: Docker Hub short names expanded as
/// Docker does (`nginx` → `docker.io/library/nginx:latest`).
pub fn normalize_reference(reference: &str) -> String {
    let r = reference.trim().trim_start_matches("oci://");
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    // A tag is the part after the last ':' that comes after the last '/'.
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or("");
    let has_host =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_host {
        let (host, rest) = repo.split_once('/').unwrap_or((repo, ""));
        let host = match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            h => h,
        };
        if host == "docker.io" && !rest.contains('/') {
            format!("docker.io/library/{rest}")
        } else {
            format!("{host}/{rest}")
        }
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    match (tag, digest) {
        (Some(t), _) => {
            full.push(':');
            full.push_str(t);
        }
        (None, None) => full.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

impl ImageMap {
    /// Read and validate an image map.
    pub fn read(path: &Path) -> Result<ImageMap, ImageMapError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ImageMapError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read the image map: {e}"),
        })?;
        ImageMap::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<ImageMap, ImageMapError> {
        let doc = yaml::split_documents(text)[0];
        let map: ImageMap = yaml::from_str(text).map_err(|e| ImageMapError {
            file: file.to_string(),
            line: e.line.unwrap_or(1),
            message: format!("not an image map: {e}; `sme2wasm repack --image-map` writes one"),
        })?;
        let fail = |needle: &str, message: String| ImageMapError {
            file: file.to_string(),
            line: doc
                .find_line_containing(needle)
                .map(|i| doc.start_line + i)
                .unwrap_or(1),
            message,
        };
        if map.api_version != API_VERSION || map.kind != KIND {
            return Err(fail(
                "apiVersion",
                format!("expected apiVersion {API_VERSION} and kind {KIND}"),
            ));
        }
        for e in &map.images {
            if digest_hex(&e.digest).is_none() {
                return Err(fail(
                    &e.digest,
                    format!(
                        "digest {:?} of {} is not sha256: followed by 64 lowercase hex digits",
                        e.digest, e.from
                    ),
                ));
            }
            if e.to.trim().is_empty() || e.to.contains("://") || e.to.starts_with("oci:") {
                return Err(fail(
                    &e.from,
                    format!(
                        "`to` of {} must be an image reference without a scheme",
                        e.from
                    ),
                ));
            }
            if let Some(p) = &e.phase {
                SmePhase::parse_exact(p).map_err(|m| fail(p, m))?;
            }
        }
        Ok(map)
    }

    /// The entry for an SME image, compared after normalisation.
    pub fn lookup(&self, image: &str) -> Option<&ImageMapEntry> {
        let want = normalize_reference(image);
        self.images.iter().find(|e| e.from == image).or_else(|| {
            self.images
                .iter()
                .find(|e| normalize_reference(&e.from) == want)
        })
    }

    /// Add or replace the entry for `entry.from`; entries stay sorted by
    /// `from` so that the file diffs well.
    pub fn merge(&mut self, entry: ImageMapEntry) {
        let key = normalize_reference(&entry.from);
        self.images.retain(|e| normalize_reference(&e.from) != key);
        self.images.push(entry);
        self.images.sort_by(|a, b| a.from.cmp(&b.from));
    }

    pub fn render(&self) -> String {
        format!(
            "# Written by sme2wasm repack; read by `sme2wasm convert --image-map`.\n{}",
            yaml::to_string(self)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_agrees_with_image_references() {
        // An image reference's Display agrees with the image map's normalisation.
        for s in ["nginx", "user/app:1", "quay.io/x/y", "localhost:5000/a:b"] {
            use crate::image::reference::ImageRef;
            let ImageRef::Registry(r) = ImageRef::parse(s).unwrap() else {
                panic!("{s} is not a registry reference");
            };
            assert_eq!(r.to_string(), normalize_reference(s));
        }
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(
            normalize_reference("nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(normalize_reference("user/app:1"), "docker.io/user/app:1");
        assert_eq!(
            normalize_reference("index.docker.io/nginx:1"),
            "docker.io/library/nginx:1"
        );
        assert_eq!(
            normalize_reference("oci://localhost:5000/a/b:2"),
            "localhost:5000/a/b:2"
        );
        assert_eq!(normalize_reference("quay.io/x/y"), "quay.io/x/y:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize_reference(&format!("quay.io/x/y@{d}")),
            format!("quay.io/x/y@{d}")
        );
    }

    #[test]
    fn roundtrip_merge_and_lookup() {
        let mut m = ImageMap::default();
        let digest = format!("sha256:{}", "0".repeat(64));
        m.merge(ImageMapEntry {
            from: "nginx".into(),
            to: "r.example/nginx:wasm".into(),
            digest: digest.clone(),
            phase: Some("PreAuthZ".into()),
            priority: Some(5),
        });
        m.merge(ImageMapEntry {
            from: "docker.io/library/nginx:latest".into(),
            to: "r.example/nginx:wasm2".into(),
            digest,
            phase: None,
            priority: None,
        });
        assert_eq!(m.images.len(), 1);
        let again = ImageMap::parse(&m.render(), "map.yaml").unwrap();
        assert_eq!(again, m);
        assert_eq!(
            again.lookup("nginx:latest").unwrap().to,
            "r.example/nginx:wasm2"
        );
        assert!(again.lookup("other").is_none());
    }

    #[test]
    fn bad_digest_names_its_line() {
        let text = "apiVersion: sme2wasm.io/v1\nkind: ImageMap\nimages:\n- from: a\n  to: b\n  digest: sha256:ABC\n";
        let e = ImageMap::parse(text, "map.yaml").unwrap_err();
        assert_eq!(e.line, 6, "{e}");
        let e = ImageMap::parse("apiVersion: x\nkind: ImageMap\n", "m").unwrap_err();
        assert_eq!(e.line, 1);
        let e = ImageMap::parse(
            "apiVersion: sme2wasm.io/v1\nkind: ImageMap\nextra: 1\n",
            "m",
        )
        .unwrap_err();
        assert!(e.message.contains("extra"), "{e}");
    }
}
