//! File access behind a small trait, so that tests inject faults.
//!
//! The writer and the recovery code touch the log only through [`LogFile`].
//! [`FileLog`] is the real thing (positional writes, `fdatasync`, an
//! exclusive `flock` held for the writer's lifetime). [`SimLog`] is an
//! in-memory disk that separates written from durable bytes and injects
//! short writes, `EIO`, `ENOSPC` and sync failures from a seed, and can
//! "crash", keeping the durable bytes plus a random part of the rest.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{AuditError, Result};

/// The operations the log needs from its file.
pub trait LogFile: Send {
    /// Writes some prefix of `bytes` at the end of the file with one call and
    /// returns how many bytes it wrote (a short write is not an error).
    ///
    /// # Errors
    /// The operating system's error.
    fn append(&mut self, bytes: &[u8]) -> io::Result<usize>;
    /// Makes every byte written so far durable (`fdatasync`).
    ///
    /// # Errors
    /// The operating system's error; the caller must never retry.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end.
    ///
    /// # Errors
    /// The operating system's error.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// The file's length in bytes.
    ///
    /// # Errors
    /// The operating system's error.
    fn len(&mut self) -> io::Result<u64>;
    /// Whether the file is empty.
    ///
    /// # Errors
    /// The operating system's error.
    fn is_empty(&mut self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Cuts the file to `len` bytes.
    ///
    /// # Errors
    /// The operating system's error.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// A real log file, locked exclusively while open for writing.
#[derive(Debug)]
pub struct FileLog {
    file: File,
    end: u64,
}

impl FileLog {
    /// Opens `path` for reading and appending and takes the writer lock.
    ///
    /// # Errors
    /// [`AuditError::Locked`] when another writer holds it; [`AuditError::Io`]
    /// otherwise.
    pub fn open_locked(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| AuditError::io("open", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AuditError::Locked),
            Err(std::fs::TryLockError::Error(e)) => return Err(AuditError::io("lock", e)),
        }
        let end = file
            .metadata()
            .map_err(|e| AuditError::io("stat", e))?
            .len();
        Ok(Self { file, end })
    }

    /// Opens `path` read-only (no lock).
    ///
    /// # Errors
    /// [`AuditError::Io`].
    pub fn open_read(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| AuditError::io("open", e))?;
        let end = file
            .metadata()
            .map_err(|e| AuditError::io("stat", e))?
            .len();
        Ok(Self { file, end })
    }
}

impl LogFile for FileLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write_at(bytes, self.end)?;
        self.end += n as u64;
        Ok(n)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn len(&mut self) -> io::Result<u64> {
        Ok(self.end)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.end = len;
        Ok(())
    }
}

/// Fault probabilities of a [`SimLog`], in parts per 1000 per call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// A write that writes only part of its bytes.
    pub short_write_permille: u32,
    /// A write that fails with `EIO`.
    pub write_eio_permille: u32,
    /// A write that fails with `ENOSPC` after writing part of its bytes.
    pub enospc_permille: u32,
    /// A sync that fails with `EIO`.
    pub sync_fail_permille: u32,
}

#[derive(Debug)]
struct SimDisk {
    bytes: Vec<u8>,
    durable_len: usize,
    rng: u64,
    faults: Faults,
    syncs: u64,
    writes: u64,
}

impl SimDisk {
    fn next(&mut self) -> u64 {
        // SplitMix64: small, seedable, good enough to schedule faults.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn roll(&mut self, permille: u32) -> bool {
        permille > 0 && self.next() % 1000 < u64::from(permille)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// An in-memory log file with seeded faults and simulated crashes; clones
/// share one disk.
#[derive(Clone, Debug)]
pub struct SimLog {
    disk: Arc<Mutex<SimDisk>>,
}

impl SimLog {
    /// A disk holding `bytes`, all durable, with `faults` drawn from `seed`.
    #[must_use]
    pub fn new(bytes: Vec<u8>, faults: Faults, seed: u64) -> Self {
        let durable_len = bytes.len();
        Self {
            disk: Arc::new(Mutex::new(SimDisk {
                bytes,
                durable_len,
                rng: seed,
                faults,
                syncs: 0,
                writes: 0,
            })),
        }
    }

    fn disk(&self) -> MutexGuard<'_, SimDisk> {
        self.disk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the fault probabilities.
    pub fn set_faults(&self, faults: Faults) {
        self.disk().faults = faults;
    }

    /// All bytes written so far (durable or not).
    #[must_use]
    pub fn contents(&self) -> Vec<u8> {
        self.disk().bytes.clone()
    }

    /// The bytes made durable by a successful sync.
    #[must_use]
    pub fn durable(&self) -> Vec<u8> {
        let d = self.disk();
        d.bytes.get(..d.durable_len).unwrap_or_default().to_vec()
    }

    /// What a crash leaves: the durable bytes plus a random prefix of the
    /// bytes written after the last successful sync.
    #[must_use]
    pub fn crash_image(&self) -> Vec<u8> {
        let mut d = self.disk();
        let extra = d.bytes.len() - d.durable_len;
        let keep = d.durable_len + d.below(extra + 1);
        d.bytes.get(..keep).unwrap_or_default().to_vec()
    }

    /// The number of successful syncs and write calls.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        let d = self.disk();
        (d.syncs, d.writes)
    }
}

impl LogFile for SimLog {
    fn append(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut d = self.disk();
        d.writes += 1;
        let faults = d.faults;
        if d.roll(faults.write_eio_permille) {
            return Err(io::Error::from_raw_os_error(5));
        }
        if d.roll(faults.enospc_permille) {
            let part = d.below(bytes.len());
            d.bytes
                .extend_from_slice(bytes.get(..part).unwrap_or_default());
            return Err(io::Error::from_raw_os_error(28));
        }
        let n = if bytes.len() > 1 && d.roll(faults.short_write_permille) {
            1 + d.below(bytes.len() - 1)
        } else {
            bytes.len()
        };
        d.bytes
            .extend_from_slice(bytes.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut d = self.disk();
        let faults = d.faults;
        if d.roll(faults.sync_fail_permille) {
            // Like Linux after a failed fsync: the dirty data may be dropped.
            let extra = d.bytes.len() - d.durable_len;
            let keep = d.durable_len + d.below(extra + 1);
            d.bytes.truncate(keep);
            return Err(io::Error::from_raw_os_error(5));
        }
        d.durable_len = d.bytes.len();
        d.syncs += 1;
        Ok(())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let d = self.disk();
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let src = d.bytes.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn len(&mut self) -> io::Result<u64> {
        Ok(self.disk().bytes.len() as u64)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut d = self.disk();
        let len = usize::try_from(len).map_err(io::Error::other)?;
        d.bytes.truncate(len);
        d.durable_len = d.durable_len.min(len);
        Ok(())
    }
}

/// A [`LogFile`] that counts the bytes read through it, so that a test can
/// check what an operation reads (one record, not the whole log) without
/// timing it. Clones of the counter share it.
#[derive(Debug)]
pub struct CountingLog<F> {
    inner: F,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<F: LogFile> CountingLog<F> {
    /// Counts the bytes read from `inner`; the counter is returned beside it.
    #[must_use]
    pub fn new(inner: F) -> (Self, Arc<std::sync::atomic::AtomicU64>) {
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&read);
        (Self { inner, read }, counter)
    }
}

impl<F: LogFile> LogFile for CountingLog<F> {
    fn append(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.inner.append(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read_at(offset, buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn len(&mut self) -> io::Result<u64> {
        self.inner.len()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
}
