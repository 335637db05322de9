//! Transfers restored from a snapshot, kept in the snapshot's own compact
//! encoding, so that a restart reads them sequentially into a few arrays
//! instead of inserting millions of entries into hash maps (random memory
//! access) or expanding each into a 128-byte struct (page faults of a
//! gigabyte for ten million transfers: the cost that dominated restarts).
//!
//! * `ids`: every id, sorted, found by interpolation then bisection;
//! * `bytes`: the records (format below), in id order;
//! * `blocks`: for every [`BLOCK`] records, where the first starts and its
//!   timestamp and journal record, which the others are stored against;
//! * `accounts`: the snapshot's accounts (id, ledger) by index;
//! * `by_account`: each account's transfers as positions, timestamp order.
//!
//! A restored transfer takes 16 bytes of id, its record (about 12 bytes when
//! the optional fields are zero and amounts small) and 8 bytes in two
//! account lists, instead of 136. Reading one decodes at most [`BLOCK`]
//! length bytes and one record.
//!
//! # Record (snapshot format version 2)
//!
//! `len: u8` (the bytes after it), `mask: u8`, then LEB128 integers
//! ([`tally_encoding::leb128`], canonical): the id minus the previous
//! record's id (the first: minus 0), the debit and credit accounts' indices,
//! amount, flags, code, the timestamp and the journal record each as the
//! zigzag of the difference from the block's first record (the first
//! record of a block: from 0), then, only where `mask` says so (bits 0 to 4
//! in this order), pending id, user data 128, user data 64, user data 32 and
//! timeout, each nonzero. The ledger is the accounts' (both must agree).
//!
//! Transfers never change once created, so this tier is immutable and
//! shared between clones. Transfers created after the restart live in the
//! ledger's hash map beside it; a lookup asks the map first.

use tally_encoding::leb128;

use crate::state::HashMap;
use crate::types::{Transfer, TransferFlags};

/// Records per block.
pub(crate) const BLOCK: usize = 32;

/// Interpolation steps before the search falls back to bisection (ids
/// chosen to defeat interpolation cost at most this many extra probes).
const INTERPOLATION_STEPS: u32 = 4;

const MASK_PENDING_ID: u8 = 1;
const MASK_USER_DATA_128: u8 = 1 << 1;
const MASK_USER_DATA_64: u8 = 1 << 2;
const MASK_USER_DATA_32: u8 = 1 << 3;
const MASK_TIMEOUT: u8 = 1 << 4;
const MASK_KNOWN: u8 = 0b1_1111;

/// The fewest bytes a record takes (length, mask and eight one-byte
/// integers).
pub(crate) const MIN_RECORD_BYTES: usize = 10;

/// Where a block starts, and what its records are stored against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Block {
    pub(crate) offset: usize,
    pub(crate) timestamp: u64,
    pub(crate) seq: u64,
}

/// The frozen tier.
#[derive(Debug, Default)]
pub(crate) struct Frozen {
    /// Sorted by id, strictly increasing.
    pub(crate) ids: Vec<u128>,
    /// The records, in the order of `ids`.
    pub(crate) bytes: Vec<u8>,
    /// One per [`BLOCK`] records.
    pub(crate) blocks: Vec<Block>,
    /// The accounts the records name, by index: id and ledger.
    pub(crate) accounts: Vec<(u128, u32)>,
    /// Each account's transfers: positions into `ids`, timestamp order.
    pub(crate) by_account: HashMap<u128, Vec<u32>>,
}

/// A record's fields as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Raw {
    pub(crate) id_delta: u128,
    pub(crate) debit: u32,
    pub(crate) credit: u32,
    pub(crate) amount: u128,
    pub(crate) flags: u16,
    pub(crate) code: u16,
    /// Zigzag of the difference from the block's base.
    pub(crate) timestamp: u128,
    /// Zigzag of the difference from the block's base.
    pub(crate) seq: u128,
    pub(crate) pending_id: u128,
    pub(crate) user_data_128: u128,
    pub(crate) user_data_64: u64,
    pub(crate) user_data_32: u32,
    pub(crate) timeout: u32,
}

/// Appends `v` to `out`.
#[inline]
fn put(out: &mut Vec<u8>, v: u128) {
    let mut buf = [0u8; leb128::MAX_BYTES];
    let n = leb128::encode(v, &mut buf);
    out.extend_from_slice(buf.get(..n).unwrap_or_default());
}

