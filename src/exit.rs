//! The exit codes of every command, in one type. README.md's "Exit codes"
//! section documents them; each command's --help repeats its own.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (warnings may have been printed).
    Ok = 0,
    /// Some object could not be converted, an image could not be repacked,
    /// or a plugin does not behave the same (verify); an ERROR says which.
    NotConverted = 1,
    /// A usage error, an input that could not be read or parsed, or (migrate)
    /// a tree not safe to rewrite or a file that could not be written.
    Usage = 2,
    /// With --strict: a WARN was printed.
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
