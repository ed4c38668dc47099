//! The shared output layer of the commands: notifications to stderr, the
//! JSON report, data to stdout, and acknowledging warnings (`allow`) before
//! they are printed in the chosen format (`formats`).

use crate::exit::{Exit, UsageError};
use crate::notify::{Level, Notification};
use std::io::Write;

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

/// Write to stdout through `write`; a closed pipe (`| head`) is no error.
pub fn write_stdout_with(
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match write(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The exit code of a write to stdout.
pub fn printed(r: std::io::Result<()>) -> Exit {
    match r {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("sme2wasm: cannot write to stdout: {e}");
            Exit::Usage
        }
    }
}

/// Acknowledge warnings (`--allow`, `.sme2wasm.yaml` found from `base`,
/// inline comments); stale allows become WARNs in `notes`.
pub fn acknowledge(
    args: &crate::cli::ConversionArgs,
    base: &std::path::Path,
    also: &[&str],
    text_of: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<Notification>,
) -> Result<Vec<Option<crate::allow::Allowed>>, UsageError> {
    crate::allow::acknowledge(&args.allow, base, also, text_of, notes).map_err(UsageError)
}
