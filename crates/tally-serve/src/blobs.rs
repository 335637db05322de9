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
//! * The store is a [`Vault`]: with an at-rest key every blob is sealed
//!   as it streams ([`crate::vault`]; the content id stays that of the
//!   plaintext, and a sealed blob that does not open is never served); in
//!   amnesia the blobs live in memory only.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use tally_reward::cid::Cid;

use crate::vault::{BLOB_CONTEXT, Vault, VaultError};

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
    /// The database (PostgreSQL mode) did not answer, or holds a blob
    /// over this process's cap.
    #[error("blob store: {0}")]
    Database(String),
    /// A stored blob does not match its id (changed on disk).
    #[error("a stored blob does not match its content id")]
    Corrupt,
    /// A sealed blob that does not open (altered, or under a key the
    /// keyring lacks).
    #[error(transparent)]
    AtRest(#[from] crate::vault::AtRestError),
}

impl From<VaultError> for BlobError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::File(f) => Self::File(f),
            VaultError::AtRest(a) => Self::AtRest(a),
            VaultError::TooLarge(_) => Self::TooLarge,
        }
    }
}

/// The blobs of a vault (`blobs/`).
#[derive(Debug)]
pub struct Blobs {
    vault: Arc<Vault>,
    max: usize,
}

const DIR: &str = "blobs";

const STAGING_PREFIX: &str = "staging-";

enum Piece {
    Data(Bytes),
    End,
}

/// Hashes and writes each piece as it comes, until `End`.
fn pump(
    rx: &mut tokio::sync::mpsc::Receiver<Piece>,
    out: &mut dyn Write,
) -> std::io::Result<([u8; 32], u64)> {
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
}

