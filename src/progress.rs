//! Progress on long runs, drawn on stderr only when stderr is a terminal:
//! on a pipe or in a file (CI logs, `2> log`) nothing is drawn, so that
//! the notifications stay one per line.

use std::io::IsTerminal;

/// A progress bar or spinner, or nothing when stderr is not a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Whether progress is drawn at all: stderr is a terminal.
    pub fn enabled() -> bool {
        std::io::stderr().is_terminal()
    }

    /// A counter of unknown length: `{pos} {unit} {msg}`.
    pub fn spinner(unit: &str) -> Progress {
        Progress::with(None, &format!("{{spinner}} {{pos}} {unit} {{msg}}"))
    }

    /// A bar of `len` steps: `[####    ] {pos}/{len} {unit}`.
    pub fn bar(len: usize, unit: &str) -> Progress {
        Progress::with(
            Some(len as u64),
            &format!("{{bar:30}} {{pos}}/{{len}} {unit}"),
        )
    }

    fn with(len: Option<u64>, template: &str) -> Progress {
        if !Progress::enabled() {
            return Progress(None);
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        // The first state drawn at once: a short run still shows it.
        bar.tick();
        Progress(Some(bar))
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    pub fn set_length(&self, len: usize) {
        if let Some(b) = &self.0 {
            b.set_length(len as u64);
        }
    }

    /// Remove the progress line (the notifications and summary follow).
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
