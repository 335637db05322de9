//! Snapshots: canonical bytes (golden vector from an independent script),
//! restart = last snapshot + the journal after it into an identical state,
//! bound to the journal (an edited, torn or unbound snapshot is refused).

use std::io::Cursor;

use proptest::prelude::*;
use tally_audit::storage::{Faults, SimLog};
use tally_audit::{AuditLog, CheckpointSigner, Durability, LogOptions, VerifyOptions};
use tally_ledger::journal::{DurableLedger, JournalError, replay, restore_from_snapshot};
use tally_ledger::snapshot::{self, SnapshotError, SnapshotPoint};
use tally_ledger::{AccountFlags, Ledger, NewAccount, NewTransfer, TransferFlags};

use crate::journal::{accounts, transfers};

const SECOND: u64 = 1_000_000_000;
const AT: SnapshotPoint = SnapshotPoint {
    seq: 4,
    offset: 777,
};

/// The canonical bytes of a state (equal bytes: equal states).
fn bytes(ledger: &Ledger, seq: impl Fn(u128) -> Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    snapshot::encode(ledger, seq, AT, &mut out).unwrap();
    out
}

fn decode(b: &[u8]) -> Result<snapshot::Restored, SnapshotError> {
    snapshot::decode(b, b.len() as u64)
}

/// The state of scripts/vectors/ledger_snapshot.py, built by operations.
fn golden_ledger() -> Ledger {
    let mut l = Ledger::new();
    let acct = |id, flags| NewAccount {
        id,
        ledger: 7,
        code: 10,
        flags,
        user_data_128: if id == 1 { 0xabc } else { 0 },
        ..NewAccount::default()
    };
    l.create_accounts(
        &[
            acct(
                1,
                AccountFlags::HISTORY | AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
            acct(2, AccountFlags::empty()),
        ],
        1000,
    )
    .unwrap();
    let t = |id, dr, cr, amount, code| NewTransfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger: 7,
        code,
        ..NewTransfer::default()
    };
    let results = l
        .create_transfers(
            &[
                t(10, 2, 1, 100, 1),
                NewTransfer {
                    flags: TransferFlags::PENDING,
                    timeout: 5,
                    ..t(11, 1, 2, 30, 5)
                },
                t(12, 1, 2, 500, 1),
                NewTransfer {
                    pending_id: 11,
                    flags: TransferFlags::POST_PENDING_TRANSFER,
                    ..t(13, 0, 0, 20, 0)
                },
                t(5, 2, 1, 1, 1),
            ],
            2000,
        )
        .unwrap();
    assert_eq!(
        results.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["ok", "ok", "exceeds_credits", "ok", "ok"]
    );
    // Enough transfers for a second block of records, with optional fields.
    let second: Vec<NewTransfer> = (100..136u128)
        .map(|i| NewTransfer {
            user_data_64: if i % 2 == 1 { i as u64 } else { 0 },
            user_data_128: if i == 100 { 1 << 100 } else { 0 },
            ..t(i, 2, 1, i - 99, 1)
        })
        .collect();
    let results = l.create_transfers(&second, 3000).unwrap();
    assert!(results.iter().all(|r| r.as_str() == "ok"));
    l
}

#[test]
fn the_snapshot_format_matches_the_independent_golden_vector() {
    let want = include_str!("../vectors/snapshot_v2.hex").trim();
    let got = bytes(&golden_ledger(), |_| Some(3));
    assert_eq!(tally_encoding::hex::encode(&got), want);
    // And the vector decodes into the same state.
    let raw =
        tally_encoding::hex::decode_vec(want, 1 << 20, tally_encoding::hex::Case::Lower).unwrap();
    let back = decode(&raw).unwrap();
    assert_eq!(back.info.at, AT);
    assert_eq!(back.journal_seq(13), Some(3));
    assert_eq!(bytes(&back.ledger, |id| back.journal_seq(id)), got);
}

