//! `sme2wasm verify`: load each migrated plugin the way Envoy does, run it
//! under the configuration Maistra gave it and under the one Istio will
//! give it, and compare what it does.

pub mod gojson;
pub mod abi;