/// The zigzag of `v - base`.
#[inline]
pub(crate) fn delta(v: u64, base: u64) -> u128 {
    leb128::zigzag(i128::from(v) - i128::from(base))
}

/// `base` plus the difference `zz` encodes, if it is a `u64`.
#[inline]
pub(crate) fn undelta(base: u64, zz: u128) -> Option<u64> {
    u64::try_from(i128::from(base).checked_add(leb128::unzigzag(zz))?).ok()
}

impl Raw {
    /// Appends the record (length byte first) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(0);
        let mut mask = 0u8;
        for (bit, v) in [
            (MASK_PENDING_ID, self.pending_id),
            (MASK_USER_DATA_128, self.user_data_128),
            (MASK_USER_DATA_64, u128::from(self.user_data_64)),
            (MASK_USER_DATA_32, u128::from(self.user_data_32)),
            (MASK_TIMEOUT, u128::from(self.timeout)),
        ] {
            if v != 0 {
                mask |= bit;
            }
        }
        out.push(mask);
        for v in [
            self.id_delta,
            u128::from(self.debit),
            u128::from(self.credit),
            self.amount,
            u128::from(self.flags),
            u128::from(self.code),
            self.timestamp,
            self.seq,
        ] {
            put(out, v);
        }
        for v in [
            self.pending_id,
            self.user_data_128,
            u128::from(self.user_data_64),
            u128::from(self.user_data_32),
            u128::from(self.timeout),
        ] {
            if v != 0 {
                put(out, v);
            }
        }
        // At most 2 + 19 × 8 + … bytes: the fields' widths keep it under
        // 255 (see `a_record_of_the_widest_fields_fits_its_length_byte`).
        let len = u8::try_from(out.len() - start - 1).unwrap_or(u8::MAX);
        if let Some(b) = out.get_mut(start) {
            *b = len;
        }
    }

    /// Decodes the record at the front of `bytes`: its fields and the bytes
    /// it takes (length byte included). Canonical: the length byte must be
    /// exact, every integer minimal and in range, and an optional field
    /// present exactly when it is nonzero.
    #[inline]
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Self, usize), &'static str> {
        let (&len, rest) = bytes.split_first().ok_or("truncated")?;
        let body = rest.get(..usize::from(len)).ok_or("truncated")?;
        let (&mask, mut cur) = body.split_first().ok_or("an empty record")?;
        if mask & !MASK_KNOWN != 0 {
            return Err("unknown fields in the mask");
        }
        let cur = &mut cur;
        let mut r = Self {
            id_delta: int(cur)?,
            debit: narrow(cur)?,
            credit: narrow(cur)?,
            amount: int(cur)?,
            flags: narrow(cur)?,
            code: narrow(cur)?,
            timestamp: int(cur)?,
            seq: int(cur)?,
            ..Self::default()
        };
        if mask != 0 {
            r.pending_id = optional(cur, mask & MASK_PENDING_ID != 0)?;
            r.user_data_128 = optional(cur, mask & MASK_USER_DATA_128 != 0)?;
            r.user_data_64 = narrow_optional(cur, mask & MASK_USER_DATA_64 != 0)?;
            r.user_data_32 = narrow_optional(cur, mask & MASK_USER_DATA_32 != 0)?;
            r.timeout = narrow_optional(cur, mask & MASK_TIMEOUT != 0)?;
        }
        if !cur.is_empty() {
            return Err("bytes after the record's fields");
        }
        Ok((r, usize::from(len) + 1))
    }
}

/// The next integer of a record (the one-byte case inline: most are).
#[inline(always)]
fn int(cur: &mut &[u8]) -> Result<u128, &'static str> {
    match cur.split_first() {
        Some((&b, rest)) if b < 0x80 => {
            *cur = rest;
            Ok(u128::from(b))
        }
        _ => wide(cur),
    }
}

#[inline(never)]
fn wide(cur: &mut &[u8]) -> Result<u128, &'static str> {
    let (v, n) = leb128::decode(cur).map_err(|_| "a malformed integer")?;
    *cur = cur.get(n..).unwrap_or_default();
    Ok(v)
}

/// The next integer, which must fit `T`.
#[inline(always)]
fn narrow<T: TryFrom<u128>>(cur: &mut &[u8]) -> Result<T, &'static str> {
    T::try_from(int(cur)?).map_err(|_| "an integer out of range")
}