/// A ledger with every kind of state: history, pending, posted, voided,
/// expired and failed transfers, two ledgers.
fn busy_ledger(seed: u64, rounds: u64) -> Ledger {
    let mut l = Ledger::new();
    l.create_accounts(&accounts(), SECOND).unwrap();
    let mut now = 2 * SECOND;
    for round in 0..rounds {
        now += (round % 3) * SECOND;
        let batch = transfers(seed * 1000 + round, 40, u128::from(round) * 100 + 10);
        l.create_transfers(&batch, now).unwrap();
        // Post or void some holds.
        let holds: Vec<u128> = batch
            .iter()
            .filter(|t| l.pending_state(t.id) == Some(tally_ledger::PendingState::Pending))
            .map(|t| t.id)
            .take(4)
            .collect();
        let settle: Vec<NewTransfer> = holds
            .iter()
            .enumerate()
            .map(|(i, id)| NewTransfer {
                id: 1_000_000 + id,
                pending_id: *id,
                amount: if i == 0 { 1 } else { 0 },
                flags: if i % 2 == 0 {
                    TransferFlags::POST_PENDING_TRANSFER
                } else {
                    TransferFlags::VOID_PENDING_TRANSFER
                },
                ..NewTransfer::default()
            })
            .collect();
        l.create_transfers(&settle, now).unwrap();
    }
    l
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Encode, decode, encode gives the same bytes; and the restored state
    /// behaves as the original under the same further batches (its derived
    /// indexes — per-account lists, expiries — were rebuilt right).
    #[test]
    fn a_snapshot_restores_an_identical_state(seed in 0u64..1_000, rounds in 1u64..12) {
        let original = busy_ledger(seed, rounds);
        let first = bytes(&original, |id| Some(u64::try_from(id % 3).unwrap()).filter(|s| *s > 0));
        let back = decode(&first).unwrap();
        let mut restored = back.ledger;
        prop_assert_eq!(bytes(&restored, |id| back_seq(&first, id)), first.clone());
        let mut original = original;
        let later = original.clock() + 10 * SECOND;
        for (i, now) in [later, later + 5 * SECOND].into_iter().enumerate() {
            let batch = transfers(seed + 7 + i as u64, 60, 5_000_000 + i as u128 * 100);
            let a = original.create_transfers(&batch, now).unwrap();
            let b = restored.create_transfers(&batch, now).unwrap();
            prop_assert_eq!(a, b);
            original.expire(now + 3 * SECOND);
            restored.expire(now + 3 * SECOND);
        }
        for id in 1..=4u128 {
            prop_assert_eq!(
                original.account_transfers(id, 0, usize::MAX),
                restored.account_transfers(id, 0, usize::MAX)
            );
        }
        // Restored transfers keep the journal records the snapshot gave
        // them; those created since have none here.
        prop_assert_eq!(
            bytes(&original, |id| if id < 5_000_000 { back_seq(&first, id) } else { None }),
            bytes(&restored, |_| None)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Canonical decoding, past the digest: bytes edited (mostly in the
    /// compact transfer records) with the digest recomputed either are
    /// refused or decode to a state that re-encodes to exactly those bytes,
    /// and every restored transfer reads back as that encoding says. Fails
    /// if a record field accepted a non-minimal integer, a zero optional
    /// field marked present, a length byte that does not match, or if a
    /// lookup in the frozen tier disagreed with the sequential decode.
    #[test]
    fn an_edit_with_a_recomputed_digest_is_refused_or_re_encodes_to_itself(
        seed in 0u64..50,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), any::<bool>()), 1..4),
    ) {
        let good = bytes(&busy_ledger(seed, 4), |id| back_seq(&[], id));
        let content = good.len() - 32;
        let accounts = u64::from_le_bytes(good[40..48].try_into().unwrap()) as usize;
        let records = u64::from_le_bytes(good[56..64].try_into().unwrap()) as usize;
        let start = 96 + accounts * 128;
        let mut edited = good.clone();
        for (at, byte, anywhere) in edits {
            let i = if anywhere {
                usize::from(at) % content
            } else {
                start + usize::from(at) % records
            };
            edited[i] = byte;
        }
        let digest = blake3_digest(&edited[..content]);
        edited[content..].copy_from_slice(&digest);
        if let Ok(back) = decode(&edited) {
            // Re-encoded at the checkpoint the edited header names (an
            // edit there is a different, valid point: binding it to the
            // journal is the restore's check, not the decoder's).
            let mut again = Vec::new();
            snapshot::encode(&back.ledger, |id| back.journal_seq(id), back.info.at, &mut again)
                .unwrap();
            prop_assert_eq!(&again, &edited);
            for t in back.ledger.account_transfers(1, 0, usize::MAX) {
                prop_assert_eq!(back.ledger.transfer(t.id), Some(t));
            }
        }
    }
}

