//! Private files: secret keys and seeds at rest.
//!
//! A private file has mode 0600 (no bit for group or others) and lies in a
//! directory that group and others cannot write (so nobody else can swap it;
//! a sticky directory such as `/tmp` is accepted, as only the owner may
//! rename in it). Reading checks the mode of the open file, not of the path,
//! so the file checked is the file read. The text is held in [`PrivateText`],
//! which is erased when dropped and never printed. Directories made for
//! private files ([`create_dir`]) have mode 0700.

use std::fmt;
use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::FileError;

/// The largest private file: secrets are small, and the buffer for one is
/// allocated whole before reading (so no copy is left behind by a growing
/// buffer).
pub const MAX_PRIVATE_BYTES: u64 = 64 * 1024;

/// The text of a private file: erased on drop, never printed.
pub struct PrivateText(Zeroizing<String>);

impl PrivateText {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateText(<redacted>)")
    }
}

/// Mode bits a private file may not have (any access by group or others).
const FILE_FORBIDDEN: u32 = 0o077;
/// Mode bits its directory may not have (write by group or others), unless
/// the directory is sticky.
const DIR_FORBIDDEN: u32 = 0o022;
const STICKY: u32 = 0o1000;

fn check_dir(path: &Path) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(dir).map_err(|e| FileError::io(dir, "inspect", e))?;
    let mode = meta.permissions().mode();
    if mode & DIR_FORBIDDEN != 0 && mode & STICKY == 0 {
        return Err(FileError::NotPrivate {
            path: dir.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Reads the private file at `path`: a regular file of mode 0600 (or
/// stricter) in a directory others cannot write, at most `max_bytes` bytes
/// (itself at most [`MAX_PRIVATE_BYTES`]) of UTF-8 text.
///
/// # Errors
/// [`FileError::NotPrivate`] for a file or directory others may use,
/// [`FileError::TooLarge`], [`FileError::NotText`], [`FileError::Io`].
pub fn read(path: &Path, max_bytes: u64) -> Result<PrivateText, FileError> {
    let max_bytes = max_bytes.min(MAX_PRIVATE_BYTES);
    check_dir(path)?;
    let file = File::open(path).map_err(|e| FileError::io(path, "open", e))?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::io(path, "inspect", e))?;
    if !meta.is_file() {
        return Err(FileError::io(
            path,
            "read",
            std::io::Error::other("not a regular file"),
        ));
    }
    let mode = meta.permissions().mode();
    if mode & FILE_FORBIDDEN != 0 {
        return Err(FileError::NotPrivate {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    // The whole buffer up front (bounded above), so reading never moves the
    // secret and leaves a copy in freed memory.
    let capacity = usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    crate::read_limited(file, path, max_bytes, &mut bytes)?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(FileError::NotText {
            path: path.to_path_buf(),
        });
    }
    let vec = std::mem::take(&mut *bytes);
    // Checked just above; the buffer moves into the String without a copy.
    let text = String::from_utf8(vec).unwrap_or_default();
    Ok(PrivateText(Zeroizing::new(text)))
}

/// Creates the private file `path` with `bytes`, mode 0600, durably, never
/// replacing an existing file, in a directory others cannot write.
///
/// # Errors
/// [`FileError::NotPrivate`] for the directory, [`FileError::Exists`],
/// [`FileError::Io`].
pub fn create(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    check_dir(path)?;
    crate::create_atomic(path, bytes, 0o600)
}

/// Replaces the private file `path` with `bytes` atomically (mode 0600), in
/// a directory others cannot write.
///
/// # Errors
/// [`FileError::NotPrivate`] for the directory, [`FileError::Io`].
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    check_dir(path)?;
    crate::write_atomic(path, bytes, 0o600)
}

/// Creates the directory `path` (and missing parents) with mode 0700.
///
/// # Errors
/// [`FileError::Io`].
pub fn create_dir(path: &Path) -> Result<(), FileError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| FileError::io(path, "create directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_private_file_round_trips_and_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create(&path, b"secret-key-text\n").unwrap();
        let text = read(&path, 100).unwrap();
        assert_eq!(text.as_str(), "secret-key-text\n");
        assert_eq!(format!("{text:?}"), "PrivateText(<redacted>)");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        replace(&path, b"next").unwrap();
        assert_eq!(read(&path, 100).unwrap().as_str(), "next");
        assert!(matches!(
            create(&path, b"again"),
            Err(FileError::Exists { .. })
        ));
    }

    #[test]
    fn any_bit_for_group_or_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create(&path, b"k").unwrap();
        for bit in [0o040, 0o020, 0o010, 0o004, 0o002, 0o001] {
            chmod(&path, 0o600 | bit);
            let err = read(&path, 100).unwrap_err();
            assert!(
                matches!(err, FileError::NotPrivate { mode, .. } if mode == 0o600 | bit),
                "{bit:o}: {err}"
            );
        }
        chmod(&path, 0o400);
        assert_eq!(read(&path, 100).unwrap().as_str(), "k");
        chmod(&path, 0o644);
        assert_eq!(
            read(&path, 100).unwrap_err().to_string(),
            format!(
                "{}: mode 0644 lets group or others in (chmod 600 for a file, 700 for its directory)",
                path.display()
            )
        );
    }

    #[test]
    fn a_directory_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("keys");
        create_dir(&sub).unwrap();
        assert_eq!(
            std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let path = sub.join("key");
        create(&path, b"k").unwrap();
        chmod(&sub, 0o770);
        assert!(matches!(
            read(&path, 100),
            Err(FileError::NotPrivate { mode: 0o770, .. })
        ));
        assert!(matches!(
            create(&sub.join("other"), b"k"),
            Err(FileError::NotPrivate { .. })
        ));
        chmod(&sub, 0o1777);
        assert_eq!(read(&path, 100).unwrap().as_str(), "k");
        chmod(&sub, 0o755);
        assert_eq!(read(&path, 100).unwrap().as_str(), "k");
    }

    #[test]
    fn private_files_are_bounded_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create(&path, &[b'k'; 101]).unwrap();
        assert!(matches!(
            read(&path, 100),
            Err(FileError::TooLarge { max_bytes: 100, .. })
        ));
        // The bound is capped whatever the caller asks.
        let big = dir.path().join("big");
        create(&big, &vec![b'k'; 70_000]).unwrap();
        assert!(matches!(
            read(&big, u64::MAX),
            Err(FileError::TooLarge {
                max_bytes: MAX_PRIVATE_BYTES,
                ..
            })
        ));
        let bin = dir.path().join("bin");
        create(&bin, &[0xff]).unwrap();
        assert!(matches!(read(&bin, 100), Err(FileError::NotText { .. })));
        assert!(read(dir.path(), 100).is_err());
    }
}
