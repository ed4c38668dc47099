//! sme2wasm: migrate Maistra ServiceMeshExtension resources and images to
//! Istio WasmPlugin. The pipeline is read → model → convert → write, with the
//! file system and the registry at the edges and pure functions between.

pub mod allow;
pub mod app;
pub mod cli;
pub mod convert;
pub mod docs;
pub mod formats;
pub mod fsutil;
pub mod image;
pub mod imagemap;
pub mod manifest;
pub mod mapping;
pub mod migrate;
pub mod notify;
pub mod order;
pub mod progress;
pub mod remaining;
pub mod repack;
pub mod sme;
pub mod stream;
pub mod template;
pub mod verify;
pub mod wasmplugin;
pub mod yaml;