/// The journal seq the first encoding gave `id` (ids mod 3, 0 meaning none).
fn back_seq(_: &[u8], id: u128) -> Option<u64> {
    Some(u64::try_from(id % 3).unwrap()).filter(|s| *s > 0)
}

#[test]
fn a_malformed_snapshot_is_refused_with_its_section_and_never_panics() {
    let good = bytes(&busy_ledger(1, 3), |_| None);
    // Every truncation.
    for len in (0..good.len()).step_by(7).chain([good.len() - 1]) {
        assert!(decode(&good[..len]).is_err(), "truncated to {len}");
    }
    // A length that claims more than the file: refused before allocating.
    let mut huge = good.clone();
    huge[48..56].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = decode(&huge).unwrap_err().to_string();
    assert!(e.contains("transfer 0: the count needs more bytes"), "{e}");
    huge[48..56].copy_from_slice(&(u64::MAX / 200).to_le_bytes());
    let e = decode(&huge).unwrap_err().to_string();
    assert!(
        e.contains("header 0: more transfers than their section's bytes can hold"),
        "{e}"
    );
    // The transfer section's length, past the file.
    let mut long = good.clone();
    long[56..64].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = decode(&long).unwrap_err().to_string();
    assert!(e.contains("header 0: the counts need more bytes"), "{e}");
    // Any flipped byte: refused (a field check or the digest).
    for i in (0..good.len()).step_by(11) {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert!(decode(&bad).is_err(), "byte {i} flipped");
    }
    // Trailing bytes.
    let mut longer = good.clone();
    longer.push(0);
    assert!(decode(&longer).is_err());
    let e = snapshot::decode(&longer[..], good.len() as u64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("after the digest"), "{e}");
    // An edit with a recomputed digest still fails a field check when it
    // breaks the state: an account balance that breaks double entry.
    let mut edited = good.clone();
    let content = edited.len() - 32;
    edited[96 + 32] ^= 1; // the first account's debits posted
    let digest = blake3_digest(&edited[..content]);
    edited[content..].copy_from_slice(&digest);
    let e = decode(&edited).unwrap_err().to_string();
    assert!(e.contains("double entry") || e.contains("flags"), "{e}");
}

/// The snapshot's digest, recomputed the way an attacker with write access
/// to the file would.
fn blake3_digest(b: &[u8]) -> [u8; 32] {
    *blake3::hash(b).as_bytes()
}

fn signed_log(sim: &SimLog, seed: u8) -> AuditLog {
    let signer = CheckpointSigner::from_seed("ledger.example/journal", &[seed; 32]).unwrap();
    AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new()
            .durability(Durability::Batch)
            .signer(signer)
            .checkpoint_on_close(false),
    )
    .unwrap()
}

fn spare_log() -> AuditLog {
    AuditLog::create_with(
        Box::new(SimLog::new(Vec::new(), Faults::default(), 99)),
        LogOptions::new().checkpoint_on_close(false),
    )
    .unwrap()
}

