//! Snapshots: the whole state of a [`Ledger`] in one canonical, versioned
//! binary encoding, so that a restart reads the last snapshot and only the
//! journal after it.
//!
//! A snapshot is taken at a signed checkpoint of the journal and names it
//! (its sequence number and byte offset: where
//! [`tally_audit::VerifiedReader::resume`] resumes). Its digest is then
//! journaled (`tally/ledger/snapshot/v1`, see [`crate::journal`]), so the
//! snapshot is bound to the tamper-evident journal: a restore accepts it only
//! when the journal after the checkpoint holds that digest.
//!
//! # Format (version 2; all integers little-endian; fixed-size records but the transfers)
//!
//! | part | bytes | fields |
//! |---|---|---|
//! | header | 96 | magic `TALLYSNP`, version `u32` (2), reserved `u32` (0), clock `u64`, checkpoint seq `u64`, checkpoint offset `u64`, then the counts of accounts and transfers, the transfer section's length in bytes, the counts of pending, failed, transfer lists and history lists (`u64` each) |
//! | account | 128 | id, debits pending, debits posted, credits pending, credits posted, user data 128 (`u128` each), user data 64 `u64`, user data 32 `u32`, ledger `u32`, code `u16`, flags `u16`, timestamp `u64`, 4 zero bytes |
//! | transfer | 10 to 256 | a compact record (the frozen tier's, see `frozen.rs`): a length byte, a mask of the optional fields present, then canonical LEB128 integers: the id as the difference from the previous transfer's, the debit and credit accounts as indices into the account section, amount, flags, code, the timestamp and the journal record that created it (0: none) as zigzag differences from the first record of its block of 32, then the nonzero optional fields (pending id, user data 128, 64 and 32, timeout). The ledger is the accounts' |
//! | pending | 33 | transfer id `u128`, state `u8` (0 pending, 1 posted, 2 voided, 3 expired), posted amount `u128` (0 unless posted) |
//! | failed | 17 | transfer id `u128`, result `u8` (an index into [`TRANSIENT_RESULTS`]) |
//! | transfer list | 24 + 4 × n | account id `u128`, n `u64`, then the positions (`u32`, in the transfer section) of the account's transfers in timestamp order |
//! | history | 24 + 72 × n | account id `u128`, n `u64`, then n balances: timestamp `u64`, debits pending, debits posted, credits pending, credits posted (`u128` each) |
//! | trailer | 32 | BLAKE3 of everything before it |
//!
//! Canonical order: accounts by timestamp (which the ledger makes unique),
//! transfers, pending and failed entries by id, transfer lists and history
//! by account id. The expiry index is rebuilt, not stored. The same state
//! always encodes to the same bytes.
//!
//! The transfers and their lists are laid out so that a restart reads them
//! sequentially into the ledger's frozen tier (an array sorted by id and
//! the lists of positions) instead of inserting each into hash maps.
//!
//! Decoding checks the file before it trusts it: the length of every
//! section against the file's length before anything is allocated, every
//! flag, tag and code, the order, that every reference resolves (positions
//! included), that every transfer is in exactly two lists' worth of
//! entries, and that double entry holds. It reads the input once, in
//! bounded chunks, hashing as it goes. What it does not check, because it
//! would cost a random memory access per entry, is that each list's
//! positions name transfers of its account in timestamp order: the digest,
//! bound to the journal, vouches for that, and queries skip an entry that
//! does not involve the account.

use std::io::{Read, Write};

use std::sync::Arc;

use crate::frozen::{self, BLOCK, Block, Frozen, MIN_RECORD_BYTES, Raw};
use crate::result::CreateTransferResult as TR;
use crate::state::{HashMap, Ledger};
use crate::types::{
    Account, AccountBalance, AccountFlags, NANOS_PER_SECOND, PendingState, Transfer, TransferFlags,
};

/// The first bytes of a snapshot.
pub const MAGIC: [u8; 8] = *b"TALLYSNP";
/// The format version written and read. Version 1 (fixed 136-byte
/// transfers) is no longer read: its snapshots are refused and the journal
/// replayed instead.
pub const VERSION: u32 = 2;
/// The header's length.
pub const HEADER_BYTES: usize = 96;
const ACCOUNT_BYTES: usize = 128;
const PENDING_BYTES: usize = 33;
const FAILED_BYTES: usize = 17;
const HISTORY_HEAD_BYTES: usize = 24;
const LIST_HEAD_BYTES: usize = 24;
const BALANCE_BYTES: usize = 72;
const DIGEST_BYTES: usize = 32;
/// The read buffer: big enough for hashing to run at full speed.
const CHUNK_BYTES: usize = 4 << 20;
/// From this size on, a second thread reads and hashes while the first
/// decodes.
const THREADED_BYTES: u64 = 1 << 20;
/// Chunks the reading thread may be ahead.
const READ_AHEAD_CHUNKS: usize = 4;

