//! `sme2wasm convert`: read inputs, convert them, print the output, the
//! notifications and the report.

use crate::cli::{options, ConvertArgs, OutputFormat};
use crate::conversion::convert::phase_map_notes;
use crate::conversion::stream::{self, Format};
use crate::exit::Exit;
use crate::notify::Counts;
use crate::output::{acknowledge, write_report};

pub fn run(args: ConvertArgs) -> Exit {
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
    let mut outcome = stream::convert_inputs(&inputs, &opts, format, args.only_converted);
    // The output no longer refers to the inputs: free them before writing.
    drop(inputs);
    // The phase table's notes first, without copying the run's notes.
    let mut notes = std::mem::take(&mut outcome.notifications);
    notes.splice(0..0, phase_map_notes(&opts));
    if let Err(e) = crate::output::write_stdout_with(|w| outcome.write_output(w)) {
        eprintln!("sme2wasm: cannot write the output: {e}");
        return Exit::Usage;
    }
    // Written: free it before the inputs are read again for inline allows.
    drop(std::mem::take(&mut outcome.output));
    drop(outcome.spooled.take());
    let allowed = match acknowledge(
        &args.conversion,
        std::path::Path::new("."),
        &[],
        &|name| crate::allow::marked_file_text(name),
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
