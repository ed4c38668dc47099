//! Every command and flag, defined once. Raw arguments are turned into
//! validated options (`convert::Options`) before any work starts; the work
//! code never sees clap.

pub mod repack;
pub mod verify;

use crate::conversion::convert::Options;
use crate::conversion::imagemap::ImageMap;
use crate::conversion::manifest::Manifest;
use crate::conversion::mapping::PhaseMap;
use crate::exit::UsageError;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  every ServiceMeshExtension was converted (warnings may have been printed)
  1  some object could not be converted, or a ServiceMeshExtension was left
     behind (another group, inside a ConfigMap or other wrapper, a List in a
     List): each has an ERROR on stderr
  2  usage error, or an input that could not be read or parsed
  3  with --strict: a WARN nobody acknowledged (--allow)";

pub const MIGRATE_EXIT_CODES: &str = "\
Exit codes:
  0  done: every ServiceMeshExtension was converted, or none was found
  1  some object could not be converted, a file still holds one sme2wasm
     does not convert, or with --verify its plugin would be refused (each
     has an ERROR on stderr; its file keeps it as it was)
  2  usage error (no PATH to write), a tree not safe to rewrite (not in a
     git work tree, uncommitted changes), or a file that could not be read,
     parsed or written
  3  with --strict: a WARN nobody acknowledged (--allow)
  4  with --check: ServiceMeshExtensions remain, converted or not (nothing
     was written; every file that would still hold one is named)";

const MIGRATE_EXAMPLES: &str = "\
Examples:
  sme2wasm migrate gitops/ --diff | less  # review the change first; nothing is written
  sme2wasm migrate gitops/                # rewrite in place (a clean git work tree)
  git diff; git checkout -- gitops/       # review it; undo it
  sme2wasm migrate --check                # CI gate: exit 4 while any SME remains
  sme2wasm migrate . --image-map images.yaml --report migrate.json
  sme2wasm migrate . --repack --registry registry.example.com/wasm -j 4
  sme2wasm migrate . --image-map images.yaml --verify # do not write plugins Envoy would refuse

Files are rewritten in place, atomically; everything that is not a
ServiceMeshExtension stays byte for byte. Notifications (INFO, WARN, ERROR,
each with file:line) and a summary go to stderr; --diff prints a unified diff
on stdout that `git apply` takes.

Safe by default, as `cargo fix` is: writing needs an explicit PATH, in a git
work tree, and refuses files with uncommitted changes (--allow-no-vcs,
--allow-dirty, --allow-staged), so that `git diff` shows exactly what
migrate did and `git checkout` undoes it. Git repositories below PATH
(nested clones, submodules) are not entered (--recurse-repositories).";

const TOP_HELP: &str = "\
Examples:
  sme2wasm convert < extension.yaml > wasmplugin.yaml
  sme2wasm repack quay.io/acme/filter:1.0 --tag-suffix -wasm --image-map images.yaml
  sme2wasm migrate gitops/ --image-map images.yaml --diff
  sme2wasm verify gitops/ --image-map images.yaml
  sme2wasm explain W104      # what a notification's code means, what to do