#[test]
fn a_restart_from_the_last_snapshot_and_the_journal_after_it_is_identical() {
    let signer = CheckpointSigner::from_seed("ledger.example/journal", &[7; 32]).unwrap();
    let opts = VerifyOptions::new().checkpoint_key(signer.verifier());
    let dir = tempfile::tempdir().unwrap();
    let sim = SimLog::new(Vec::new(), Faults::default(), 5);
    let mut durable = DurableLedger::new(signed_log(&sim, 7));
    durable.create_accounts(&accounts(), SECOND).unwrap();
    let mut now = 2 * SECOND;
    let mut snapshots = Vec::new();
    for round in 0..24u64 {
        now += (round % 4) * SECOND;
        durable
            .create_transfers(&transfers(round + 40, 50, u128::from(round) * 100), now)
            .unwrap();
        if round % 8 == 7 {
            let path = dir.path().join(format!("snap-{round}"));
            let info = durable.snapshot(&path).unwrap();
            snapshots.push((path, info));
        }
    }
    let journal = sim.contents();
    let full = replay(&journal[..], &opts).unwrap();
    let want = bytes(durable.ledger(), |id| durable.journal_seq(id));
    assert_eq!(bytes(&full, |id| durable.journal_seq(id)), want);
    for (path, info) in &snapshots {
        let file = std::fs::read(path).unwrap();
        assert_eq!(file.len() as u64, info.bytes);
        let restored =
            restore_from_snapshot(&file[..], info.bytes, Cursor::new(&journal[..]), &opts).unwrap();
        assert_eq!(restored.info, *info);
        assert!(restored.replayed > 0);
        assert_eq!(bytes(&restored.ledger, |id| restored.journal_seq(id)), want);
        // And it continues: a restored durable ledger accepts the next batch
        // as the original does.
        let mut again = DurableLedger::from_snapshot(restored, spare_log());
        let batch = transfers(999, 30, 900_000);
        assert_eq!(
            again.create_transfers(&batch, now + SECOND).unwrap(),
            durable.create_transfers(&batch, now + SECOND).unwrap()
        );
        // Undo the original's extra batch for the next comparison.
        durable = DurableLedger::restore(&journal[..], &opts, spare_log()).unwrap();
    }
}

#[test]
fn a_snapshot_the_journal_does_not_bind_is_refused() {
    let signer = CheckpointSigner::from_seed("ledger.example/journal", &[7; 32]).unwrap();
    let opts = VerifyOptions::new().checkpoint_key(signer.verifier());
    let dir = tempfile::tempdir().unwrap();
    let sim = SimLog::new(Vec::new(), Faults::default(), 6);
    let mut durable = DurableLedger::new(signed_log(&sim, 7));
    durable.create_accounts(&accounts(), SECOND).unwrap();
    durable
        .create_transfers(&transfers(1, 50, 0), 2 * SECOND)
        .unwrap();
    let path = dir.path().join("snap");
    let info = durable.snapshot(&path).unwrap();
    durable
        .create_transfers(&transfers(2, 50, 1000), 3 * SECOND)
        .unwrap();
    let journal = sim.contents();
    let good = std::fs::read(&path).unwrap();
    let restore = |snap: &[u8], journal: &[u8]| {
        restore_from_snapshot(snap, snap.len() as u64, Cursor::new(journal), &opts)
    };
    assert!(restore(&good, &journal).is_ok());

    // Edited, with its digest recomputed (an attacker with file access):
    // the journal binds the old digest.
    let mut edited = good.clone();
    let content = edited.len() - 32;
    // A user-data byte of the first transfer: no field check catches it.
    let first_transfer = 88 + 4 * 128;
    edited[first_transfer + 5 * 16] ^= 1;
    let digest = blake3_digest(&edited[..content]);
    edited[content..].copy_from_slice(&digest);
    assert!(decode(&edited).is_ok(), "well formed");
    assert!(matches!(
        restore(&edited, &journal),
        Err(JournalError::SnapshotNotBound { mismatch: true, .. })
    ));

    // Written, but the crash came before its binding record: a snapshot
    // at a later checkpoint that no record names.
    let cp = durable.log().checkpoint().unwrap();
    let mut unbound = Vec::new();
    snapshot::encode(
        durable.ledger(),
        |id| durable.journal_seq(id),
        SnapshotPoint {
            seq: cp.seq,
            offset: cp.offset,
        },
        &mut unbound,
    )
    .unwrap();
    let journal = sim.contents();
    assert!(matches!(
        restore(&unbound, &journal),
        Err(JournalError::SnapshotNotBound {
            mismatch: false,
            ..
        })
    ));

    // The checkpoint it names must be a signed checkpoint of this journal.
    let other = CheckpointSigner::from_seed("ledger.example/other", &[8; 32]).unwrap();
    let wrong_key = VerifyOptions::new().checkpoint_key(other.verifier());
    assert!(
        restore_from_snapshot(
            &good[..],
            good.len() as u64,
            Cursor::new(&journal[..]),
            &wrong_key
        )
        .is_err()
    );
    // Without a checkpoint key there is no resuming.
    assert!(
        restore_from_snapshot(
            &good[..],
            good.len() as u64,
            Cursor::new(&journal[..]),
            &VerifyOptions::new()
        )
        .is_err()
    );
    // A journal edited after the checkpoint fails its verification.
    let text = String::from_utf8(journal.clone()).unwrap();
    let cut = usize::try_from(info.at.offset).unwrap();
    let tail = text[cut..].replacen("\"now\":3000000000", "\"now\":3000000001", 1);
    let forged = format!("{}{}", &text[..cut], tail);
    assert!(restore(&good, forged.as_bytes()).is_err());
}

