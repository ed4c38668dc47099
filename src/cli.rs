//! Every command and flag, defined once. Each subcommand's flags live with
//! its command (`repack::RepackArgs`); this file only names them.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sme2wasm",
    version,
    about = "Migrate Maistra ServiceMeshExtension resources and images to Istio WasmPlugin"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Repack(crate::repack::RepackArgs),
}