Exit codes (each command's --help has its own):
  0  done
  1  some object or image could not be converted or repacked, or a plugin does
     not behave the same (verify) (an ERROR says which)
  2  usage error, or an input that could not be read or parsed
  3  with --strict: a WARN nobody acknowledged (--allow) (convert, migrate)
  4  with migrate --check: ServiceMeshExtensions remain";

const CONVERT_EXAMPLES: &str = "\
Examples:
  sme2wasm convert < extension.yaml > wasmplugin.yaml
  oc get servicemeshextensions -A -o yaml | sme2wasm convert --only-converted
  sme2wasm convert manifests/ --image-map images.yaml --report report.json
  sme2wasm convert sme.yaml --phase-map PostAuthZ=AUTHZ --istio-version 1.16

Output goes to stdout; notifications (INFO, WARN, ERROR, each with file:line)
go to stderr.";

#[derive(Debug, Parser)]
#[command(
    name = "sme2wasm",
    version,
    about = "Migrate Maistra ServiceMeshExtensions to Istio WasmPlugins",
    long_about = "Migrate Maistra ServiceMeshExtension (SME) resources and images to Istio \
WasmPlugin: `convert` rewrites resources faithfully (same plugins, order, configuration and \
scope) and names every loss or change; `repack` rebuilds SME images as WasmPlugin images and \
prints the digest to pin; `migrate` rewrites a whole GitOps repository in place; `verify` \
runs each plugin as Envoy would under Maistra's and Istio's configuration and compares.",
    after_help = TOP_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to colour the level words of notifications on stderr (NO_COLOR
    /// in the environment means never, unless `always`)
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
}

/// `--color`: colour on a terminal only (auto), always, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The shells `sme2wasm completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert ServiceMeshExtension resources to WasmPlugin resources
    #[command(after_help = format!("{CONVERT_EXAMPLES}\n\n{EXIT_CODES}"))]
    Convert(ConvertArgs),
    /// Rebuild ServiceMeshExtension images as WasmPlugin images and push them
    Repack(repack::RepackArgs),
    /// Convert every ServiceMeshExtension of a repository in place
    /// (plain manifests, kustomize patches, Helm templates)
    // Here --format is the notifications' format: the image format of
    // --repack is --image-format.
    #[command(after_help = format!("{MIGRATE_EXAMPLES}\n\n{MIGRATE_EXIT_CODES}"))]
    #[command(mut_arg("format", |a| a.long("image-format")))]
    Migrate(MigrateArgs),
    /// Print a shell completion script on stdout
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command
    /// into a directory
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// The command whose page to print (convert, repack, migrate, ...);
        /// sme2wasm's own page without it
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Option<String>,
        /// Write every page (sme2wasm.1, sme2wasm-COMMAND.1) into DIR instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check that each converted plugin loads in Envoy and behaves under
    /// Istio's configuration as it did under Maistra's
    Verify(verify::VerifyArgs),
    /// Explain a notification's code (as printed in `WARN[W104]`): what it
    /// means and what to do
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
}

const EXPLAIN_HELP: &str = "\
Examples:
  sme2wasm explain W104
  sme2wasm explain no-selector-gateway-loses-plugin
  sme2wasm explain --list        # every code, one a line

Exit codes:
  0  done
  2  no such code";

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The code (W104), its number (104) or its name
    #[arg(required_unless_present = "list")]
    pub code: Option<String>,
    /// List every code with its name and level
    #[arg(long, conflicts_with = "code")]
    pub list: bool,
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  sme2wasm completions bash > /etc/bash_completion.d/sme2wasm
  sme2wasm completions zsh > \"${fpath[1]}/_sme2wasm\"
  sme2wasm completions fish > ~/.config/fish/completions/sme2wasm.fish
  sme2wasm completions powershell >> $PROFILE";

const MAN_EXAMPLES: &str = "\
Examples:
  sme2wasm man | man -l -
  sme2wasm man migrate | man -l -
  sme2wasm man --dir /usr/local/share/man/man1   # sme2wasm.1, sme2wasm-convert.1, ...";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Options that decide how an SME becomes a WasmPlugin (shared by the
/// commands that convert).
#[derive(Debug, Clone, Args)]
pub struct ConversionArgs {
    /// Override a row of the phase table, e.g. PostAuthZ=AUTHZ (repeatable;
    /// TO is AUTHN, AUTHZ, STATS or UNSPECIFIED_PHASE)
    #[arg(long = "phase-map", value_name = "FROM=TO")]
    pub phase_map: Vec<String>,

    /// The mesh's root (control-plane) namespace: SMEs there applied
    /// mesh-wide
    #[arg(long, value_name = "NAME", default_value = "istio-system")]
    pub root_namespace: String,

    /// Write the WasmPlugins of SMEs from the root namespace into this
    /// namespace: the new mesh's root namespace, where it differs
    #[arg(long, value_name = "NAME")]
    pub new_root_namespace: Option<String>,

    /// The Istio version the WasmPlugins are for (decides `match`)
    #[arg(long, value_name = "X.Y", default_value = "1.20")]
    pub istio_version: String,

    /// An SME image's manifest.yaml: default phase and priority
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Image map written by `sme2wasm repack`: new url and sha256 per image
    #[arg(long, value_name = "FILE")]
    pub image_map: Option<PathBuf>,

    /// Do not write pluginName (<name>_root, Maistra's root_id)
    #[arg(long)]
    pub no_plugin_name: bool,

    /// Exit with 3 when a WARN nobody acknowledged was printed (see --allow)
    #[arg(long)]
    pub strict: bool,

    /// Also write the notifications as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Print only WARN and ERROR notifications on stderr
    #[arg(short, long)]
    pub quiet: bool,

