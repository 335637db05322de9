//! Resuming a verified reader from a signed checkpoint: only the records
//! after it are read, each verified; the checkpoint itself must be the one
//! named, signed by the trusted key.

use std::io::{Cursor, Read, Seek, SeekFrom};

use tally_audit::storage::{Faults, SimLog};
use tally_audit::*;

use crate::common::{LOG_ID, fixed_key, signer};

/// A keyed log with a signed checkpoint after record 6, then 4 more records;
/// its bytes and the checkpoint.
fn log_with_checkpoint() -> (Vec<u8>, SignedCheckpoint) {
    log_with_prefix(6)
}

/// As [`log_with_checkpoint`] with `before` records before the checkpoint.
fn log_with_prefix(before: u64) -> (Vec<u8>, SignedCheckpoint) {
    let sim = SimLog::new(Vec::new(), Faults::default(), 3);
    let log = AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new()
            .log_id(LogId::from_bytes(LOG_ID))
            .key(fixed_key())
            .signer(signer())
            .checkpoint_every(0)
            .checkpoint_on_close(false)
            .durability(Durability::None),
    )
    .unwrap();
    let batch: Vec<String> = (0..before).map(|i| format!("{{\"n\":{i}}}")).collect();
    log.append_batch(&batch).unwrap();
    let cp = log.checkpoint().unwrap();
    for i in before..before + 4 {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    log.close().unwrap();
    (sim.contents(), cp)
}

fn opts() -> VerifyOptions {
    VerifyOptions::new()
        .keys(Keyring::new().with(fixed_key()))
        .checkpoint_key(signer().verifier())
}

/// Counts the bytes a reader takes from its source.
struct Counting {
    inner: Cursor<Vec<u8>>,
    read: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Seek for Counting {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn data_after(reader: &mut VerifiedReader<impl Read>) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    while let Some(rec) = reader.next_record()? {
        if rec.kind == RecordKind::Data {
            seqs.push(rec.seq);
        }
    }
    Ok(seqs)
}

#[test]
fn a_reader_resumes_after_the_checkpoint_and_reads_only_what_follows() {
    let (bytes, cp) = log_with_checkpoint();
    assert_eq!(cp.seq, 7);
    let at = cp.resume_point();
    // The offset is that of the checkpoint record's line.
    let line = &bytes[at.offset as usize..];
    assert!(line.starts_with(b"{\"v\":"));
    assert!(
        std::str::from_utf8(line)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .contains("\"kind\":\"checkpoint\"")
    );
    let mut reader = VerifiedReader::resume(
        Counting {
            inner: Cursor::new(bytes.clone()),
            read: 0,
        },
        at,
        &opts(),
    )
    .unwrap();
    assert_eq!(data_after(&mut reader).unwrap(), [8, 9, 10, 11]);
    let summary = reader.summary().unwrap();
    assert_eq!(summary.records, 12);
    // Same end state as a full verification.
    let full = VerifiedReader::new(&bytes[..], &opts())
        .verify_all()
        .unwrap();
    assert_eq!(summary.root, full.root);
    assert_eq!(summary.last_checkpoint, full.last_checkpoint);
}

#[test]
fn resuming_skips_the_prefix_and_verifies_the_rest() {
    // A prefix of 100,000 records (several MB) before the checkpoint: the
    // reader takes the header's chunk and the tail, never the prefix.
    let (big, cp) = log_with_prefix(100_000);
    let at = cp.resume_point();
    assert!(at.offset > 4 * 1024 * 1024, "{}", at.offset);
    let mut counting = Counting {
        inner: Cursor::new(big.clone()),
        read: 0,
    };
    let mut reader = VerifiedReader::resume(&mut counting, at, &opts()).unwrap();
    assert_eq!(
        data_after(&mut reader).unwrap(),
        [100_002, 100_003, 100_004, 100_005]
    );
    drop(reader);
    // The reader reads in chunks of 256 KiB; allow a few for the header.
    let chunk = 1024 * 1024;
    let tail = big.len() as u64 - at.offset;
    assert!(
        counting.read <= chunk + tail,
        "read {} bytes of {}",
        counting.read,
        big.len()
    );
    let (bytes, cp) = log_with_checkpoint();
    let at = cp.resume_point();
    // An edit after the checkpoint is caught at its sequence.
    let mut edited = bytes.clone();
    let pos = edited.len() - 10;
    edited[pos] ^= 1;
    let mut reader = VerifiedReader::resume(Cursor::new(edited), at, &opts()).unwrap();
    let err = data_after(&mut reader).unwrap_err();
    assert_eq!(err.seq(), Some(11), "{err}");
}

#[test]
fn a_wrong_or_forged_resume_point_is_refused() {
    let (bytes, cp) = log_with_checkpoint();
    let at = cp.resume_point();
    let resume = |bytes: &[u8], at: ResumePoint, opts: &VerifyOptions| {
        VerifiedReader::resume(Cursor::new(bytes.to_vec()), at, opts).map(|_| ())
    };
    // Another sequence, another offset (a data record's), the header.
    for bad in [
        ResumePoint {
            seq: 6,
            offset: at.offset,
        },
        ResumePoint {
            seq: 8,
            offset: at.offset
                + bytes[at.offset as usize..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap() as u64
                + 1,
        },
        ResumePoint { seq: 0, offset: 0 },
        ResumePoint {
            seq: 7,
            offset: at.offset + 1,
        },
    ] {
        let err = resume(&bytes, bad, &opts()).unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::InvalidControl { .. } | AuditError::Malformed { .. }
            ),
            "{bad:?}: {err}"
        );
    }
    // Without the checkpoint key nothing vouches for the prefix.
    let no_vkey = VerifyOptions::new().keys(Keyring::new().with(fixed_key()));
    assert!(matches!(
        resume(&bytes, at, &no_vkey),
        Err(AuditError::Invalid { .. })
    ));
    // A checkpoint key other than the log's does not vouch either.
    let stranger = CheckpointSigner::generate("tally.example/other").unwrap();
    let other = opts().checkpoint_key(stranger.verifier());
    assert!(resume(&bytes, at, &other).is_err());
    // An edited checkpoint record fails its own verification.
    let mut edited = bytes.clone();
    let root_at = at.offset as usize
        + std::str::from_utf8(&bytes[at.offset as usize..])
            .unwrap()
            .find("\"size\"")
            .unwrap_or(60);
    edited[root_at + 8] ^= 1;
    assert!(resume(&edited, at, &opts()).is_err());
}
