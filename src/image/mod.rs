//! Container images at the edge of the pipeline: where an image lives
//! (`reference`), how its bytes are fetched and stored (`registry` over the
//! distribution protocol, `layout` for OCI image-layout directories, `auth`
//! for the credentials users already have), what its merged file system holds
//! (`merged`) and where manifest.yaml and the module are in it (`extract`),
//! whether its module is a proxy-wasm module (`wasm`), and the
//! single-layer image Istio's fetcher accepts (`build`, SPEC §7).
//!
//! Everything here is synchronous work code; `registry` owns the small async
//! runtime that oci-client needs and blocks on it at the edge.

pub mod auth;
pub mod build;
pub mod extract;
pub mod layout;
pub mod media;
pub mod merged;
pub mod redact;
pub mod reference;
pub mod registry;
pub mod source;
pub mod tarstream;
pub mod wasm;

pub use reference::{ImageRef, LayoutRef, RegistryRef};