    /// How notifications are written on stderr: plain lines, JSON lines,
    /// GitHub Actions workflow commands, or one SARIF 2.1.0 document
    #[arg(
        long = "format",
        id = "notification_format",
        value_enum,
        default_value = "plain",
        value_name = "FORMAT"
    )]
    pub format: NoticeFormat,

    /// Acknowledge the warnings of this code (repeatable): they no longer
    /// fail --strict, and are still reported as allowed
    #[arg(long = "allow", value_name = "CODE")]
    pub allow: Vec<String>,
}

/// `--format`: how notifications are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoticeFormat {
    /// `FILE:LINE: LEVEL[CODE] ns/name: message; advice`
    Plain,
    /// One JSON object per line, then a summary object
    Json,
    /// GitHub Actions workflow commands (`::warning file=F,line=L,title=CODE::…`)
    Github,
    /// One SARIF 2.1.0 document, for code scanning
    Sarif,
}

#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// YAML or JSON files or directories (walked for *.yaml, *.yml, *.json);
    /// `-` or nothing reads stdin
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// Output format
    #[arg(short, long, value_enum, default_value = "yaml")]
    pub output: OutputFormat,

    /// Write only the converted WasmPlugins, not the other documents
    #[arg(long)]
    pub only_converted: bool,

    #[command(flatten)]
    pub conversion: ConversionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The directory to migrate (a git work tree, or a directory below
    /// one); required to write, `.` by default with --diff and --check
    #[arg(value_name = "PATH")]
    pub dir: Option<PathBuf>,

    /// Print a unified diff of every change on stdout; write nothing
    #[arg(long, conflicts_with = "check")]
    pub diff: bool,

    /// Write nothing; exit with 4 while any ServiceMeshExtension remains
    #[arg(long)]
    pub check: bool,

    /// First repack every image the SMEs name (each once, -j at a time) and
    /// point each url at its new image, sha256 pinned; needs --to,
    /// --tag-suffix or --registry
    #[arg(long, conflicts_with = "check")]
    pub repack: bool,

    /// Write even though PATH is not in a git work tree (or git is missing):
    /// `git checkout` will not undo the rewrite
    #[arg(long, help_heading = "Safety (writing only)")]
    pub allow_no_vcs: bool,

    /// Write even to files with uncommitted changes, staged or not
    #[arg(long, help_heading = "Safety (writing only)")]
    pub allow_dirty: bool,

    /// Write even to files with staged changes
    #[arg(long, help_heading = "Safety (writing only)")]
    pub allow_staged: bool,

    /// Also enter git repositories below PATH (nested clones, submodules);
    /// each is checked on its own before writing
    #[arg(long)]
    pub recurse_repositories: bool,

    /// First run `sme2wasm verify` on every SME (reading its image with the
    /// registry flags below); a plugin Envoy would refuse under its new
    /// configuration, while it worked under its old one, is not written
    #[arg(long, conflicts_with = "check")]
    pub verify: bool,

    /// With --verify: run this module for every SME instead of its image
    #[arg(long, value_name = "FILE.wasm", requires = "verify")]
    pub verify_module: Option<PathBuf>,

    /// With --verify: write such plugins anyway
    #[arg(long, requires = "verify")]
    pub force: bool,

    #[command(flatten)]
    pub conversion: ConversionArgs,

    #[command(flatten, next_help_heading = "With --repack")]
    pub repack_target: repack::TargetArgs,
}

/// Validated options from the conversion flags.
pub fn options(args: &ConversionArgs) -> Result<Options, UsageError> {
    let phase_map = PhaseMap::with_overrides(&args.phase_map).map_err(UsageError)?;
    let istio_version = args
        .istio_version
        .parse()
        .map_err(|e| UsageError(format!("--istio-version: {e}")))?;
    let manifest = match &args.manifest {
        Some(p) => Some(Manifest::read(p).map_err(|e| UsageError(format!("--manifest: {e}")))?),
        None => None,
    };
    let image_map = match &args.image_map {
        Some(p) => Some(ImageMap::read(p).map_err(|e| UsageError(format!("--image-map: {e}")))?),
        None => None,
    };
    if args.root_namespace.trim().is_empty() {
        return Err(UsageError("--root-namespace must not be empty".into()));
    }
    if args
        .new_root_namespace
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err(UsageError("--new-root-namespace must not be empty".into()));
    }
    Ok(Options {
        phase_map,
        root_namespace: args.root_namespace.clone(),
        new_root_namespace: args
            .new_root_namespace
            .clone()
            .filter(|n| *n != args.root_namespace),
        istio_version,
        plugin_name: !args.no_plugin_name,
        manifest,
        image_map,
        refuse: Default::default(),
    })
}
