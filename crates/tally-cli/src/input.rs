//! Reading the command line's inputs, and how a command ends.
//!
//! Every file and stream the CLI reads goes through this module (the
//! workspace's bounded readers, in `tally-files`), bounded twice: per line (a
//! stream of lines) or per file, and in total. A source is
//! refused as soon as it passes a bound, before more of it is read or held,
//! so `/dev/zero` or an endless pipe costs at most the bound, and the error
//! names the source and the bound. Nothing is written before the input that
//! drives the write has been read and checked whole.
//!
//! Exit codes, for every subcommand: `0` success; `1` the operation ran and
//! found a failure (a verification that did not check, a refused charge);
//! `2` bad usage or bad input (a missing or malformed file, a value out of
//! range, a missing key); `3` a forensic check ran and found what it looks
//! for (`tally reward diff`: the run does not recompute to its manifest;
//! `tally reward duplicate-intents`: an intent paid twice).

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

pub(crate) use tally_files::{FileError, Lines};

/// Why a command stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or bad input: exit 2.
    Usage(String),
    /// The operation ran and found a failure: exit 1.
    Failed(String),
    /// A forensic check ran and found a difference or a duplicate: exit 3.
    Found(String),
}

impl Failure {
    /// Bad usage or bad input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// A failed operation (exit 1).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// An I/O error on `path`, named.
    pub(crate) fn io(path: &Path, error: &std::io::Error) -> Self {
        Self::Usage(format!("{}: {error}", path.display()))
    }

    /// Bad input read from `path`: the message names the file (a failed
    /// check is left as it is).
    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Usage(m) => Self::Usage(format!("{}: {m}", path.display())),
            failed => failed,
        }
    }

    /// The exit code of this failure.
    pub(crate) fn code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Failed(_) => ExitCode::from(1),
            Self::Found(_) => ExitCode::from(3),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) | Self::Found(m) => f.write_str(m),
        }
    }
}

/// Ends a command: prints a failure on stderr after `prefix` and returns the
/// exit code.
pub(crate) fn finish(prefix: &str, outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{prefix}: {failure}");
            failure.code()
        }
    }
}

impl From<tally_keys::KeyError> for Failure {
    /// A signature that does not check, or by an untrusted key, is a failed
    /// check; a bad key or key file is bad input.
    fn from(e: tally_keys::KeyError) -> Self {
        use tally_keys::KeyError;
        match e {
            KeyError::UntrustedKey { .. } | KeyError::BadSignature { .. } => {
                Self::Failed(e.to_string())
            }
            other => Self::Usage(other.to_string()),
        }
    }
}

impl From<FileError> for Failure {
    /// A file that cannot be read, or is larger than its bound, is bad input.
    fn from(e: FileError) -> Self {
        Self::Usage(e.to_string())
    }
}

/// Reads the whole file at `path`, refusing it once it passes `max_bytes`
/// (at most `max_bytes + 1` bytes are read, whatever the file is).
pub(crate) fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Failure> {
    Ok(tally_files::read_bounded(path, max_bytes)?)
}

/// Reads the whole file at `path` as UTF-8 text, bounded as [`read_file`].
pub(crate) fn read_text(path: &Path, max_bytes: u64) -> Result<String, Failure> {
    Ok(tally_files::read_text(path, max_bytes)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// The bounds themselves are tally-files' (tested there); here: every
    /// refusal is bad input (exit 2) and names the file.
    #[test]
    fn file_errors_are_usage_errors_naming_the_file() {
        let e = read_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, Failure::Usage(_)));
        assert_eq!(e.to_string(), "/dev/zero: larger than 1048576 bytes");
        let e = read_text(Path::new("/nonexistent/f"), 4).unwrap_err();
        assert!(matches!(e, Failure::Usage(_)));
        assert!(
            e.to_string().starts_with("/nonexistent/f: cannot open: "),
            "{e}"
        );
    }
}