/// The failures a ledger remembers (an id that failed for a reason that
/// depends on the state stays failed), in the order of their `u8` code in
/// a snapshot. Part of format version 1: append only.
pub const TRANSIENT_RESULTS: [TR; 13] = [
    TR::DebitAccountNotFound,
    TR::CreditAccountNotFound,
    TR::PendingTransferNotFound,
    TR::PendingTransferExpired,
    TR::ExceedsCredits,
    TR::ExceedsDebits,
    TR::OverflowsDebitsPending,
    TR::OverflowsCreditsPending,
    TR::OverflowsDebitsPosted,
    TR::OverflowsCreditsPosted,
    TR::OverflowsDebits,
    TR::OverflowsCredits,
    TR::OverflowsTimeout,
];

/// The journal checkpoint a snapshot was taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotPoint {
    /// The checkpoint record's sequence number.
    pub seq: u64,
    /// The byte offset of its line in the journal.
    pub offset: u64,
}

/// What a snapshot holds besides the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotInfo {
    /// The checkpoint it was taken at.
    pub at: SnapshotPoint,
    /// Its BLAKE3 digest (the trailer).
    pub digest: [u8; 32],
    /// Its length in bytes.
    pub bytes: u64,
}

/// Why a snapshot was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing failed.
    Io(std::io::Error),
    /// Not a snapshot, or one this version cannot read, or malformed: the
    /// section, the index of the record in it, and what is wrong.
    Malformed {
        /// The section (`header`, `account`, `transfer`, …).
        section: &'static str,
        /// The record's index in its section.
        index: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The trailer does not match the content.
    DigestMismatch,
    /// A snapshot of another format version (an older build's): not read.
    /// A snapshot only saves replaying the journal, so a caller may skip
    /// it and replay instead.
    OtherVersion(u32),
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "snapshot: {e}"),
            Self::Malformed {
                section,
                index,
                what,
            } => write!(f, "snapshot: {section} {index}: {what}"),
            Self::DigestMismatch => {
                f.write_str("snapshot: the digest does not match the content (edited or torn)")
            }
            Self::OtherVersion(v) => write!(
                f,
                "snapshot: format version {v}, which this build does not read (it reads {VERSION})"
            ),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<std::io::Error> for SnapshotError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

fn bad(section: &'static str, index: u64, what: &'static str) -> SnapshotError {
    SnapshotError::Malformed {
        section,
        index,
        what,
    }
}

/// Writes through a buffer, hashing everything written.
struct Output<W: Write> {
    w: W,
    buf: Vec<u8>,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<W: Write> Output<W> {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn usize(&mut self, v: usize) {
        self.u64(u64::try_from(v).unwrap_or(u64::MAX));
    }
    /// Writes `bytes` out (after what is buffered).
    fn bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.flush()?;
        self.hasher.update(bytes);
        self.w.write_all(bytes)?;
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        Ok(())
    }
    /// Writes out the buffer once it is big.
    fn spill(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(self.buf.len()).unwrap_or(u64::MAX));
        self.buf.clear();
        Ok(())
    }
}

