//! Durable writes: replace atomically, or create without ever replacing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::FileError;

/// The directory that holds `path` (`.` for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fsyncs the directory that holds `path`, so that a new name in it is
/// durable.
///
/// # Errors
/// [`FileError::Io`] naming the directory.
pub fn sync_parent_dir(path: &Path) -> Result<(), FileError> {
    let dir = parent(path);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileError::io(&dir, "fsync directory", e))
}

/// A fresh hidden name beside `path`: `.<name>.<16 hex digits>.tmp`.
fn temp_name(path: &Path) -> Result<PathBuf, FileError> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| {
        FileError::io(
            path,
            "choose a temporary name",
            std::io::Error::other(e.to_string()),
        )
    })?;
    let name = path.file_name().ok_or_else(|| {
        FileError::io(
            path,
            "write",
            std::io::Error::other("the path has no file name"),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".");
    tmp.push(tally_encoding::hex::encode(&nonce));
    tmp.push(".tmp");
    Ok(path.with_file_name(tmp))
}

/// Writes a new temporary file beside `path` with permissions `mode`
/// through `write` (buffered) and fsyncs it; returns its name and what
/// `write` returned. Removes it on failure.
fn write_temp_with<T>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> Result<(PathBuf, T), FileError> {
    let tmp = temp_name(path)?;
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            let value = write(&mut out)?;
            let file = out
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
            file.sync_all()?;
            Ok(value)
        });
    match written {
        Ok(value) => Ok((tmp, value)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(FileError::io(path, "write", e))
        }
    }
}

fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FileError> {
    write_temp_with(path, mode, |w| w.write_all(bytes)).map(|(tmp, ())| tmp)
}

/// Replaces `path` with `bytes` (permissions `mode` for a new file) so that
/// a crash at any point leaves either the old content or the new, whole:
/// temporary file in the same directory, fsync, rename over `path`,
/// directory fsync. On an error before the rename `path` is unchanged.
///
/// # Errors
/// [`FileError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError::io(path, "rename into place", e));
    }
    sync_parent_dir(path)
}

/// Replaces `path` atomically, like [`write_atomic`], with what `write`
/// writes (streamed through a buffer, for content too big to hold in
/// memory). An error from `write` leaves `path` unchanged.
///
/// # Errors
/// [`FileError::Io`], carrying `write`'s error.
pub fn write_atomic_with<T>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> Result<T, FileError> {
    let (tmp, value) = write_temp_with(path, mode, write)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError::io(path, "rename into place", e));
    }
    sync_parent_dir(path)?;
    Ok(value)
}

/// Creates `path` with `bytes` as its whole durable content (permissions
/// `mode`), failing if it exists: temporary file, fsync, hard link to `path`
/// (which never replaces), unlink of the temporary, directory fsync. A crash
/// leaves no `path` or a whole one.
///
/// # Errors
/// [`FileError::Exists`] or [`FileError::Io`].
pub fn create_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = write_temp(path, bytes, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| FileError::io(path, "create", e))?;
    sync_parent_dir(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"one", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        write_atomic(&path, b"two, longer", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn create_atomic_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new");
        create_atomic(&path, b"first", 0o600).unwrap();
        assert_eq!(mode(&path), 0o600);
        let err = create_atomic(&path, b"second", 0o600).unwrap_err();
        assert!(matches!(err, FileError::Exists { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("{}: already exists", path.display())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["new"]);
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("f");
        let err = write_atomic(&missing, b"x", 0o600).unwrap_err();
        assert!(matches!(err, FileError::Io { what: "write", .. }), "{err}");
        assert_eq!(names(dir.path()), Vec::<String>::new());
        // A rename onto a directory fails after the temporary was written:
        // the temporary goes, the directory stays.
        let target = dir.path().join("d");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"").unwrap();
        let err = write_atomic(&target, b"x", 0o600).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::Io {
                    what: "rename into place",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(names(dir.path()), ["d"]);
    }
}
