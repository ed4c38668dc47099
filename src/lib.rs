//! sme2wasm: migrate Maistra ServiceMeshExtension resources and images to
//! Istio WasmPlugin. The pipeline is read → model → convert → write, with the
//! file system and the registry at the edges and pure functions between.

pub mod cli;
pub mod image;
pub mod imagemap;
pub mod manifest;
pub mod mapping;
pub mod notify;
pub mod repack;
pub mod yaml;