/// Writes the snapshot of `ledger` taken at checkpoint `at` to `w`;
/// `journal_seq` gives the journal record that created each transfer (the
/// same state always gives the same bytes: equal snapshots are equal
/// states).
///
/// # Errors
/// The writer's.
pub fn encode(
    ledger: &Ledger,
    journal_seq: impl Fn(u128) -> Option<u64>,
    at: SnapshotPoint,
    w: impl Write,
) -> Result<SnapshotInfo, SnapshotError> {
    let mut out = Output {
        w,
        buf: Vec::with_capacity(CHUNK_BYTES + 4096),
        hasher: blake3::Hasher::new(),
        bytes: 0,
    };
    let mut accounts: Vec<&Account> = ledger.accounts.values().collect();
    accounts.sort_unstable_by_key(|a| a.timestamp);
    let mut live: Vec<&Transfer> = ledger.transfers.values().collect();
    live.sort_unstable_by_key(|t| t.id);
    let frozen = &ledger.frozen;
    let mut pending: Vec<(u128, PendingState)> =
        ledger.pending.iter().map(|(k, v)| (*k, *v)).collect();
    pending.sort_unstable_by_key(|p| p.0);
    let mut failed: Vec<(u128, TR)> = ledger.failed.iter().map(|(k, v)| (*k, *v)).collect();
    failed.sort_unstable_by_key(|f| f.0);
    let mut history: Vec<(u128, &Vec<AccountBalance>)> =
        ledger.history.iter().map(|(k, v)| (*k, v)).collect();
    history.sort_unstable_by_key(|h| h.0);
    let mut listed: Vec<u128> = frozen
        .by_account
        .keys()
        .chain(ledger.account_transfers.keys())
        .copied()
        .collect();
    listed.sort_unstable();
    listed.dedup();
    // An account with no transfers has no list (a list emptied by a rolled
    // back batch is not state): equal states, equal bytes.
    listed.retain(|a| {
        !frozen.positions(*a).is_empty()
            || ledger
                .account_transfers
                .get(a)
                .is_some_and(|l| !l.is_empty())
    });
    let transfers = frozen.len().saturating_add(live.len());
    if u32::try_from(transfers).is_err() {
        return Err(bad(
            "transfer",
            0,
            "more transfers than format version 1 holds (2^32)",
        ));
    }

    // The transfers first, in memory (the header gives their length): the
    // frozen tier and the live transfers merged by id; where each lands,
    // for the lists.
    let index: HashMap<u128, (u32, u32)> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id, (u32::try_from(i).unwrap_or(u32::MAX), a.ledger)))
        .collect();
    let mut records: Vec<u8> = Vec::with_capacity(transfers.saturating_mul(16));
    let mut frozen_at: Vec<u32> = Vec::with_capacity(frozen.len());
    let mut live_at: HashMap<u128, u32> = HashMap::default();
    live_at.reserve(live.len());
    let (mut f, mut l) = (frozen.iter().peekable(), live.iter().peekable());
    let mut position = 0u32;
    let (mut prev, mut base) = (0u128, Block::default());
    loop {
        let take_frozen = match (f.peek(), l.peek()) {
            (Some((a, _)), Some(b)) => a.id < b.id,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (t, seq) = if take_frozen {
            let Some(next) = f.next() else { break };
            frozen_at.push(position);
            next
        } else {
            let Some(t) = l.next() else { break };
            live_at.insert(t.id, position);
            (**t, journal_seq(t.id).unwrap_or(0))
        };
        let i = u64::from(position);
        let first = (position as usize).is_multiple_of(BLOCK);
        if first {
            base = Block::default();
        }
        let (Some(&(debit, ledger_of)), Some(&(credit, _))) = (
            index.get(&t.debit_account_id),
            index.get(&t.credit_account_id),
        ) else {
            return Err(bad("transfer", i, "an account the ledger does not hold"));
        };
        if ledger_of != t.ledger {
            return Err(bad("transfer", i, "a ledger other than its accounts'"));
        }
        Raw {
            id_delta: t.id.wrapping_sub(prev),
            debit,
            credit,
            amount: t.amount,
            flags: t.flags.bits(),
            code: t.code,
            timestamp: frozen::delta(t.timestamp, base.timestamp),
            seq: frozen::delta(seq, base.seq),
            pending_id: t.pending_id,
            user_data_128: t.user_data_128,
            user_data_64: t.user_data_64,
            user_data_32: t.user_data_32,
            timeout: t.timeout,
        }
        .encode(&mut records);
        if first {
            base = Block {
                offset: 0,
                timestamp: t.timestamp,
                seq,
            };
        }
        prev = t.id;
        position = position.saturating_add(1);
    }

    out.buf.extend_from_slice(&MAGIC);
    out.u32(VERSION);
    out.u32(0);
    out.u64(ledger.clock);
    out.u64(at.seq);
    out.u64(at.offset);
    out.usize(accounts.len());
    out.usize(transfers);
    out.usize(records.len());
    out.usize(pending.len());
    out.usize(failed.len());
    out.usize(listed.len());
    out.usize(history.len());
    for a in accounts {
        out.u128(a.id);
        out.u128(a.debits_pending);
        out.u128(a.debits_posted);
        out.u128(a.credits_pending);
        out.u128(a.credits_posted);
        out.u128(a.user_data_128);
        out.u64(a.user_data_64);
        out.u32(a.user_data_32);
        out.u32(a.ledger);
        out.u16(a.code);
        out.u16(a.flags.bits());
        out.u64(a.timestamp);
        out.u32(0);
        out.spill()?;
    }
    out.bytes(&records)?;
    drop(records);
    for (id, state) in pending {
        out.u128(id);
        let (tag, amount) = match state {
            PendingState::Pending => (0, 0),
            PendingState::Posted(amount) => (1, amount),
            PendingState::Voided => (2, 0),
            PendingState::Expired => (3, 0),
        };
        out.u8(tag);
        out.u128(amount);
        out.spill()?;
    }
    for (id, result) in failed {
        out.u128(id);
        let code = TRANSIENT_RESULTS
            .iter()
            .position(|r| *r == result)
            .and_then(|i| u8::try_from(i).ok())
            .ok_or_else(|| bad("failed", 0, "a failure the ledger does not remember"))?;
        out.u8(code);
        out.spill()?;
    }
    for account in listed {
        let old = frozen.positions(account);
        let new = ledger
            .account_transfers
            .get(&account)
            .map_or(&[][..], Vec::as_slice);
        out.u128(account);
        out.usize(old.len().saturating_add(new.len()));
        for p in old {
            let moved = usize::try_from(*p).ok().and_then(|p| frozen_at.get(p));
            out.u32(
                *moved.ok_or_else(|| bad("transfer list", 0, "a position past the transfers"))?,
            );
            out.spill()?;
        }
        for id in new {
            let at = live_at
                .get(id)
                .ok_or_else(|| bad("transfer list", 0, "a transfer the ledger does not hold"))?;
            out.u32(*at);
            out.spill()?;
        }
    }
    for (account, list) in history {
        out.u128(account);
        out.usize(list.len());
        for b in list {
            out.u64(b.timestamp);
            out.u128(b.debits_pending);
            out.u128(b.debits_posted);
            out.u128(b.credits_pending);
            out.u128(b.credits_posted);
            out.spill()?;
        }
    }
    out.flush()?;
    let digest: [u8; 32] = *out.hasher.finalize().as_bytes();
    out.w.write_all(&digest)?;
    out.w.flush()?;
    Ok(SnapshotInfo {
        at,
        digest,
        bytes: out.bytes.saturating_add(DIGEST_BYTES as u64),
    })
}

