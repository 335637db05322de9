//! Files the Tally crates read and write, done once.
//!
//! * Bounded reading: [`read_bounded`] / [`read_text`] read a whole file but
//!   never more than a bound (`/dev/zero` costs the bound, not memory for
//!   ever); [`Lines`] streams lines bounded per line and in total, naming the
//!   source and the line number in every error.
//! * Durable writes: [`write_atomic`] replaces a file so that a crash leaves
//!   the old or the new content, never a mix (temporary file in the same
//!   directory, fsync, rename, directory fsync); [`create_atomic`] does the
//!   same but never replaces (a hard link, which fails if the name exists).
//! * Private files ([`private`]): secrets in files of mode 0600 in a
//!   directory others cannot write, refused otherwise, held zeroized and
//!   never printed.
//!
//! Every error names the file ([`FileError`]), and nothing is written or
//! allocated past a bound before the bound is checked. Unix only: modes and
//! directory fsync are POSIX.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

mod lines;
pub mod private;
mod write;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use lines::Lines;
pub use write::{create_atomic, sync_parent_dir, write_atomic, write_atomic_with};

/// Why a file could not be read or written; always names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused: `what` was being done.
    Io {
        /// The file (or stream) concerned.
        path: PathBuf,
        /// What was being done ("open", "read", "rename", …).
        what: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file or stream is larger than its bound.
    TooLarge {
        /// The file (or stream) concerned.
        path: PathBuf,
        /// The bound, in bytes.
        max_bytes: u64,
    },
    /// A line is longer than its bound.
    LineTooLong {
        /// The file (or stream) concerned.
        path: PathBuf,
        /// The line's number, from 1.
        line: u64,
        /// The bound, in bytes (without the line ending).
        max_bytes: usize,
    },
    /// The file is not UTF-8 text.
    NotText {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file already exists (a create-only write).
    Exists {
        /// The file concerned.
        path: PathBuf,
    },
    /// A private file that group or others may read or write, or that lies
    /// in a directory they may write.
    NotPrivate {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl FileError {
    pub(crate) fn io(path: &Path, what: &'static str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::AlreadyExists {
            return Self::Exists {
                path: path.to_path_buf(),
            };
        }
        Self::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    }

    /// The file the error is about.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::TooLarge { path, .. }
            | Self::LineTooLong { path, .. }
            | Self::NotText { path }
            | Self::Exists { path }
            | Self::NotPrivate { path, .. } => path,
        }
    }

    /// The kind of I/O error this is, for callers that keep `io::Error`.
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Io { source, .. } => source.kind(),
            Self::TooLarge { .. } | Self::LineTooLong { .. } => io::ErrorKind::FileTooLarge,
            Self::NotText { .. } => io::ErrorKind::InvalidData,
            Self::Exists { .. } => io::ErrorKind::AlreadyExists,
            Self::NotPrivate { .. } => io::ErrorKind::PermissionDenied,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, what, source } => {
                write!(f, "{}: cannot {what}: {source}", path.display())
            }
            Self::TooLarge { path, max_bytes } => {
                write!(f, "{}: larger than {max_bytes} bytes", path.display())
            }
            Self::LineTooLong {
                path,
                line,
                max_bytes,
            } => write!(
                f,
                "{} line {line}: longer than {max_bytes} bytes",
                path.display()
            ),
            Self::NotText { path } => write!(f, "{}: not UTF-8 text", path.display()),
            Self::Exists { path } => write!(f, "{}: already exists", path.display()),
            Self::NotPrivate { path, mode } => write!(
                f,
                "{}: mode {mode:04o} lets group or others in (chmod 600 for a file, 700 for its directory)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// Reads all of `src` (called `path` in errors), refusing it once it passes
/// `max_bytes`: at most `max_bytes + 1` bytes are read, whatever it is.
///
/// # Errors
/// [`FileError::Io`], [`FileError::TooLarge`].
pub fn read_bounded_from(
    src: impl Read,
    path: &Path,
    max_bytes: u64,
) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::new();
    read_limited(src, path, max_bytes, &mut bytes)?;
    Ok(bytes)
}

/// Appends all of `src` to `bytes`, refusing it past `max_bytes`.
pub(crate) fn read_limited(
    src: impl Read,
    path: &Path,
    max_bytes: u64,
    bytes: &mut Vec<u8>,
) -> Result<(), FileError> {
    src.take(max_bytes.saturating_add(1))
        .read_to_end(bytes)
        .map_err(|e| FileError::io(path, "read", e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max_bytes,
        });
    }
    Ok(())
}

/// Reads the whole file at `path`, bounded as [`read_bounded_from`].
///
/// # Errors
/// [`FileError::Io`], [`FileError::TooLarge`].
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let file = File::open(path).map_err(|e| FileError::io(path, "open", e))?;
    read_bounded_from(file, path, max_bytes)
}

/// Reads the whole file at `path` as UTF-8 text, bounded as [`read_bounded`].
///
/// # Errors
/// As [`read_bounded`], and [`FileError::NotText`].
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, max_bytes)?).map_err(|_| FileError::NotText {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_at_the_bound_and_one_past() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        let err = read_bounded(&path, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: larger than 4 bytes", path.display())
        );
        assert_eq!(err.path(), path);
    }

    #[test]
    fn an_endless_source_costs_the_bound() {
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(
            err,
            FileError::TooLarge {
                max_bytes: 1_048_576,
                ..
            }
        ));
    }

    #[test]
    fn errors_name_the_file_and_what_failed() {
        let err = read_text(Path::new("/nonexistent/x"), 10).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/x: cannot open: "),
            "{err}"
        );
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text(&path, 10).unwrap_err().to_string(),
            format!("{}: not UTF-8 text", path.display())
        );
    }
}
