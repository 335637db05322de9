//! A transfer's inclusion proof from a long journal: served over HTTP from
//! the journal's proof index, it verifies as `tally ledger verify-proof`
//! verifies (`verify_transfer_proof`), and serving it reads the record line
//! and the header line only (bytes counted through the journal's file, not
//! timed).

use std::sync::atomic::Ordering;

use tally_audit::storage::{CountingLog, FileLog};
use tally_audit::{AuditLog, CheckpointSigner, Durability, InclusionProof, Keyring, LogOptions};
use tally_ledger::journal::{DurableLedger, verify_transfer_proof};
use tally_ledger::{NewAccount, NewTransfer};
use tally_serve::config::Limits;

use crate::support::{ACME, runtime};
use crate::tenancy::{owner_tag, proof};

const BATCHES: u128 = 4_000;

fn transfer(id: u128) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: id,
        ledger: 1,
        code: 1,
        ..NewTransfer::default()
    }
}

#[test]
fn a_proof_from_a_long_journal_reads_one_record_and_verifies() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::File::create(&path).unwrap();
        // The journal's real file, counting the bytes read from it.
        let (file, read) = CountingLog::new(FileLog::open_locked(&path).unwrap());
        let signer = CheckpointSigner::generate("test").unwrap();
        let vkey = signer.verifier();
        // Filled before the server starts (no sync per batch: this is about
        // the proof, not durability), one transfer per journal record.
        let opts = LogOptions::new()
            .signer(signer)
            .durability(Durability::None)
            .proof_index(true);
        let mut ledger = DurableLedger::new(AuditLog::create_with(Box::new(file), opts).unwrap());
        let account = |id| NewAccount {
            id,
            ledger: 1,
            code: 1,
            user_data_128: owner_tag("acme"),
            ..NewAccount::default()
        };
        ledger
            .create_accounts(&[account(1), account(2)], 1_000)
            .unwrap();
        for id in 1..=BATCHES {
            ledger
                .create_transfers(&[transfer(id)], 1_000 + 10 * u64::try_from(id).unwrap())
                .unwrap();
        }
        let journal_bytes = std::fs::metadata(&path).unwrap().len();
        assert!(journal_bytes > 1_000_000, "{journal_bytes}");
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.journal = Some((ledger, vkey.clone()));
        let running = tally_serve::start(c).await.unwrap();
        let addr = running.addr;
        // The first proof waits for the index and signs a checkpoint.
        assert_eq!(proof(addr, 1, &ACME).await.status, 200);
        for id in [2, BATCHES / 2, BATCHES] {
            let before = read.load(Ordering::Relaxed);
            let r = proof(addr, id, &ACME).await;
            let bytes_read = read.load(Ordering::Relaxed) - before;
            assert_eq!(r.status, 200);
            let text = String::from_utf8(r.body).unwrap();
            let p = InclusionProof::parse(&text).unwrap();
            // As `tally ledger verify-proof` does.
            let proven = verify_transfer_proof(&p, &vkey, &Keyring::new(), id).unwrap();
            assert_eq!(proven, transfer(id));
            assert!(p.tree_size > u64::try_from(BATCHES).unwrap());
            // Two lines (record and header), not the journal.
            assert!(
                (p.record.len() + p.header.len()) as u64 == bytes_read,
                "{bytes_read} bytes read for a proof"
            );
        }
        running.stop().await;
    });
}