/// The content's digest and the trailer that should equal it.
type Digests = Result<([u8; 32], [u8; 32]), SnapshotError>;

/// The content of a snapshot in chunks, hashed as they are read, and then
/// its digest and trailer.
trait Chunks {
    /// The next chunk, or `None` after the last.
    fn next(&mut self) -> Result<Option<Vec<u8>>, SnapshotError>;
    /// Gives a chunk's buffer back for reuse.
    fn recycle(&mut self, buf: Vec<u8>);
    /// The content's digest and the trailer, once every chunk was taken;
    /// checks that nothing follows the trailer.
    fn finish(self) -> Digests;
}

/// Reads and hashes on the decoding thread.
struct Inline<R: Read> {
    r: R,
    left: u64,
    hasher: blake3::Hasher,
    spare: Vec<u8>,
}

/// Fills `buf` with the next chunk of at most `left` bytes from `r`.
fn fill(r: &mut impl Read, left: &mut u64, buf: &mut Vec<u8>) -> Result<bool, SnapshotError> {
    let want = usize::try_from(*left)
        .unwrap_or(CHUNK_BYTES)
        .min(CHUNK_BYTES);
    if want == 0 {
        return Ok(false);
    }
    buf.resize(want, 0);
    r.read_exact(buf)?;
    *left = left.saturating_sub(want as u64);
    Ok(true)
}

/// Reads the trailer and checks that nothing follows it.
fn trailer(r: &mut impl Read) -> Result<[u8; 32], SnapshotError> {
    let mut trailer = [0u8; DIGEST_BYTES];
    r.read_exact(&mut trailer)?;
    if r.read(&mut [0u8; 1])? != 0 {
        return Err(bad("trailer", 0, "bytes after the digest"));
    }
    Ok(trailer)
}

impl<R: Read> Chunks for Inline<R> {
    fn next(&mut self) -> Result<Option<Vec<u8>>, SnapshotError> {
        let mut buf = core::mem::take(&mut self.spare);
        if !fill(&mut self.r, &mut self.left, &mut buf)? {
            return Ok(None);
        }
        self.hasher.update(&buf);
        Ok(Some(buf))
    }
    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare = buf;
    }
    fn finish(mut self) -> Digests {
        Ok((*self.hasher.finalize().as_bytes(), trailer(&mut self.r)?))
    }
}

/// Chunks read and hashed by a helper thread, a few ahead of the decoding.
struct Threaded<'s> {
    chunks: std::sync::mpsc::Receiver<Result<Vec<u8>, SnapshotError>>,
    back: std::sync::mpsc::Sender<Vec<u8>>,
    reader: std::thread::ScopedJoinHandle<'s, Digests>,
}

impl Chunks for Threaded<'_> {
    fn next(&mut self) -> Result<Option<Vec<u8>>, SnapshotError> {
        match self.chunks.recv() {
            Ok(chunk) => chunk.map(Some),
            // The reader sent every chunk and ended (or failed: `finish`
            // reports how).
            Err(_) => Ok(None),
        }
    }
    fn recycle(&mut self, buf: Vec<u8>) {
        let _ = self.back.send(buf);
    }
    fn finish(self) -> Digests {
        drop(self.chunks);
        drop(self.back);
        self.reader
            .join()
            .map_err(|_| SnapshotError::Io(std::io::Error::other("the reading thread failed")))?
    }
}

