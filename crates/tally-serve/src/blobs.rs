//! Content-addressed blobs (`POST /v1/blobs`, `GET /v1/blobs/{cid}`): the
//! rewarder's epoch inputs, and anything else a run names by content id.
//!
//! * The content id is tally-reward's ([`tally_reward::cid::Cid`]: CIDv1,
//!   raw, BLAKE3-256), computed by the server over the bytes it received;
//!   a client may state the id it expects (`?cid=`), and bytes that do not
//!   match it are refused (`400`, `rejected_total{reason="cid_mismatch"}`).
//! * An upload is streamed: each frame of the body is hashed and written
//!   to a staging file in the blobs directory as it arrives (the
//!   workspace's atomic write, [`tally_files::write_atomic_with`]: fsync,
//!   rename, directory fsync), under its own cap, `BLOB_MAX`
//!   ([`crate::config`]'s `REQ_BODY_MAX` does not apply to this route);
//!   past the cap the upload stops with `413` and nothing is kept.
//! * A blob is stored once: the staging file is hard-linked to
//!   `blobs/<cid>` (a link never replaces), then removed; a second upload
//!   of the same bytes finds the blob there and answers `created: false`.
//! * Reading checks the bytes against their id again: a file changed on
//!   disk is never served (`500`, counted in `storage_errors_total`).

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use tally_reward::cid::Cid;

/// The default cap of one blob, bytes (64 MiB).
pub const BLOB_MAX: usize = 64 << 20;

/// What a blob operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The body is over `BLOB_MAX`.
    #[error("the blob is over its cap")]
    TooLarge,
    /// The bytes are not those of the content id the client gave.
    #[error("the bytes do not match the content id given")]
    Mismatch,
    /// The body could not be read (the client went away).
    #[error("the body could not be read")]
    Body,
    /// The file system.
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// The staging file could not be linked into place.
    #[error("a blob could not be linked into place")]
    Link(std::io::Error),
    /// A stored blob does not match its id (changed on disk).
    #[error("a stored blob does not match its content id")]
    Corrupt,
}

/// The blobs directory.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    max: usize,
}

const STAGING_PREFIX: &str = "staging-";

enum Piece {
    Data(Bytes),
    End,
}