/// An optional field: present (and then nonzero) or zero.
#[inline(always)]
fn optional(cur: &mut &[u8], present: bool) -> Result<u128, &'static str> {
    if !present {
        return Ok(0);
    }
    match int(cur)? {
        0 => Err("an optional field present but zero"),
        v => Ok(v),
    }
}

#[inline(always)]
fn narrow_optional<T: TryFrom<u128>>(cur: &mut &[u8], present: bool) -> Result<T, &'static str> {
    T::try_from(optional(cur, present)?).map_err(|_| "an integer out of range")
}

impl Frozen {
    /// The position of transfer `id`.
    pub(crate) fn find(&self, id: u128) -> Option<usize> {
        let list = &self.ids;
        let (mut lo, mut hi) = (0usize, list.len());
        for _ in 0..INTERPOLATION_STEPS {
            if lo >= hi {
                return None;
            }
            let (a, b) = (*list.get(lo)?, *list.get(hi - 1)?);
            if id < a || id > b {
                return None;
            }
            if a == b {
                return (a == id).then_some(lo);
            }
            // Where `id` would be if ids were spread evenly over [a, b].
            let span = b - a;
            let off = id - a;
            let width = (hi - 1 - lo) as u128;
            let shift = 128u32
                .saturating_sub(span.leading_zeros())
                .saturating_sub(64);
            let guess = (off >> shift)
                .checked_mul(width)
                .map(|x| x / ((span >> shift).max(1)))
                .and_then(|x| usize::try_from(x).ok())
                .map_or(lo, |x| lo + x.min(hi - 1 - lo));
            let at = *list.get(guess)?;
            match at.cmp(&id) {
                core::cmp::Ordering::Equal => return Some(guess),
                core::cmp::Ordering::Less => lo = guess + 1,
                core::cmp::Ordering::Greater => hi = guess,
            }
        }
        let rest = list.get(lo..hi)?;
        rest.binary_search(&id).ok().map(|i| lo + i)
    }

    /// Whether transfer `id` is here.
    #[inline]
    pub(crate) fn contains(&self, id: u128) -> bool {
        !self.ids.is_empty() && self.find(id).is_some()
    }

    /// Transfer `id`.
    pub(crate) fn get(&self, id: u128) -> Option<Transfer> {
        if self.ids.is_empty() {
            return None;
        }
        self.decode_at(self.find(id)?).map(|(t, _)| t)
    }

    /// The journal record that created transfer `id`.
    pub(crate) fn seq(&self, id: u128) -> Option<u64> {
        if self.ids.is_empty() {
            return None;
        }
        self.decode_at(self.find(id)?)
            .map(|(_, s)| s)
            .filter(|s| *s != 0)
    }

    /// The transfer at position `i`.
    pub(crate) fn at(&self, i: u32) -> Option<Transfer> {
        self.decode_at(usize::try_from(i).ok()?).map(|(t, _)| t)
    }

    /// The transfer at position `i` and its journal record.
    fn decode_at(&self, i: usize) -> Option<(Transfer, u64)> {
        let block = self.blocks.get(i / BLOCK)?;
        let mut offset = block.offset;
        for _ in 0..i % BLOCK {
            offset = offset.checked_add(1 + usize::from(*self.bytes.get(offset)?))?;
        }
        let (raw, _) = Raw::decode(self.bytes.get(offset..)?).ok()?;
        let base = if i.is_multiple_of(BLOCK) {
            Block::default()
        } else {
            *block
        };
        self.expand(*self.ids.get(i)?, &raw, &base)
    }

    /// The transfer a record describes, given its id and its block's base.
    pub(crate) fn expand(&self, id: u128, raw: &Raw, base: &Block) -> Option<(Transfer, u64)> {
        let debit = self.accounts.get(usize::try_from(raw.debit).ok()?)?;
        let credit = self.accounts.get(usize::try_from(raw.credit).ok()?)?;
        Some((
            Transfer {
                id,
                debit_account_id: debit.0,
                credit_account_id: credit.0,
                amount: raw.amount,
                pending_id: raw.pending_id,
                user_data_128: raw.user_data_128,
                user_data_64: raw.user_data_64,
                user_data_32: raw.user_data_32,
                timeout: raw.timeout,
                ledger: debit.1,
                code: raw.code,
                flags: TransferFlags::from_bits(raw.flags)?,
                timestamp: undelta(base.timestamp, raw.timestamp)?,
            },
            undelta(base.seq, raw.seq)?,
        ))
    }

