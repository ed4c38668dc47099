//! Notifications: what the tool tells the user about each object, on stderr
//! and in the JSON report. Every notification names its object and where it
//! came from, says what happened and what to do.

pub mod catalogue;

pub use catalogue::Code;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the level words printed on stderr are coloured (`--color`).
static COLOR: AtomicBool = AtomicBool::new(false);

/// Decide colour once, from `--color` and the environment: `auto` (`None`)
/// colours only a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (no-color.org); `always` (`Some(true)`) and `never`
/// (`Some(false)`) override both.
pub fn set_color(choice: Option<bool>) {
    use std::io::IsTerminal;
    COLOR.store(
        color_wanted(
            choice,
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::io::stderr().is_terminal(),
        ),
        Ordering::Relaxed,
    );
}

/// The colour decision, without the environment.
pub fn color_wanted(choice: Option<bool>, no_color: bool, terminal: bool) -> bool {
    choice.unwrap_or(terminal && !no_color)
}

/// Whether colour is on (after `set_color`).
pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// How serious a notification is. `Error` means the object was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    /// The SGR colour of the level word: ERROR red, WARN yellow, INFO cyan
    /// (bold, as compilers do).
    fn sgr(self) -> &'static str {
        match self {
            Level::Info => "1;36",
            Level::Warn => "1;33",
            Level::Error => "1;31",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        })
    }
}

/// A position in an input: a file (or `<stdin>`) and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Source {
    pub file: String,
    pub line: usize,
    /// 1-based column, where the parser knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Source {
    pub fn new(file: impl Into<String>, line: usize) -> Self {
        Source {
            file: file.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A file name can hold a newline: quoted, it cannot forge a line.
        write!(f, "{}:{}", crate::fsutil::quote_path(&self.file), self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
    }
}

/// One thing the user must know about one object (or one input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub level: Level,
    /// The rule of the catalogue it follows (`W104`); its level is `level`.
    pub code: Code,
    /// `namespace/name` (or `name` without a namespace), or an image
    /// reference; empty when the notification is about an input as a whole.
    pub object: String,
    pub source: Option<Source>,
    /// Most messages and advice are fixed texts: borrowed, not copied into
    /// every notification of a large run.
    pub message: Cow<'static, str>,
    /// What to do about it; empty when nothing needs doing.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub advice: Cow<'static, str>,
}

impl Notification {
    /// A notification following the catalogue's rule `code`, at its level.
    pub fn new(
        code: Code,
        object: impl Into<String>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Notification {
            level: code.level(),
            code,
            object: object.into(),
            source: None,
            message: message.into(),
            advice: Cow::Borrowed(""),
        }
    }
    pub fn at(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }
    pub fn advice(mut self, advice: impl Into<Cow<'static, str>>) -> Self {
        self.advice = advice.into();
        self
    }
}

/// A notification as printed on stderr: its level word coloured when
/// colour is on (`set_color`).
pub struct Painted<'a>(&'a Notification, bool);

impl Notification {
    /// The line to print, coloured when colour is on.
    pub fn painted(&self) -> Painted<'_> {
        Painted(self, color())
    }
    /// The line to print, coloured or not.
    pub fn painted_with(&self, color: bool) -> Painted<'_> {
        Painted(self, color)
    }
}

impl fmt::Display for Painted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, self.1)
    }
}

impl fmt::Display for Notification {
    /// `file:line: LEVEL[CODE] ns/name: message; advice` — one line, in the
    /// form compilers use, so editors and grep can follow it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl Notification {
    fn write(&self, f: &mut fmt::Formatter<'_>, color: bool) -> fmt::Result {
        if let Some(s) = &self.source {
            write!(f, "{s}: ")?;
        }
        if color {
            write!(f, "\x1b[{}m{}\x1b[0m", self.level.sgr(), self.level)?;
        } else {
            write!(f, "{}", self.level)?;
        }
        write!(f, "[{}]", self.code)?;
        if !self.object.is_empty() {
            write!(f, " {}", self.object)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.advice.is_empty() {
            write!(f, "; {}", self.advice)?;
        }
        Ok(())
    }
}

/// Counts by level, for summaries and exit codes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub info: usize,
    pub warn: usize,
    pub error: usize,
}

impl Counts {
    pub fn of(notes: &[Notification]) -> Counts {
        let mut c = Counts::default();
        for n in notes {
            match n.level {
                Level::Info => c.info += 1,
                Level::Warn => c.warn += 1,
                Level::Error => c.error += 1,
            }
        }
        c
    }
}