impl Blobs {
    /// Opens (creates, 0700) the directory; removes staging files a crash
    /// left behind.
    ///
    /// # Errors
    /// [`tally_files::FileError`].
    pub fn open(dir: &Path, max: usize) -> Result<Self, tally_files::FileError> {
        tally_files::private::create_dir(dir)?;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let stale = name.to_str().is_some_and(|n| {
                    n.starts_with(STAGING_PREFIX) || (n.starts_with('.') && n.ends_with(".tmp"))
                });
                if stale {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max,
        })
    }

    /// The cap of one blob.
    #[must_use]
    pub fn max(&self) -> usize {
        self.max
    }

    fn path(&self, cid: &Cid) -> PathBuf {
        self.dir.join(cid.to_string())
    }

    /// The blob `cid` to read as it streams, without holding it
    /// ([`Blobs::get`] reads it whole): every byte read is hashed, and
    /// [`BlobReader::finish`] reads the rest and checks that the bytes were
    /// exactly the blob's. Nothing read may be trusted before `finish`
    /// returns `Ok`.
    ///
    /// # Errors
    /// [`BlobError::File`] when the blob cannot be opened.
    pub fn reader(&self, cid: &Cid) -> Result<Option<BlobReader>, BlobError> {
        let path = self.path(cid);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(BlobError::File(tally_files::FileError::Io {
                    path,
                    what: "open",
                    source,
                }));
            }
        };
        Ok(Some(BlobReader {
            file: std::io::Read::take(file, (self.max as u64).saturating_add(1)),
            hasher: blake3::Hasher::new(),
            read: 0,
            max: self.max as u64,
            failed: None,
            cid: *cid,
            path,
        }))
    }

    /// Streams `body` into the store; its content id, size, and whether it
    /// was new.
    ///
    /// # Errors
    /// [`BlobError`]; nothing is kept on an error.
    pub async fn put(
        &self,
        body: Body,
        expected: Option<Cid>,
    ) -> Result<(Cid, u64, bool), BlobError> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|_| BlobError::Body)?;
        let staging = self.dir.join(format!(
            "{STAGING_PREFIX}{}",
            tally_encoding::hex::encode(&nonce)
        ));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(8);
        let target = staging.clone();
        // The writer: hashes and writes each piece as it comes; without
        // `End` (the reader stopped: over the cap, a broken body) the
        // write fails and the helper removes its temporary file.
        let writer = tokio::task::spawn_blocking(move || {
            tally_files::write_atomic_with(&target, 0o600, |out| {
                let mut hasher = blake3::Hasher::new();
                let mut size: u64 = 0;
                loop {
                    match rx.blocking_recv() {
                        Some(Piece::Data(b)) => {
                            hasher.update(&b);
                            out.write_all(&b)?;
                            size = size.saturating_add(b.len() as u64);
                        }
                        Some(Piece::End) => break,
                        None => return Err(std::io::Error::other("the upload stopped")),
                    }
                }
                Ok((*hasher.finalize().as_bytes(), size))
            })
        });
        let read = self.feed(body, &tx).await;
        if read.is_ok() {
            let _ = tx.send(Piece::End).await;
        }
        drop(tx);
        let written = writer.await.map_err(|_| BlobError::Body);
        read?;
        let (digest, size) = written??;
        let cid: Cid = Cid::from_digest(digest);
        if expected.is_some_and(|e| e != cid) {
            let _ = std::fs::remove_file(&staging);
            return Err(BlobError::Mismatch);
        }
        let path = self.path(&cid);
        let created = match std::fs::hard_link(&staging, &path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => {
                let _ = std::fs::remove_file(&staging);
                return Err(BlobError::Link(e));
            }
        };
        let _ = std::fs::remove_file(&staging);
        tally_files::sync_parent_dir(&path)?;
        Ok((cid, size, created))
    }

    async fn feed(
        &self,
        mut body: Body,
        tx: &tokio::sync::mpsc::Sender<Piece>,
    ) -> Result<(), BlobError> {
        let mut total: usize = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BlobError::Body)?;
            if let Ok(data) = frame.into_data() {
                total = total.saturating_add(data.len());
                if total > self.max {
                    return Err(BlobError::TooLarge);
                }
                if tx.send(Piece::Data(data)).await.is_err() {
                    return Err(BlobError::Body);
                }
            }
        }
        Ok(())
    }

    /// Stores `bytes` (already whole in memory) under their content id.
    ///
    /// # Errors
    /// [`BlobError`].
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Cid, bool), BlobError> {
        if bytes.len() > self.max {
            return Err(BlobError::TooLarge);
        }
        let cid = Cid::of(bytes);
        let path = self.path(&cid);
        match tally_files::create_atomic(&path, bytes, 0o600) {
            Ok(()) => Ok((cid, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((cid, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes of `cid`, checked against it; `None` when not stored.
    ///
    /// # Errors
    /// [`BlobError::Corrupt`], [`BlobError::File`].
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(cid);
        let bytes = match tally_files::read_bounded(&path, self.max as u64) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if Cid::of(&bytes) != *cid {
            return Err(BlobError::Corrupt);
        }
        Ok(Some(bytes))
    }
}

/// A stored blob streaming from disk, hashed as it is read
/// ([`Blobs::reader`]).
#[derive(Debug)]
pub struct BlobReader {
    file: std::io::Take<std::fs::File>,
    hasher: blake3::Hasher,
    read: u64,
    max: u64,
    /// The first read error, kept for [`BlobReader::finish`].
    failed: Option<std::io::ErrorKind>,
    cid: Cid,
    path: PathBuf,
}

impl std::io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.hasher.update(buf.get(..n).unwrap_or(&[]));
                self.read = self.read.saturating_add(n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.failed.get_or_insert(e.kind());
                }
                Err(e)
            }
        }
    }
}

impl BlobReader {
    /// Reads what the consumer left, and checks that all the bytes read
    /// were exactly the blob's: its size within the cap and its BLAKE3
    /// digest the content id's.
    ///
    /// # Errors
    /// [`BlobError::File`] for a read error (the consumer's or this one's)
    /// or a blob over the cap, [`BlobError::Corrupt`] when the bytes are not
    /// the content id's.
    pub fn finish(mut self) -> Result<(), BlobError> {
        let mut rest = vec![0u8; 64 << 10];
        loop {
            match std::io::Read::read(&mut self, &mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if let Some(kind) = self.failed {
            return Err(BlobError::File(tally_files::FileError::Io {
                path: self.path,
                what: "read",
                source: kind.into(),
            }));
        }
        if self.read > self.max {
            return Err(BlobError::File(tally_files::FileError::TooLarge {
                path: self.path,
                max_bytes: self.max,
            }));
        }
        if Cid::from_digest(*self.hasher.finalize().as_bytes()) != self.cid {
            return Err(BlobError::Corrupt);
        }
        Ok(())
    }
}
