//! Running a parsed command line: turn arguments into options, run the
//! command, print, and map the outcome to an exit code.

use crate::cli::{Cli, Command, ConversionArgs, ConvertArgs, OutputFormat};
use crate::convert::Options;
use crate::imagemap::ImageMap;
use crate::manifest::Manifest;
use crate::mapping::PhaseMap;
use crate::notify::{Code, Counts, Level, Notification};
use crate::stream::{self, Format};
use std::io::Write;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    NotConverted = 1,
    Usage = 2,
    Warnings = 3,
    /// `migrate --check`: ServiceMeshExtensions remain.
    Remaining = 4,
}

impl Exit {
    /// The exit code of a converting run, most serious first: unreadable
    /// input, then objects not converted, then warnings under --strict.
    pub fn of(unreadable: usize, failed: usize, strict_warnings: bool) -> Exit {
        if unreadable > 0 {
            Exit::Usage
        } else if failed > 0 {
            Exit::NotConverted
        } else if strict_warnings {
            Exit::Warnings
        } else {
            Exit::Ok
        }
    }
}

/// A failure that stops a command before it starts: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn run(cli: Cli) -> Exit {
    crate::notify::set_color(cli.color);
    match cli.command {
        Command::Completions { shell } => print_or_fail(&crate::docs::completions(shell)),
        Command::Man { command, dir } => man(command.as_deref(), dir.as_deref()),
        Command::Convert(args) => convert(args),
        Command::Migrate(args) => migrate(&args),
        Command::Repack(args) => match crate::repack::run(args) {
            0 => Exit::Ok,
            2 => Exit::Usage,
            _ => Exit::NotConverted,
        },
        Command::Verify(args) => crate::verify::run(args),
        Command::Explain(args) => explain(&args),
    }
}

fn printed(r: std::io::Result<()>) -> Exit {
    match r {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("sme2wasm: cannot write to stdout: {e}");
            Exit::Usage
        }
    }
}

/// `explain`: print one rule of the notification catalogue, or all codes.
fn explain(args: &crate::cli::ExplainArgs) -> Exit {
    use crate::notify::catalogue::{Code as C, RULES};
    if args.list {
        let mut out = String::new();
        for r in RULES {
            out.push_str(&format!("{} {} {}\n", r.code, r.level, r.name));
        }
        return printed(write_stdout(&out));
    }
    let text = args.code.as_deref().unwrap_or_default();
    match C::lookup(text) {
        Some(rule) => printed(write_stdout(&rule.to_string())),
        None => {
            eprintln!(
                "sme2wasm: no notification has the code {text:?}; `sme2wasm explain --list` lists them"
            );
            Exit::Usage
        }
    }
}

/// Print generated text (a completion script, a manual page).
fn print_or_fail(bytes: &[u8]) -> Exit {
    match crate::docs::print(bytes) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("sme2wasm: cannot write the output: {e}");
            Exit::Usage
        }
    }
}

/// `sme2wasm man [COMMAND] [--dir DIR]`.
fn man(command: Option<&str>, dir: Option<&std::path::Path>) -> Exit {
    let result = match dir {
        Some(dir) => crate::docs::write_pages(dir).map(|written| {
            for p in written {
                eprintln!("wrote {}", p.display());
            }
        }),
        None => crate::docs::page(command).map(|text| {
            print_or_fail(&text);
        }),
    };
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            Exit::Usage
        }
    }
}

/// `migrate`, with `--repack` bound to the repack command's options.
fn migrate(args: &crate::cli::MigrateArgs) -> Exit {
    let t = &args.repack_target;
    let destination = t.to.is_some() || t.tag_suffix.is_some() || t.registry.is_some();
    if !args.repack {
        if destination {
            eprintln!("sme2wasm: --to, --tag-suffix and --registry go with --repack");
            return Exit::Usage;
        }
        return crate::migrate::run(args);
    }
    let config = match crate::repack::RepackConfig::for_migrate(t, &mut std::io::stdin()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sme2wasm: --repack: {e}");
            return Exit::Usage;
        }
    };
    let repack = |images: &[String]| crate::repack::image_map_of(&config, images);
    crate::migrate::run_with(args, Some(&repack))
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

