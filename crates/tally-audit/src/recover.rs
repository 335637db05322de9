//! Opening an existing log: cut a torn tail, find the last checkpoint by
//! scanning backwards, verify from there (or from the start) to the end.

use crate::error::{AuditError, Result};
use crate::key::Keyring;
use crate::reader::{LineReader, TornTail};
use crate::storage::LogFile;
use crate::verify::{Chain, KeyCache};

/// Bytes read per step of the backward scans.
const SCAN_CHUNK_BYTES: u64 = 256 * 1024;
/// The envelope bytes that mark a checkpoint line, right after its sequence.
const CHECKPOINT_NEEDLE: &[u8] = b",\"kind\":\"checkpoint\",\"kid\":";
/// The most bytes from a line's start to its `,"kind"` member:
/// `{"v":1,"seq":` and 20 digits.
const MAX_KIND_OFFSET: u64 = 13 + 20;

/// A `Read` over `start..end` of a [`LogFile`].
pub(crate) struct RangeReader<'f> {
    file: &'f mut dyn LogFile,
    pos: u64,
    end: u64,
}

impl<'f> RangeReader<'f> {
    pub(crate) fn new(file: &'f mut dyn LogFile, start: u64, end: u64) -> Self {
        Self {
            file,
            pos: start,
            end,
        }
    }
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        let n = self
            .file
            .read_at(self.pos, buf.get_mut(..want).unwrap_or_default())?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What recovery found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub chain: Chain,
    /// Length of the valid log (where appends continue).
    pub end: u64,
    pub torn: Option<TornTail>,
    pub resumed_from: Option<u64>,
    pub verified: u64,
}

pub(crate) fn read_exact_at(file: &mut dyn LogFile, offset: u64, buf: &mut [u8]) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let dst = buf.get_mut(done..).unwrap_or_default();
        let n = file
            .read_at(offset + done as u64, dst)
            .map_err(|e| AuditError::io("read", e))?;
        if n == 0 {
            return Err(AuditError::io(
                "read",
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        done += n;
    }
    Ok(())
}

/// The offset just after the last `\n` in `..len` (0 if there is none).
fn valid_end(file: &mut dyn LogFile, len: u64) -> Result<u64> {
    let mut hi = len;
    let mut buf = Vec::new();
    while hi > 0 {
        let lo = hi.saturating_sub(SCAN_CHUNK_BYTES);
        buf.resize((hi - lo) as usize, 0);
        read_exact_at(file, lo, &mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(0)
}

/// The offset of the last checkpoint line in `..end`, scanning backwards.
///
/// A needle hit is an envelope (not payload bytes) exactly when a newline
/// or the file start lies within [`MAX_KIND_OFFSET`] bytes before it: a
/// payload starts more than 150 bytes into its line and holds no newline.
fn last_checkpoint(file: &mut dyn LogFile, end: u64) -> Result<Option<u64>> {
    let overlap = MAX_KIND_OFFSET + CHECKPOINT_NEEDLE.len() as u64 + 1;
    let mut hi = end;
    let mut buf = Vec::new();
    while hi > 0 {
        let lo = hi.saturating_sub(SCAN_CHUNK_BYTES);
        buf.resize((hi - lo) as usize, 0);
        read_exact_at(file, lo, &mut buf)?;
        let mut at = buf.len();
        while let Some(i) = find_last(buf.get(..at).unwrap_or_default(), CHECKPOINT_NEEDLE) {
            at = i;
            let window_start = i.saturating_sub(MAX_KIND_OFFSET as usize + 1);
            if i < MAX_KIND_OFFSET as usize + 1 && lo > 0 {
                break; // the next (overlapping) chunk sees this hit whole
            }
            let before = buf.get(window_start..i).unwrap_or_default();
            let line_start = match before.iter().rposition(|&b| b == b'\n') {
                Some(j) => lo + (window_start + j + 1) as u64,
                None if lo == 0 && window_start == 0 => 0,
                None => continue,
            };
            return Ok(Some(line_start));
        }
        if lo == 0 {
            break;
        }
        hi = (lo + overlap).min(hi - 1);
    }
    Ok(None)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Recovers the log in `file`: with `full`, verifies every record; without,
/// verifies the header and resumes from the last checkpoint when the header
/// names a checkpoint key (so the checkpoint is signed).
pub(crate) fn recover(
    file: &mut dyn LogFile,
    keys: Keyring,
    full: bool,
    max_line: usize,
) -> Result<Recovered> {
    let len = file.len().map_err(|e| AuditError::io("stat", e))?;
    let end = valid_end(file, len)?;
    let torn = (end < len).then_some(TornTail {
        offset: end,
        len: len - end,
    });
    if end == 0 {
        return Err(AuditError::NotALog {
            what: "no complete header record",
        });
    }
    let max_payload = max_line.saturating_sub(crate::record::MAX_ENVELOPE_BYTES);
    let mut chain = Chain::new(KeyCache::new(keys, true), None, max_payload);
    let mut verified = 0u64;
    let mut start = 0u64;
    let mut resumed_from = None;
    if !full {
        let mut lines = LineReader::new(RangeReader::new(file, 0, end), 0, max_line);
        if let Some((off, line)) = lines.next_line().map_err(|e| chain.not_a_log(e))? {
            chain.verify(line, off)?;
            verified += 1;
            start = lines.position();
        }
        // Only a signed checkpoint vouches for the prefix it covers.
        let signed = chain
            .header
            .as_ref()
            .is_some_and(|h| h.checkpoint_key.is_some());
        if signed
            && let Some(cp) = last_checkpoint(file, end)?
            && cp > 0
        {
            let mut lines = LineReader::new(RangeReader::new(file, cp, end), cp, max_line);
            if let Some((off, line)) = lines.next_line()? {
                chain.resume_before(line, off)?;
                chain.verify(line, off)?;
                verified += 1;
                resumed_from = Some(chain.next_seq - 1);
            }
            start = lines.position();
        }
    }
    let mut lines = LineReader::new(RangeReader::new(file, start, end), start, max_line);
    while let Some((off, line)) = lines.next_line().map_err(|e| chain.not_a_log(e))? {
        chain.verify(line, off)?;
        verified += 1;
    }
    if chain.header.is_none() {
        return Err(AuditError::NotALog {
            what: "no header record",
        });
    }
    Ok(Recovered {
        chain,
        end,
        torn,
        resumed_from,
        verified,
    })
}
