//! Shared test support: the registry harness, the fixture images, the
//! modules, and a read-back that checks a result the way Istio's image
//! fetcher reads it (SPEC §7).
#![allow(dead_code)]

pub mod flaky;
pub mod hostile;
pub mod images;
pub mod registry;
pub mod token;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// The proxy-wasm module the fixtures carry.
pub fn fixture_module() -> Vec<u8> {
    // A real proxy-wasm filter built from testdata/wasm/header-append by
    // testdata/wasm/build.sh.
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/wasm/header_append.wasm"
    ))
    .expect("testdata/wasm/header_append.wasm is committed")
}

/// A different valid module, for "a later layer overwrites it" cases.
pub fn old_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "proxy_abi_version_0_1_0")))"#).unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The binary, with credentials of the machine out of reach.
pub fn sme2wasm(home: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("sme2wasm").unwrap();
    c.env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR");
    c
}

/// An image as Istio's fetcher sees it.
#[derive(Debug)]
pub struct FetchedImage {
    pub manifest_digest: String,
    pub manifest: Value,
    pub config: Value,
    /// Tar entries of the one layer, in order: (name, regular file?, bytes).
    pub entries: Vec<(String, bool, Vec<u8>)>,
}

/// Check a manifest and its blobs like pkg/wasm/imagefetcher.go: one image
/// manifest, Docker or OCI media types never mixed, exactly one layer, real
/// gzip, `plugin.wasm` the first entry and a regular file at the root.
pub fn check_like_istio(manifest_bytes: &[u8], blob: &dyn Fn(&str) -> Vec<u8>) -> FetchedImage {
    let manifest: Value = serde_json::from_slice(manifest_bytes).unwrap();
    let mt = manifest["mediaType"].as_str().unwrap_or("");
    let (layer_type, config_type) = match mt {
        "application/vnd.oci.image.manifest.v1+json" => (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.config.v1+json",
        ),
        "application/vnd.docker.distribution.manifest.v2+json" => (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.container.image.v1+json",
        ),
        other => panic!("not an image manifest Istio accepts: {other:?}"),
    };
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "exactly one layer: {manifest}");
    assert_eq!(layers[0]["mediaType"], layer_type, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], config_type, "{manifest}");
    let layer_digest = layers[0]["digest"].as_str().unwrap();
    let layer = blob(layer_digest);
    assert_eq!(sha256(&layer), layer_digest);
    assert_eq!(layer.len() as u64, layers[0]["size"].as_u64().unwrap());
    assert_eq!(&layer[..2], &[0x1f, 0x8b], "real gzip");
    let config_bytes = blob(manifest["config"]["digest"].as_str().unwrap());
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&tar).as_str());
    let mut entries = Vec::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let regular = e.header().entry_type() == tar::EntryType::Regular;
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        entries.push((name, regular, data));
    }
    assert_eq!(entries[0].0, "plugin.wasm", "plugin.wasm first");
    assert!(entries[0].1, "plugin.wasm is a regular file");
    let module = &entries[0].2;
    assert!(module.len() >= 8 && &module[..4] == b"\0asm");
    FetchedImage {
        manifest_digest: sha256(manifest_bytes),
        manifest,
        config,
        entries,
    }
}

/// Read a pushed image back with skopeo (an independent client) and check it.
pub fn fetch_like_istio(reg: &registry::Registry, reference: &str) -> FetchedImage {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("skopeo")
        .arg("copy")
        .arg("--quiet")
        .args(reg.skopeo_flags(true))
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", out.path().display()))
        .output()
        .expect("skopeo must be installed (apt-get install skopeo)");
    assert!(
        status.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let manifest = std::fs::read(out.path().join("manifest.json")).unwrap();
    let dir = out.path().to_path_buf();
    check_like_istio(&manifest, &|d: &str| {
        std::fs::read(dir.join(d.trim_start_matches("sha256:"))).unwrap()
    })
}

/// Read an image from an OCI layout and check it.
pub fn fetch_layout_like_istio(dir: &Path, tag: &str) -> FetchedImage {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index}"));
    let blob = |d: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest = blob(entry["digest"].as_str().unwrap());
    check_like_istio(&manifest, &blob)
}

/// Does the registry have this tag? (skopeo inspect, independent of sme2wasm)
pub fn tag_exists(reg: &registry::Registry, reference: &str) -> bool {
    Command::new("skopeo")
        .arg("inspect")
        .arg("--raw")
        .args(
            reg.skopeo_flags(true)
                .iter()
                .map(|f| f.replace("--src-", "--")),
        )
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap()
        .status
        .success()
}