/// Print notifications to stderr (INFO only when not quiet).
pub fn print_notifications(notes: &[Notification], quiet: bool) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for n in notes {
        if quiet && n.level == Level::Info {
            continue;
        }
        let _ = writeln!(err, "{}", n.painted());
    }
}

/// Warnings about the phase table itself, before any object.
pub fn phase_map_notes(opts: &Options) -> Vec<Notification> {
    opts.phase_map
        .inversions()
        .into_iter()
        .map(|(a, b)| {
            Notification::new(
                Code::PhaseMapReversesOrder,
                "",
                format!(
                    "--phase-map puts {b} before {a}, the reverse of Maistra's order; no priority can repair that"
                ),
            )
            .advice("map the phases so that their order is kept")
        })
        .collect()
}

/// Write the JSON report.
pub fn write_report(
    path: &std::path::Path,
    notes: &crate::formats::Notes,
    summary: serde_json::Value,
) -> Result<(), UsageError> {
    let listed: Vec<serde_json::Value> = notes
        .notes
        .iter()
        .enumerate()
        .map(|(i, n)| crate::formats::json(n, notes.allowed.get(i).and_then(Option::as_ref)))
        .collect();
    let report = serde_json::json!({
        "summary": summary,
        "notifications": listed,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("the report serialises");
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes())
        .map_err(|e| UsageError(format!("cannot write the report {}: {e}", path.display())))
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn convert(args: ConvertArgs) -> Exit {
    let opts = match options(&args.conversion) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    };
    let (inputs, read_errors) = stream::read_inputs(&args.paths);
    for e in &read_errors {
        eprintln!("sme2wasm: {e}");
    }
    let format = match args.output {
        OutputFormat::Yaml => Format::Yaml,
        OutputFormat::Json => Format::Json,
    };
    let outcome = stream::convert_inputs(&inputs, &opts, format, args.only_converted);
    // The output no longer refers to the inputs: free them before writing.
    drop(inputs);
    // The phase table's notes first, without copying the run's notes.
    let mut notes = outcome.notifications;
    notes.splice(0..0, phase_map_notes(&opts));
    if let Err(e) = write_stdout(&outcome.output) {
        eprintln!("sme2wasm: cannot write the output: {e}");
        return Exit::Usage;
    }
    let allowed = match acknowledge(
        &args.conversion,
        std::path::Path::new("."),
        &[],
        &|name| {
            (name != "<stdin>")
                .then(|| std::fs::read_to_string(name).ok())
                .flatten()
        },
        &mut notes,
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    };
    let counts = Counts::of(&notes);
    let listed = crate::formats::Notes {
        notes: &notes,
        allowed: &allowed,
    };
    let summary = serde_json::json!({
        "converted": outcome.converted,
        "notConverted": outcome.failed,
        "unreadable": outcome.unreadable + read_errors.len(),
        "info": counts.info,
        "warn": counts.warn,
        "error": counts.error,
        "allowed": listed.acknowledged(),
    });
    let _ = crate::formats::emit(
        args.conversion.format,
        &listed,
        args.conversion.quiet,
        &crate::formats::Summary {
            line: None,
            json: summary.clone(),
        },
    );
    if let Some(path) = &args.conversion.report {
        if let Err(e) = write_report(path, &listed, summary) {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    }
    Exit::of(
        read_errors.len() + outcome.unreadable,
        outcome.failed,
        args.conversion.strict && listed.unacknowledged_warnings() > 0,
    )
}

/// Acknowledge warnings (`--allow`, `.sme2wasm.yaml` found from `base`,
/// inline comments); stale allows become WARNs in `notes`.
pub fn acknowledge(
    args: &ConversionArgs,
    base: &std::path::Path,
    also: &[&str],
    text_of: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<Notification>,
) -> Result<Vec<Option<crate::allow::Allowed>>, UsageError> {
    crate::allow::acknowledge(&args.allow, base, also, text_of, notes).map_err(UsageError)
}
