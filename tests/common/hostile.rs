//! Hostile layers built byte by byte: tar headers written field by field
//! (so that a test can say exactly what a header claims), and OCI
//! image-layout directories holding images made of such layers.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub const BLOCK: usize = 512;

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{:0w$o}", value, w = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[field.len() - 1] = 0;
}

/// A 512-byte ustar header: name, type flag, size (as the header claims
/// it; the data is written by the caller), checksum filled in.
pub fn header(name: &str, typeflag: u8, size: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_600_000_000);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    checksum(&mut h);
    h
}

/// Recompute a header's checksum after a field was changed.
pub fn checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// Padding up to the next block boundary.
pub fn pad(len: usize) -> Vec<u8> {
    vec![0u8; (BLOCK - len % BLOCK) % BLOCK]
}

/// A regular file entry with its data and padding.
pub fn file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(name, b'0', data.len() as u64).to_vec();
    out.extend_from_slice(data);
    out.extend(pad(data.len()));
    out
}

/// The two zero blocks that end an archive.
pub fn end() -> Vec<u8> {
    vec![0u8; 2 * BLOCK]
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn put(dir: &Path, data: &[u8]) -> serde_json::Value {
    let d = sha(data);
    let p = dir
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    json!({"digest": d, "size": data.len()})
}

/// An OCI image (gzip layers, bottom first, already compressed as the
/// caller wants) under `tag` in the layout `dir`; returns the manifest digest.
pub fn layout_image(dir: &Path, tag: &str, layers: &[Vec<u8>]) -> String {
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
    let config = serde_json::to_vec(&config).unwrap();
    let mut c = put(dir, &config);
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let ls: Vec<_> = layers
        .iter()
        .map(|l| {
            let mut d = put(dir, l);
            d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
            d
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c,
        "layers": ls,
    }))
    .unwrap();
    let mut m = put(dir, &manifest);
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    m["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index_path = dir.join("index.json");
    let mut index = std::fs::read(&index_path)
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
    index["manifests"].as_array_mut().unwrap().push(m.clone());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    m["digest"].as_str().unwrap().to_string()
}

/// The manifest.yaml of a test SME image whose module is `module`.
pub fn manifest_yaml(module: &str) -> String {
    format!("schemaVersion: 1\nname: hostile\nphase: PreAuthZ\npriority: 1\nmodule: {module}\n")
}