impl Blobs {
    /// Opens (creates, 0700) `blobs/` in the vault; removes staging files
    /// a crash left behind.
    ///
    /// # Errors
    /// [`tally_files::FileError`].
    pub fn open(vault: Arc<Vault>, max: usize) -> Result<Self, BlobError> {
        vault.create_dir(DIR)?;
        if let Some((root, _)) = vault.disk_parts()
            && let Ok(entries) = std::fs::read_dir(root.join(DIR))
        {
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
        Ok(Self { vault, max })
    }

    /// The blobs of `vault` to read only: nothing is created or removed
    /// (a store another process may be writing; forensics).
    #[must_use]
    pub fn read_only(vault: Arc<Vault>, max: usize) -> Self {
        Self { vault, max }
    }

    /// The content ids of the stored blobs (staging files aside), in no
    /// particular order.
    #[must_use]
    pub fn list(&self) -> Vec<Cid> {
        self.vault
            .list(DIR)
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect()
    }

    /// The cap of one blob.
    #[must_use]
    pub fn max(&self) -> usize {
        self.max
    }

    fn rel(cid: &Cid) -> String {
        format!("{DIR}/{cid}")
    }

    /// The blob `cid` to read as it streams, without holding it
    /// ([`Blobs::get`] reads it whole): every byte read is hashed, and
    /// [`BlobReader::finish`] reads the rest and checks that the bytes were
    /// exactly the blob's. Nothing read may be trusted before `finish`
    /// returns `Ok`.
    ///
    /// # Errors
    /// [`BlobError::File`] when the blob cannot be opened.
    ///
    /// A plain store streams the file; a sealed store (or memory) opens
    /// the whole blob first (every chunk authenticated, at most `BLOB_MAX`
    /// bytes held), then streams it from memory.
    pub fn reader(&self, cid: &Cid) -> Result<Option<BlobReader>, BlobError> {
        let rel = Self::rel(cid);
        let (path, src): (PathBuf, Box<dyn std::io::Read + Send>) = match self.vault.disk_parts() {
            Some((root, None)) => {
                let path = root.join(&rel);
                match std::fs::File::open(&path) {
                    Ok(f) => (path, Box::new(f)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => {
                        return Err(BlobError::File(tally_files::FileError::Io {
                            path,
                            what: "open",
                            source,
                        }));
                    }
                }
            }
            _ => {
                let bytes = self.vault.read(&rel, self.max as u64)?;
                return Ok(bytes.map(|b| BlobReader::from_bytes(*cid, b, self.max, &rel)));
            }
        };
        Ok(Some(BlobReader::over(src, *cid, self.max, path)))
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
        let Some((root, keys)) = self.vault.disk_parts() else {
            // Amnesia: the body in memory (bounded by the cap as it comes).
            let (all, cid) = collect_capped(body, self.max).await?;
            if expected.is_some_and(|e| e != cid) {
                return Err(BlobError::Mismatch);
            }
            let created = self.vault.create(&Self::rel(&cid), &all)?;
            return Ok((cid, all.len() as u64, created));
        };
        let dir = root.join(DIR);
        let keys = keys.cloned();
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|_| BlobError::Body)?;
        let staging = dir.join(format!(
            "{STAGING_PREFIX}{}",
            tally_encoding::hex::encode(&nonce)
        ));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(8);
        let target = staging.clone();
        // The writer: hashes and writes each piece as it comes; without
        // `End` (the reader stopped: over the cap, a broken body) the
        // write fails and the helper removes its temporary file.
        let writer = tokio::task::spawn_blocking(move || {
            tally_files::write_atomic_with(&target, 0o600, |out| match &keys {
                Some(k) => {
                    let mut sealer = k.sealer(BLOB_CONTEXT, out).map_err(std::io::Error::other)?;
                    let done = pump(&mut rx, &mut sealer)?;
                    sealer.finish()?;
                    Ok(done)
                }
                None => pump(&mut rx, out),
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
        let path = dir.join(cid.to_string());
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
        let created = self.vault.create(&Self::rel(&cid), bytes)?;
        Ok((cid, created))
    }

    /// The bytes of `cid`, checked against it; `None` when not stored.
    ///
    /// # Errors
    /// [`BlobError::Corrupt`], [`BlobError::AtRest`], [`BlobError::File`].
    pub fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlobError> {
        let Some(bytes) = self.vault.read(&Self::rel(cid), self.max as u64)? else {
            return Ok(None);
        };
        if Cid::of(&bytes) != *cid {
            return Err(BlobError::Corrupt);
        }
        Ok(Some(bytes))
    }
}

/// The whole body in memory, hashed as each frame arrives, refused as
/// soon as it is over `max` bytes (amnesia, and PostgreSQL, whose row takes
/// the blob in one value): the bytes and their content id.
///
/// # Errors
/// [`BlobError::TooLarge`], [`BlobError::Body`].
pub(crate) async fn collect_capped(
    mut body: Body,
    max: usize,
) -> Result<(Vec<u8>, Cid), BlobError> {
    let mut all: Vec<u8> = Vec::new();
    let mut hasher = blake3::Hasher::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BlobError::Body)?;
        if let Ok(data) = frame.into_data() {
            if all.len().saturating_add(data.len()) > max {
                return Err(BlobError::TooLarge);
            }
            hasher.update(&data);
            all.extend_from_slice(&data);
        }
    }
    Ok((all, Cid::from_digest(*hasher.finalize().as_bytes())))
}

/// A stored blob streaming from disk, hashed as it is read
/// ([`Blobs::reader`]).
pub struct BlobReader {
    file: std::io::Take<Box<dyn std::io::Read + Send>>,
    hasher: blake3::Hasher,
    read: u64,
    max: u64,
    /// The first read error, kept for [`BlobReader::finish`].
    failed: Option<std::io::ErrorKind>,
    cid: Cid,
    path: PathBuf,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("cid", &self.cid)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
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
    /// A reader over a blob already in memory (a sealed or amnesiac
    /// vault's, or a database row's; `source` names it in errors),
    /// checked by [`BlobReader::finish`] like a file.
    pub(crate) fn from_bytes(cid: Cid, bytes: Vec<u8>, max: usize, source: &str) -> Self {
        Self::over(
            Box::new(std::io::Cursor::new(bytes)),
            cid,
            max,
            PathBuf::from(source),
        )
    }

    fn over(src: Box<dyn std::io::Read + Send>, cid: Cid, max: usize, path: PathBuf) -> Self {
        Self {
            file: std::io::Read::take(src, (max as u64).saturating_add(1)),
            hasher: blake3::Hasher::new(),
            read: 0,
            max: max as u64,
            failed: None,
            cid,
            path,
        }
    }

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
