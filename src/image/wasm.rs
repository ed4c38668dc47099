//! The module check, before anything is pushed: what Istio's fetcher
//! requires (at least 8 bytes, the `\0asm` magic, at most 256 MiB; SPEC §7),
//! a valid Wasm binary (wasmparser), and the proxy-wasm ABI it exports.

use crate::image::merged::MAX_MODULE;
use serde::Serialize;

/// What the check learnt about a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    pub size: u64,
    /// `sha256:…` of the module bytes.
    pub sha256: String,
    /// The proxy-wasm ABI versions it exports, as `0.2.1`, from
    /// `proxy_abi_version_0_2_1`.
    pub abi_versions: Vec<String>,
}

/// Why a module was refused; the caller names the image and the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error("it has {0} bytes; a Wasm module has at least 8")]
    TooSmall(u64),
    #[error("it is {0} bytes, more than the 256 MiB Istio's fetcher accepts")]
    TooLarge(u64),
    #[error("it does not start with the Wasm magic \\0asm (it starts with {0})")]
    NoMagic(String),
    #[error("it is not a valid WebAssembly binary: {0}")]
    Invalid(String),
}

/// Check a module. Memory use is the module's size: the caller holds it.
pub fn check(bytes: &[u8]) -> Result<ModuleInfo, ModuleError> {
    let size = bytes.len() as u64;
    if size > MAX_MODULE {
        return Err(ModuleError::TooLarge(size));
    }
    if size < 8 {
        return Err(ModuleError::TooSmall(size));
    }
    if &bytes[..4] != b"\0asm" {
        let head: String = bytes[..4]
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() {
                    (*b as char).to_string()
                } else {
                    format!("\\x{b:02x}")
                }
            })
            .collect();
        return Err(ModuleError::NoMagic(head));
    }
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(bytes)
        .map_err(|e| ModuleError::Invalid(e.to_string()))?;
    let mut abi_versions = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::ExportSection(exports)) = payload {
            for export in exports.into_iter().flatten() {
                if let Some(v) = export.name.strip_prefix("proxy_abi_version_") {
                    abi_versions.push(v.replace('_', "."));
                }
            }
        }
    }
    abi_versions.sort();
    Ok(ModuleInfo {
        size,
        sha256: format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
        ),
        abi_versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_like_the_fetcher_and_more() {
        let m = wat::parse_str(r#"(module (func (export "proxy_abi_version_0_2_1")))"#).unwrap();
        let info = check(&m).unwrap();
        assert_eq!(info.abi_versions, vec!["0.2.1"]);
        assert_eq!(check(b"\0asm").unwrap_err(), ModuleError::TooSmall(4));
        assert!(
            matches!(check(b"not wasm at all").unwrap_err(), ModuleError::NoMagic(h) if h == "not\\x20")
        );
        // Right magic and version, then garbage.
        let mut bad = b"\0asm\x01\0\0\0".to_vec();
        bad.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(check(&bad).unwrap_err(), ModuleError::Invalid(_)));
        let empty = check(b"\0asm\x01\0\0\0").unwrap();
        assert!(empty.abi_versions.is_empty());
    }
}
