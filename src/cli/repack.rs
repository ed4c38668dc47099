//! The `repack` command's flags, and `migrate --repack`'s.

use std::path::PathBuf;

const AFTER_HELP: &str = "\
Each SRC is rebuilt as one gzip layer holding plugin.wasm (first) and
manifest.yaml rewritten to `module: plugin.wasm`, and pushed to its
destination. One line per image goes to stdout: SRC -> DST@sha256:DIGEST.
Pin that digest in the WasmPlugin (spec.url oci://DST, spec.sha256 DIGEST
without the sha256: prefix), or let `convert --image-map FILE` do it.

SRC and DST are registry references (a tag or @sha256:digest; Docker Hub
short names are normalised as Docker does) or OCI image-layout directories,
oci:PATH[:TAG]. Credentials come from --username/--password-stdin,
--authfile, podman's auth.json, or Docker's config.json (with credential
helpers), in that order.

Exit status:
  0  every image was repacked, was already repacked, or was already migrated
  1  at least one image failed (the others were still done)
  2  usage error: bad flags or references; nothing was done

Examples:
  sme2wasm repack oci:examples/header-append-sme:2.2 --to oci:/tmp/wasm:2.2
  sme2wasm repack quay.io/acme/filter:1.0 --to registry.example.com/wasm/filter:1.0
  sme2wasm repack quay.io/acme/a:1 quay.io/acme/b:1 --tag-suffix -wasm --image-map images.yaml
  sme2wasm repack quay.io/acme/a:1 --registry localhost:5000/wasm --plain-http localhost:5000 -o json";

/// The `repack` subcommand's flags. Their doc comments are `--help` text,
/// written for a terminal (`[:TAG]` is not a doc link).
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Rebuild ServiceMeshExtension images as WasmPlugin images and print the digests to pin",
    after_help = AFTER_HELP
)]
#[command(group(clap::ArgGroup::new("destination").required(true).args(["to", "tag_suffix", "registry"])))]
pub struct RepackArgs {
    /// Source images: registry references or oci:PATH[:TAG].
    #[arg(value_name = "SRC", required = true)]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Write (or merge into) the image map that `convert --image-map` reads.
    #[arg(long, value_name = "FILE")]
    pub image_map: Option<PathBuf>,
    /// The reference the SMEs name SRC by, for the image map, when SRC is a
    /// copy (an oci: layout carried into an air-gapped site); one SRC only.
    #[arg(long, value_name = "REF", requires = "image_map")]
    pub source_name: Option<String>,
    /// The registry reference the WasmPlugins will pull the new image from,
    /// for the image map, when DST is an oci: layout to be copied there.
    #[arg(long, value_name = "REF", requires = "image_map")]
    pub dest_name: Option<String>,
    /// Result format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: OutputArg,
}

/// Where repacked images go, how they are built, and how registries are
/// reached: shared by `repack` and `migrate --repack`.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The destination of a single SRC (registry reference or oci:PATH[:TAG]).
    #[arg(long, value_name = "DST")]
    pub to: Option<String>,
    /// Push next to each SRC, under its tag with SUFFIX appended (1.0 -> 1.0-wasm).
    #[arg(long, value_name = "SUFFIX", allow_hyphen_values = true)]
    pub tag_suffix: Option<String>,
    /// Push each SRC to HOST[/PREFIX]/REPOSITORY:TAG, keeping its repository path.
    #[arg(long, value_name = "HOST[/PREFIX]")]
    pub registry: Option<String>,
    /// Media types of the new image: OCI, or Docker v2s2 (never mixed).
    #[arg(long, value_enum, default_value = "oci")]
    pub format: FormatArg,
    /// Leave manifest.yaml out of the new image (it then serves WasmPlugins only).
    #[arg(long)]
    pub no_sme_manifest: bool,
    /// Replace a destination tag that points to different content.
    #[arg(long)]
    pub overwrite: bool,
    /// The image to take from a multi-platform index (default linux/amd64).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// How many images to repack at once.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Speak plain HTTP to this registry host[:port] (repeatable; loopback too must be named).
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
    /// Trust this PEM CA besides the system roots (repeatable).
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
    /// A Docker config.json or podman auth.json to take credentials from first.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// User name for every registry of this run; the password is read from stdin.
    #[arg(long, value_name = "NAME", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password for --username from stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Give up on an image after this long (e.g. 90s, 20m, 2h); transient
    /// failures are retried within it.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub timeout: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Oci,
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArg {
    Text,
    Json,
}