/// A snapshot big enough to be read by two threads (one reads and hashes,
/// one decodes): the same bytes back; a torn or edited one is refused, and
/// the refusal does not hang the reading thread.
#[test]
fn a_big_snapshot_is_read_by_two_threads_and_refused_whole_when_damaged() {
    let mut l = Ledger::new();
    l.create_accounts(&accounts(), SECOND).unwrap();
    let mut id = 0u128;
    while l.len().1 < 130_000 {
        let batch: Vec<NewTransfer> = (0..8_000)
            .map(|i| {
                id += 1;
                NewTransfer {
                    id: id * 7_919,
                    debit_account_id: 1 + i % 2,
                    credit_account_id: 3 + i % 2,
                    amount: 1 + id % 5,
                    ledger: 1,
                    code: 1,
                    user_data_128: u128::MAX - id,
                    ..NewTransfer::default()
                }
            })
            .collect();
        l.create_transfers(&batch, SECOND + u64::try_from(id).unwrap())
            .unwrap();
    }
    let good = bytes(&l, |_| Some(2));
    assert!(good.len() > 1 << 20, "{}", good.len());
    let back = decode(&good).unwrap();
    assert_eq!(bytes(&back.ledger, |_| None), good);
    // Torn anywhere: refused (the reading thread stops, nothing hangs).
    for cut in [100, good.len() / 3, good.len() / 2 + 5, good.len() - 33] {
        assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        assert!(
            snapshot::decode(&good[..cut], good.len() as u64).is_err(),
            "cut at {cut}, the length claiming more"
        );
    }
    // An edit no field check sees (a transfer's user data, its last field,
    // 19 bytes of LEB128: a low bit of a middle byte): the digest.
    let first = 96 + 4 * 128; // the first transfer record
    let second = first + 1 + usize::from(good[first]);
    let mut edited = good.clone();
    edited[second - 5] ^= 1;
    assert!(matches!(
        decode(&edited),
        Err(SnapshotError::DigestMismatch)
    ));
    // An edit a field check sees early: refused before the end is read.
    let mut early = good;
    early[second + 1] = 0xff; // the second transfer's mask
    let e = decode(&early).unwrap_err().to_string();
    assert!(e.contains("transfer 1: unknown fields in the mask"), "{e}");
}
