//! The shared output layer of the commands: notifications to stderr, the
//! JSON report, data to stdout.

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
        let _ = writeln!(err, "{n}");
    }
}

/// Write the JSON report.
pub fn write_report(
    path: &std::path::Path,
    notes: &[Notification],
    summary: serde_json::Value,
) -> Result<(), UsageError> {
    let report = serde_json::json!({
        "summary": summary,
        "notifications": notes,
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
