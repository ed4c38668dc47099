//! sme2wasm: migrate Maistra ServiceMeshExtension resources and images to
//! Istio WasmPlugin. The pipeline is read → model → convert → write, with the
//! file system and the registry at the edges and pure functions between.
//!
//! The modules are in three layers, and data flows one way, down:
//! - the commands: `cli` (flags and validated options), `commands` (running
//!   one: convert, explain, and dispatching to) `migrate`, `repack`,
//!   `verify`; `output` (printing notifications, reports, stdout),
//!   `formats` (notifications as plain text, JSON, GitHub annotations or
//!   SARIF), `allow` (acknowledged warnings), `progress` (progress on a
//!   terminal) and `exit` (the exit codes) serve them;
//! - the conversion core, `conversion`: the models, the field and phase
//!   tables, order, the converter, streams of documents;
//! - the edges: `yaml` (reading and writing YAML), `image` (registries,
//!   layouts, layers), `fsutil` (files).
//!
//! `notify` (notifications and their catalogue) is the vocabulary every
//! layer speaks.

pub mod allow;
pub mod cli;
pub mod commands;
pub mod conversion;
pub mod exit;
pub mod formats;
pub mod fsutil;
pub mod image;
pub mod migrate;
pub mod notify;
pub mod output;
pub mod progress;
pub mod repack;
pub mod verify;
pub mod yaml;