/// The reading thread: reads `left` content bytes in chunks, hashes each and
/// sends it on, then reads the trailer. Stops early when the decoder hangs
/// up (it refused the snapshot).
fn read_ahead(
    mut r: impl Read,
    mut left: u64,
    chunks: &std::sync::mpsc::SyncSender<Result<Vec<u8>, SnapshotError>>,
    back: &std::sync::mpsc::Receiver<Vec<u8>>,
) -> Digests {
    let mut hasher = blake3::Hasher::new();
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        match fill(&mut r, &mut left, &mut buf) {
            Ok(false) => break,
            Ok(true) => {
                hasher.update(&buf);
                if chunks.send(Ok(buf)).is_err() {
                    return Err(bad("input", 0, "the decoder stopped"));
                }
            }
            Err(e) => {
                let _ = chunks.send(Err(e));
                return Err(bad("input", 0, "unreadable"));
            }
        }
    }
    Ok((*hasher.finalize().as_bytes(), trailer(&mut r)?))
}

/// Hands out the content's records from the chunks.
struct Input<C: Chunks> {
    src: C,
    cur: Vec<u8>,
    pos: usize,
    /// A record that straddles two chunks, put together.
    carry: Vec<u8>,
    /// Content bytes not yet handed out.
    left: u64,
}

impl<C: Chunks> Input<C> {
    /// The next `n` bytes, or `None` at the end of the content.
    fn take(&mut self, n: usize) -> Result<Option<&[u8]>, SnapshotError> {
        if (n as u64) > self.left {
            return Ok(None);
        }
        let here = self.cur.len().saturating_sub(self.pos);
        if here >= n {
            self.left -= n as u64;
            let start = self.pos;
            self.pos = start.saturating_add(n);
            return Ok(self.cur.get(start..self.pos));
        }
        // A record that straddles chunks: put together in `carry`.
        let mut carry = core::mem::take(&mut self.carry);
        carry.clear();
        let taken = self.take_into(&mut carry, n as u64);
        self.carry = carry;
        taken?;
        Ok(Some(&self.carry))
    }

    /// Appends the next `n` bytes to `out`; `false` (nothing taken) if the
    /// content has fewer.
    fn take_into(&mut self, out: &mut Vec<u8>, n: u64) -> Result<bool, SnapshotError> {
        if n > self.left {
            return Ok(false);
        }
        self.left -= n;
        let mut need = n;
        while need > 0 {
            let here = self.cur.len().saturating_sub(self.pos);
            if here == 0 {
                let Some(next) = self.src.next()? else {
                    return Err(bad("input", 0, "the content ended early"));
                };
                let old = core::mem::replace(&mut self.cur, next);
                self.src.recycle(old);
                self.pos = 0;
                continue;
            }
            let k = usize::try_from(need).unwrap_or(usize::MAX).min(here);
            let end = self.pos.saturating_add(k);
            out.extend_from_slice(self.cur.get(self.pos..end).unwrap_or_default());
            self.pos = end;
            need -= k as u64;
        }
        Ok(true)
    }

    /// Content bytes not yet handed out.
    fn remaining(&self) -> u64 {
        self.left
    }
}

/// Fields of a fixed-size record, in order.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        match self.0.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.0 = rest;
                *head
            }
            // The record's length was checked: unreachable, and harmless.
            None => [0; N],
        }
    }
    fn u8(&mut self) -> u8 {
        u8::from_le_bytes(self.take())
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.take())
    }
}

fn record<'a, C: Chunks>(
    input: &'a mut Input<C>,
    n: usize,
    section: &'static str,
    index: u64,
) -> Result<Fields<'a>, SnapshotError> {
    match input.take(n)? {
        Some(bytes) => Ok(Fields(bytes)),
        None => Err(bad(section, index, "truncated")),
    }
}

/// The bytes `count` records of `size` take, if a file can hold them.
fn section(count: u64, size: usize, section: &'static str) -> Result<u64, SnapshotError> {
    count
        .checked_mul(size as u64)
        .ok_or(SnapshotError::Malformed {
            section,
            index: 0,
            what: "the count needs more bytes than a file can hold",
        })
}

/// A restored state: the ledger, the journal record of each transfer, and
/// the snapshot's checkpoint and digest.
#[derive(Debug)]
pub struct Restored {
    /// The ledger.
    pub ledger: Ledger,
    /// The snapshot's checkpoint, digest and length.
    pub info: SnapshotInfo,
}

impl Restored {
    /// The journal record that created transfer `id`, as the snapshot says.
    #[must_use]
    pub fn journal_seq(&self, id: u128) -> Option<u64> {
        self.ledger.frozen_seq(id)
    }
}