    /// Every transfer and its journal record, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Transfer, u64)> + '_ {
        let mut offset = 0usize;
        let mut base = Block::default();
        self.ids.iter().enumerate().map_while(move |(i, id)| {
            let (raw, n) = Raw::decode(self.bytes.get(offset..)?).ok()?;
            offset = offset.checked_add(n)?;
            let first = i % BLOCK == 0;
            let from = if first { Block::default() } else { base };
            let (t, seq) = self.expand(*id, &raw, &from)?;
            if first {
                base = Block {
                    offset: 0,
                    timestamp: t.timestamp,
                    seq,
                };
            }
            Some((t, seq))
        })
    }

    /// `account`'s transfers, as positions, timestamp order.
    pub(crate) fn positions(&self, account: u128) -> &[u32] {
        self.by_account.get(&account).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frozen(ids: &[u128]) -> Frozen {
        Frozen {
            ids: ids.to_vec(),
            ..Frozen::default()
        }
    }

    #[test]
    fn finds_every_id_and_nothing_else_whatever_the_spread() {
        let spreads: Vec<Vec<u128>> = vec![
            (1..=1000).collect(),
            (1..=1000).map(|i| i * 7_919).collect(),
            (0..1000u128)
                .map(|i| i * i * i * i * i * 1_000_003)
                .collect(),
            (1..=500)
                .chain((1..=500).map(|i| u128::MAX - 1 - i * 3))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            (0..127).map(|b| 1u128 << b).collect(),
            vec![5],
            vec![],
        ];
        for ids in spreads {
            let f = frozen(&ids);
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(f.find(*id), Some(i), "{id}");
                if !ids.contains(&(id + 1)) {
                    assert_eq!(f.find(id + 1), None);
                }
                if *id > 0 && !ids.contains(&(id - 1)) {
                    assert_eq!(f.find(id - 1), None);
                }
            }
            assert_eq!(f.find(0).is_some(), ids.contains(&0));
            assert_eq!(f.find(u128::MAX), None);
        }
    }

    #[test]
    fn a_record_of_the_widest_fields_fits_its_length_byte() {
        let raw = Raw {
            id_delta: u128::MAX,
            debit: u32::MAX,
            credit: u32::MAX,
            amount: u128::MAX,
            flags: u16::MAX,
            code: u16::MAX,
            timestamp: u128::MAX,
            seq: u128::MAX,
            pending_id: u128::MAX,
            user_data_128: u128::MAX,
            user_data_64: u64::MAX,
            user_data_32: u32::MAX,
            timeout: u32::MAX,
        };
        let mut out = Vec::new();
        raw.encode(&mut out);
        assert_eq!(usize::from(out[0]) + 1, out.len());
        assert!(out.len() <= 256);
        assert_eq!(Raw::decode(&out), Ok((raw, out.len())));
        let small = Raw::default();
        let mut out = Vec::new();
        small.encode(&mut out);
        assert_eq!(out.len(), MIN_RECORD_BYTES);
        assert_eq!(Raw::decode(&out), Ok((small, MIN_RECORD_BYTES)));
    }

    #[test]
    fn a_record_that_is_not_canonical_is_refused() {
        let raw = Raw {
            id_delta: 3,
            amount: 300,
            timeout: 5,
            ..Raw::default()
        };
        let mut good = Vec::new();
        raw.encode(&mut good);
        assert!(Raw::decode(&good).is_ok());
        // An optional field marked present but zero.
        let mut zero = Vec::new();
        Raw { timeout: 0, ..raw }.encode(&mut zero);
        zero[1] |= MASK_USER_DATA_32;
        zero.push(0);
        zero[0] += 1;
        assert!(Raw::decode(&zero).is_err());
        // Unknown mask bits, a long length byte, a short one.
        let mut bits = good.clone();
        bits[1] |= 0x80;
        assert!(Raw::decode(&bits).is_err());
        let mut long = good.clone();
        long[0] += 1;
        long.push(0);
        assert!(Raw::decode(&long).is_err());
        let mut short = good.clone();
        short[0] -= 1;
        assert!(Raw::decode(&short).is_err());
        assert!(Raw::decode(&good[..good.len() - 1]).is_err());
    }
}
