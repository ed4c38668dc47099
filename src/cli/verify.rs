//! The `verify` command's flags.

use super::ConversionArgs;
use std::path::PathBuf;

/// Fuel (about one unit per Wasm instruction) a callback may use by default.
pub const DEFAULT_FUEL: u64 = 200_000_000;
/// The most memory a plugin may grow to by default, in MiB.
pub const DEFAULT_MEMORY_MIB: usize = 256;

pub const AFTER_HELP: &str = "\
Each SME is converted as `convert` converts it, then its plugin is loaded as
Envoy loads it (ABI version, imports, allocator, start) and run twice in a
small deterministic proxy-wasm host: with the configuration bytes and root_id
Maistra gave it, and with those Istio will give the WasmPlugin. Each run gets
the canary (context create, vm start, configure) and the requests of the
scenario (default: one GET answered 200). Every effect is compared: headers
and bodies changed, local replies, logs, metrics, HTTP and gRPC calls,
properties read, traps.

The report goes to stdout (-o json for JSON); notifications go to stderr.

Examples:
  sme2wasm verify extensions/ --module filter.wasm
  sme2wasm verify sme.yaml --image-map images.yaml --plain-http localhost:5000
  oc get servicemeshextensions -A -o yaml | sme2wasm verify --request scenario.yaml -o json

Exit codes:
  0  every plugin behaves the same under Istio as under Maistra
  1  a plugin behaves differently, would be refused, or could not be checked
     (each is named in the report)
  2  usage error, or an input that could not be read or parsed
  3  with --strict: a WARN was printed (and nothing worse)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArg {
    Text,
    Json,
}

/// The `verify` subcommand's flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct VerifyArgs {
    /// YAML or JSON files or directories (walked for *.yaml, *.yml, *.json);
    /// `-` or nothing reads stdin
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// Run this module for every SME instead of reading the SMEs' images
    #[arg(long, value_name = "FILE.wasm")]
    pub module: Option<PathBuf>,

    /// A YAML scenario: the requests and responses to run (default: one GET
    /// answered 200)
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,

    /// Report format on stdout
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: OutputArg,

    /// Fuel (about one unit per Wasm instruction) each callback may use
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FUEL)]
    pub fuel: u64,

    /// The most memory a plugin may grow to, in MiB
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_MIB)]
    pub memory_limit: usize,

    #[command(flatten)]
    pub conversion: ConversionArgs,

    #[command(flatten, next_help_heading = "Reading images")]
    pub images: ImageArgs,
}

/// How images are read: as `repack` reads them.
#[derive(Debug, Clone, clap::Args)]
pub struct ImageArgs {
    /// The image to take from a multi-platform index (default linux/amd64)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Speak plain HTTP to this registry host[:port] (repeatable)
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
    /// Trust this PEM CA besides the system roots (repeatable)
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
    /// A Docker config.json or podman auth.json to take credentials from first
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// User name for every registry; the password is read from stdin
    #[arg(long, value_name = "NAME", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password for --username from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}