/// Reads a snapshot of exactly `len` bytes from `r`, checking it whole (see
/// the module documentation).
///
/// # Errors
/// [`SnapshotError::Io`], [`SnapshotError::Malformed`] naming the section
/// and record, [`SnapshotError::DigestMismatch`].
pub fn decode(r: impl Read + Send, len: u64) -> Result<Restored, SnapshotError> {
    let content = len
        .checked_sub(DIGEST_BYTES as u64)
        .filter(|c| *c >= HEADER_BYTES as u64)
        .ok_or_else(|| bad("header", 0, "shorter than a header and a digest"))?;
    let input = |src| Input {
        src,
        cur: Vec::new(),
        pos: 0,
        carry: Vec::new(),
        left: content,
    };
    if content < THREADED_BYTES {
        return decode_from(
            input(Inline {
                r,
                left: content,
                hasher: blake3::Hasher::new(),
                spare: Vec::new(),
            }),
            len,
        );
    }
    // Big: a second thread reads and hashes while this one decodes.
    std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let (back_tx, back_rx) = std::sync::mpsc::channel();
        let reader = scope.spawn(move || read_ahead(r, content, &chunk_tx, &back_rx));
        let src = Threaded {
            chunks: chunk_rx,
            back: back_tx,
            reader,
        };
        decode_from(
            Input {
                src,
                cur: Vec::new(),
                pos: 0,
                carry: Vec::new(),
                left: content,
            },
            len,
        )
    })
}

