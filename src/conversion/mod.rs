//! The conversion core: SPEC's contract as code. It reads models from YAML
//! values and writes WasmPlugins; it knows nothing of commands, flags or
//! where its input came from.
//!
//! - `sme`, `wasmplugin`: the two models;
//! - `convert`: the field table (SPEC §3), one function per WasmPlugin field;
//! - `mapping`: the phase table; `order`: Maistra's order kept by priorities;
//! - `stream`: documents in, documents out (Lists, Templates, what is left);
//! - `template`, `remaining`: OpenShift Templates, and SMEs left behind;
//! - `manifest`, `imagemap`: the image's manifest.yaml and repack's image map.

pub mod convert;
pub mod imagemap;
pub mod manifest;
pub mod mapping;
pub mod order;
pub mod remaining;
pub mod sme;
pub mod stream;
pub mod template;
pub mod wasmplugin;
