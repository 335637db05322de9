//! Unix-socket mode (`--unix-socket PATH`, seed 004 §15 "prefer UDS"):
//! the service listens on a Unix socket instead of TCP.
//!
//! * The socket's directory is created with mode 0700; an existing one is
//!   refused unless it is a directory owned by this process's user with no
//!   bit for group or others ([`UnixError::LooseDirectory`]).
//! * The socket file is made mode 0600 right after `bind` (the private
//!   directory keeps everyone else out of the window between the two). A
//!   socket left by a previous run is replaced; any other file at the path
//!   is refused.
//! * Every connection's peer is read from the kernel (`SO_PEERCRED`, via
//!   tokio's safe `UnixStream::peer_cred`) as soon as it is accepted; a
//!   peer whose uid is not on the allow-list (`--unix-allow-uid`, default:
//!   the server's own uid, read as the owner of the socket it just made) is
//!   closed before a byte of HTTP is read, and logged.
//! * TLS is refused with a Unix socket (the peer is local and known by its
//!   uid).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// How to listen on a Unix socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixSocket {
    /// The socket's path.
    pub path: PathBuf,
    /// The uids that may connect; empty: the server's own uid only.
    pub allow_uids: Vec<u32>,
}

/// Why the Unix socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum UnixError {
    /// The socket's directory lets group or others in, is not a directory,
    /// or belongs to another user.
    #[error("{path}: {what} (the socket's directory must be a 0700 directory of this user)")]
    LooseDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Something other than a socket is at the path.
    #[error("{0}: exists and is not a socket")]
    NotASocket(PathBuf),
    /// The operating system.
    #[error("{path}: cannot {what}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// TLS was asked for too.
    #[error("TLS is not served on a Unix socket")]
    Tls,
}

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> UnixError {
    let path = path.to_path_buf();
    move |source| UnixError::Io { path, what, source }
}

/// Binds the socket; the listener and the uids allowed to connect.
///
/// # Errors
/// [`UnixError`].
pub fn bind(config: &UnixSocket) -> Result<(UnixListener, Vec<u32>), UnixError> {
    let path = &config.path;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let loose = |what: String| UnixError::LooseDirectory {
        path: dir.clone(),
        what,
    };
    match std::fs::symlink_metadata(&dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(loose("not a directory".to_owned()));
            }
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(loose(format!("mode {mode:04o}")));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tally_files::private::create_dir(&dir).map_err(|e| loose(e.to_string()))?;
        }
        Err(e) => return Err(io(&dir, "inspect")(e)),
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            std::fs::remove_file(path).map_err(io(path, "remove the old socket"))?;
        }
        Ok(_) => return Err(UnixError::NotASocket(path.clone())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path, "inspect")(e)),
    }
    let listener = UnixListener::bind(path).map_err(io(path, "bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(path, "chmod 0600"))?;
    // The socket was just made by this process: its owner is our uid.
    let own = std::fs::symlink_metadata(path)
        .map_err(io(path, "inspect"))?
        .uid();
    let dir_owner = std::fs::symlink_metadata(&dir)
        .map_err(io(&dir, "inspect"))?
        .uid();
    if dir_owner != own {
        let _ = std::fs::remove_file(path);
        return Err(loose(format!("owned by uid {dir_owner}, not {own}")));
    }
    let allow = if config.allow_uids.is_empty() {
        vec![own]
    } else {
        config.allow_uids.clone()
    };
    Ok((listener, allow))
}