fn decode_from<C: Chunks>(mut input: Input<C>, len: u64) -> Result<Restored, SnapshotError> {
    let mut h = record(&mut input, HEADER_BYTES, "header", 0)?;
    if h.take::<8>() != MAGIC {
        return Err(bad("header", 0, "not a ledger snapshot (magic)"));
    }
    let version = h.u32();
    if version != VERSION {
        return Err(SnapshotError::OtherVersion(version));
    }
    if h.u32() != 0 {
        return Err(bad("header", 0, "reserved bytes are not zero"));
    }
    let clock = h.u64();
    let at = SnapshotPoint {
        seq: h.u64(),
        offset: h.u64(),
    };
    let n_accounts = h.u64();
    let n_transfers = h.u64();
    let transfer_bytes = h.u64();
    let n_pending = h.u64();
    let n_failed = h.u64();
    let n_lists = h.u64();
    let n_history = h.u64();
    if section(n_transfers, MIN_RECORD_BYTES, "transfer")? > transfer_bytes {
        return Err(bad(
            "header",
            0,
            "more transfers than their section's bytes can hold",
        ));
    }
    // Every fixed section must fit in what is left, before any allocation.
    let fixed = [
        section(n_accounts, ACCOUNT_BYTES, "account")?,
        transfer_bytes,
        section(n_pending, PENDING_BYTES, "pending")?,
        section(n_failed, FAILED_BYTES, "failed")?,
        section(n_lists, LIST_HEAD_BYTES, "transfer list")?,
        section(n_transfers.saturating_mul(2), 4, "transfer list")?,
        section(n_history, HISTORY_HEAD_BYTES, "history")?,
    ]
    .into_iter()
    .try_fold(0u64, u64::checked_add)
    .ok_or_else(|| bad("header", 0, "more records than a file can hold"))?;
    if fixed > input.remaining() {
        return Err(bad(
            "header",
            0,
            "the counts need more bytes than the file has",
        ));
    }

    let capacity = |n: u64| usize::try_from(n).unwrap_or(0);
    let mut ledger = Ledger::new();
    ledger.clock = clock;
    ledger.accounts.reserve(capacity(n_accounts));
    let mut frozen = Frozen {
        ids: Vec::with_capacity(capacity(n_transfers)),
        bytes: Vec::with_capacity(capacity(transfer_bytes)),
        blocks: Vec::with_capacity(capacity(n_transfers.div_ceil(BLOCK as u64))),
        accounts: Vec::with_capacity(capacity(n_accounts)),
        by_account: HashMap::default(),
    };

    let mut last = 0u64;
    for i in 0..n_accounts {
        let mut f = record(&mut input, ACCOUNT_BYTES, "account", i)?;
        let a = Account {
            id: f.u128(),
            debits_pending: f.u128(),
            debits_posted: f.u128(),
            credits_pending: f.u128(),
            credits_posted: f.u128(),
            user_data_128: f.u128(),
            user_data_64: f.u64(),
            user_data_32: f.u32(),
            ledger: f.u32(),
            code: f.u16(),
            flags: AccountFlags::from_bits(f.u16())
                .ok_or_else(|| bad("account", i, "unknown flags"))?,
            timestamp: f.u64(),
        };
        if f.u32() != 0 {
            return Err(bad("account", i, "padding is not zero"));
        }
        if a.id == 0 || a.id == u128::MAX || a.ledger == 0 || a.code == 0 {
            return Err(bad(
                "account",
                i,
                "an id, ledger or code the ledger refuses",
            ));
        }
        let debits = a.debits_pending.checked_add(a.debits_posted);
        let credits = a.credits_pending.checked_add(a.credits_posted);
        let (Some(debits), Some(credits)) = (debits, credits) else {
            return Err(bad("account", i, "balances overflow"));
        };
        if (a
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && debits > a.credits_posted)
            || (a
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                && credits > a.debits_posted)
        {
            return Err(bad("account", i, "balances break the account's flags"));
        }
        if a.timestamp <= last || a.timestamp > clock {
            return Err(bad(
                "account",
                i,
                "timestamps out of order or after the clock",
            ));
        }
        last = a.timestamp;
        frozen.accounts.push((a.id, a.ledger));
        if ledger.accounts.insert(a.id, a).is_some() {
            return Err(bad("account", i, "a duplicate id"));
        }
    }
    if !input.take_into(&mut frozen.bytes, transfer_bytes)? {
        return Err(bad("transfer", 0, "truncated"));
    }
    check_transfers(&mut frozen, n_transfers, clock, at.seq)?;
    let mut last_id = None;
    for i in 0..n_pending {
        let mut f = record(&mut input, PENDING_BYTES, "pending", i)?;
        let id = f.u128();
        let tag = f.u8();
        let amount = f.u128();
        let state = match (tag, amount) {
            (0, 0) => PendingState::Pending,
            (1, amount) => PendingState::Posted(amount),
            (2, 0) => PendingState::Voided,
            (3, 0) => PendingState::Expired,
            _ => return Err(bad("pending", i, "an unknown state")),
        };
        if last_id.is_some_and(|l| id <= l) {
            return Err(bad("pending", i, "ids out of order"));
        }
        last_id = Some(id);
        let t = frozen
            .get(id)
            .filter(|t| t.flags.contains(TransferFlags::PENDING))
            .ok_or_else(|| bad("pending", i, "not a pending transfer"))?;
        if state == PendingState::Pending && t.timeout > 0 {
            let at = u64::from(t.timeout)
                .checked_mul(NANOS_PER_SECOND)
                .and_then(|span| t.timestamp.checked_add(span))
                .ok_or_else(|| bad("pending", i, "the timeout overflows"))?;
            ledger.expiries.insert((at, id));
        }
        ledger.pending.insert(id, state);
    }
    last_id = None;
    for i in 0..n_failed {
        let mut f = record(&mut input, FAILED_BYTES, "failed", i)?;
        let id = f.u128();
        let result = TRANSIENT_RESULTS
            .get(usize::from(f.u8()))
            .copied()
            .ok_or_else(|| bad("failed", i, "an unknown result"))?;
        if last_id.is_some_and(|l| id <= l) {
            return Err(bad("failed", i, "ids out of order"));
        }
        last_id = Some(id);
        if frozen.contains(id) {
            return Err(bad("failed", i, "the id is also a transfer"));
        }
        ledger.failed.insert(id, result);
    }
    last_id = None;
    let mut entries = 0u64;
    let mut scratch = Vec::new();
    for i in 0..n_lists {
        let mut f = record(&mut input, LIST_HEAD_BYTES, "transfer list", i)?;
        let account = f.u128();
        let n = f.u64();
        if last_id.is_some_and(|l| account <= l) {
            return Err(bad("transfer list", i, "accounts out of order"));
        }
        last_id = Some(account);
        if !ledger.accounts.contains_key(&account) {
            return Err(bad(
                "transfer list",
                i,
                "an account the ledger does not hold",
            ));
        }
        if n == 0 {
            return Err(bad("transfer list", i, "an empty list"));
        }
        entries = entries
            .checked_add(n)
            .filter(|e| Some(*e) <= n_transfers.checked_mul(2))
            .ok_or_else(|| bad("transfer list", i, "more entries than two per transfer"))?;
        let mut list = Vec::with_capacity(capacity(n));
        // In runs of up to 64 Ki positions, not one read each.
        let mut left = n;
        while left > 0 {
            let run = left.min(1 << 16);
            scratch.clear();
            if !input.take_into(&mut scratch, run * 4)? {
                return Err(bad("transfer list", i, "truncated"));
            }
            for bytes in scratch.chunks_exact(4) {
                let position = <[u8; 4]>::try_from(bytes).map_or(u32::MAX, u32::from_le_bytes);
                if u64::from(position) >= n_transfers {
                    return Err(bad("transfer list", i, "a position past the transfers"));
                }
                list.push(position);
            }
            left -= run;
        }
        frozen.by_account.insert(account, list);
    }
    if Some(entries) != n_transfers.checked_mul(2) {
        return Err(bad("transfer list", 0, "not two entries per transfer"));
    }
    last_id = None;
    for i in 0..n_history {
        let mut f = record(&mut input, HISTORY_HEAD_BYTES, "history", i)?;
        let account = f.u128();
        let n = f.u64();
        if last_id.is_some_and(|l| account <= l) {
            return Err(bad("history", i, "accounts out of order"));
        }
        last_id = Some(account);
        if !ledger
            .accounts
            .get(&account)
            .is_some_and(|a| a.flags.contains(AccountFlags::HISTORY))
        {
            return Err(bad("history", i, "not an account with history"));
        }
        if section(n, BALANCE_BYTES, "history")? > input.remaining() {
            return Err(bad("history", i, "more balances than the file holds"));
        }
        let mut list = Vec::with_capacity(capacity(n));
        let mut last_ts = 0;
        for _ in 0..n {
            let mut b = record(&mut input, BALANCE_BYTES, "history", i)?;
            let entry = AccountBalance {
                timestamp: b.u64(),
                debits_pending: b.u128(),
                debits_posted: b.u128(),
                credits_pending: b.u128(),
                credits_posted: b.u128(),
            };
            if entry.timestamp < last_ts || entry.timestamp > clock {
                return Err(bad(
                    "history",
                    i,
                    "timestamps out of order or after the clock",
                ));
            }
            last_ts = entry.timestamp;
            list.push(entry);
        }
        ledger.history.insert(account, list);
    }
    if input.remaining() != 0 {
        return Err(bad("trailer", 0, "bytes after the last section"));
    }
    let (digest, trailer) = input.src.finish()?;
    if trailer != digest {
        return Err(SnapshotError::DigestMismatch);
    }
    ledger.frozen = Arc::new(frozen);
    if ledger.totals().values().any(|t| !t.balanced()) {
        return Err(bad("account", 0, "the balances break double entry"));
    }
    Ok(Restored {
        ledger,
        info: SnapshotInfo {
            at,
            digest,
            bytes: len,
        },
    })
}

/// Reads the transfer records in `frozen.bytes`: checks each (see the
/// module documentation) and fills in the ids and the blocks.
fn check_transfers(
    frozen: &mut Frozen,
    n_transfers: u64,
    clock: u64,
    checkpoint: u64,
) -> Result<(), SnapshotError> {
    let n_accounts = frozen.accounts.len();
    let (mut offset, mut prev, mut base) = (0usize, 0u128, Block::default());
    for i in 0..n_transfers {
        let (raw, n) = Raw::decode(frozen.bytes.get(offset..).unwrap_or_default())
            .map_err(|what| bad("transfer", i, what))?;
        if raw.id_delta == 0 {
            return Err(bad("transfer", i, "ids out of order"));
        }
        let id = prev
            .checked_add(raw.id_delta)
            .filter(|id| *id != u128::MAX)
            .ok_or_else(|| bad("transfer", i, "an id the ledger refuses"))?;
        let account = |x: u32| {
            usize::try_from(x)
                .ok()
                .filter(|x| *x < n_accounts)
                .and_then(|x| frozen.accounts.get(x))
        };
        let (Some(debit), Some(credit)) = (account(raw.debit), account(raw.credit)) else {
            return Err(bad("transfer", i, "an account index past the accounts"));
        };
        if raw.debit == raw.credit || debit.1 != credit.1 {
            return Err(bad(
                "transfer",
                i,
                "accounts that are equal or on different ledgers",
            ));
        }
        if TransferFlags::from_bits(raw.flags).is_none() {
            return Err(bad("transfer", i, "unknown flags"));
        }
        let first = i % BLOCK as u64 == 0;
        let from = if first { Block::default() } else { base };
        let timestamp = frozen::undelta(from.timestamp, raw.timestamp)
            .filter(|t| *t != 0 && *t <= clock)
            .ok_or_else(|| bad("transfer", i, "a timestamp after the clock"))?;
        let seq = frozen::undelta(from.seq, raw.seq)
            .ok_or_else(|| bad("transfer", i, "a journal record out of range"))?;
        if seq > checkpoint {
            return Err(bad(
                "transfer",
                i,
                "journaled after the snapshot's checkpoint",
            ));
        }
        if first {
            base = Block {
                offset,
                timestamp,
                seq,
            };
            frozen.blocks.push(base);
        }
        frozen.ids.push(id);
        prev = id;
        offset = offset.saturating_add(n);
    }
    if offset != frozen.bytes.len() {
        return Err(bad("transfer", n_transfers, "bytes after the last record"));
    }
    Ok(())
}
