//! One conformance suite for every `WalletStore`: each test runs the same
//! function against the in-memory store and the SQLite store.

use std::collections::BTreeSet;
use std::sync::Arc;

use tally_wallet::Error;
use tally_wallet::store::{
    Balance, COUNTER_RANGE_MAX, HistoryEntry, MeltQuote, MeltQuoteState, MemoryStore, MintQuote,
    Operation, OperationId, OperationKind, OperationState, ProofState, SentToken, SentTokenState,
    StoredProof, TokenFormat, WalletStore,
};

use crate::common::{keyset, mint_url, proof, sqlite};

/// Runs `$check` against a fresh in-memory store, then a fresh SQLite store.
macro_rules! on_every_store {
    ($check:ident) => {{
        $check(MemoryStore::new()).await;
        let (store, _dir) = sqlite().await;
        $check(store).await;
    }};
}

fn stored(n: u64, amount: u64, state: ProofState) -> StoredProof {
    let ks = keyset(1, 8);
    StoredProof::new(mint_url(), proof(&ks.id(), amount, n), state, None).unwrap()
}

fn operation(id: &OperationId, quote: Option<&str>) -> Operation {
    Operation {
        id: id.clone(),
        mint: mint_url(),
        kind: OperationKind::Swap,
        state: OperationState::Prepared,
        keyset_id: keyset(1, 8).id(),
        counters: 0..2,
        amounts: vec![1, 2],
        request: "{}".into(),
        quote_id: quote.map(str::to_owned),
        created_s: 1,
        lock: None,
    }
}

async fn keysets_round_trip<S: WalletStore>(store: S) {
    let ks = keyset(3, 6);
    store
        .put_keyset(&mint_url(), ks.info(), Some(&ks))
        .await
        .unwrap();
    // Metadata-only update keeps the keys.
    let mut info = ks.info().clone();
    info.active = false;
    store.put_keyset(&mint_url(), &info, None).await.unwrap();
    assert_eq!(store.keysets(&mint_url()).await.unwrap(), vec![info]);
    assert_eq!(store.keyset(&ks.id()).await.unwrap(), Some(ks));
    assert_eq!(store.keyset(&keyset(4, 6).id()).await.unwrap(), None);
}

#[tokio::test]
async fn keysets_are_stored_with_their_keys() {
    on_every_store!(keysets_round_trip);
}

/// The counter ranges the tasks got, checked to tile `0..` with no overlap
/// and no gap; returns where they end.
async fn contiguous(tasks: Vec<tokio::task::JoinHandle<Vec<std::ops::Range<u64>>>>) -> u64 {
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.extend(t.await.unwrap());
    }
    ranges.sort_by_key(|r| r.start);
    let mut next = 0;
    for r in &ranges {
        assert_eq!(r.start, next, "ranges overlap or leave a gap: {ranges:?}");
        next = r.end;
    }
    next
}

async fn counter_ranges<S: WalletStore>(store: S) {
    let id = keyset(1, 8).id();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..25u64 {
                got.push(store.reserve_counters(&id, 1 + (t + i) % 5).await.unwrap());
            }
            got
        }));
    }
    let next = contiguous(tasks).await;
    assert_eq!(store.next_counter(&id).await.unwrap(), next);
    assert!(matches!(
        store.reserve_counters(&id, 0).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        store.reserve_counters(&id, COUNTER_RANGE_MAX + 1).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        store.next_counter(&id).await.unwrap(),
        next,
        "a refused call changed the counter"
    );
    // Another keyset counts on its own.
    assert_eq!(
        store.reserve_counters(&keyset(2, 8).id(), 3).await.unwrap(),
        0..3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counter_ranges_never_overlap_under_concurrency() {
    on_every_store!(counter_ranges);
}

async fn concurrent_reservations<S: WalletStore>(store: S) {
    let proofs: Vec<StoredProof> = (0..60).map(|n| stored(n, 1, ProofState::Unspent)).collect();
    store.add_proofs(&proofs).await.unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let op = OperationId(format!("op{t}"));
            let mut won = Vec::new();
            loop {
                let free = store
                    .proofs(&mint_url(), ProofState::Unspent)
                    .await
                    .unwrap();
                if free.is_empty() {
                    return won;
                }
                // Every task goes for the same (first) proofs: maximal contention.
                let pick: Vec<String> = free.iter().take(3).map(|p| p.y.clone()).collect();
                match store.reserve_proofs(&pick, &op).await {
                    Ok(()) => won.extend(pick),
                    Err(Error::StateConflict { .. }) => {}
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for t in tasks {
        for y in t.await.unwrap() {
            assert!(seen.insert(y), "a proof was reserved by two operations");
            total += 1;
        }
    }
    assert_eq!(total, 60);
    let balance = store.balance(&mint_url()).await.unwrap();
    assert_eq!(
        balance,
        Balance {
            unspent: 0,
            reserved: 60,
            pending: 0,
            sent: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_share_a_proof() {
    on_every_store!(concurrent_reservations);
}

async fn all_or_nothing<S: WalletStore>(store: S) {
    let a = stored(1, 4, ProofState::Unspent);
    let b = stored(2, 8, ProofState::Unspent);
    store.add_proofs(&[a.clone(), b.clone()]).await.unwrap();
    // A duplicate in a batch refuses the whole batch.
    let c = stored(3, 16, ProofState::Unspent);
    assert!(matches!(
        store.add_proofs(&[c.clone(), a.clone()]).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(store.balance(&mint_url()).await.unwrap().unspent, 12);
    let op1 = OperationId("one".into());
    let op2 = OperationId("two".into());
    store
        .reserve_proofs(std::slice::from_ref(&a.y), &op1)
        .await
        .unwrap();
    // b is free but a is not: neither moves.
    assert!(matches!(
        store
            .reserve_proofs(&[b.y.clone(), a.y.clone()], &op2)
            .await,
        Err(Error::StateConflict { .. })
    ));
    assert!(matches!(
        store.reserve_proofs(std::slice::from_ref(&c.y), &op2).await,
        Err(Error::NotFound { .. })
    ));
    let unspent = store
        .proofs(&mint_url(), ProofState::Unspent)
        .await
        .unwrap();
    assert_eq!(unspent.len(), 1);
    assert_eq!(unspent[0].y, b.y);
    let reserved = store
        .proofs(&mint_url(), ProofState::Reserved)
        .await
        .unwrap();
    assert_eq!(reserved[0].operation, Some(op1));
    // The DLEQ-carrying proof comes back exactly as stored.
    assert_eq!(reserved[0].proof, a.proof);
}

#[tokio::test]
async fn state_changes_are_all_or_nothing() {
    on_every_store!(all_or_nothing);
}

async fn saga_lifecycle<S: WalletStore>(store: S) {
    let inputs = [
        stored(1, 4, ProofState::Unspent),
        stored(2, 8, ProofState::Unspent),
    ];
    store.add_proofs(&inputs).await.unwrap();
    let quote = MintQuote {
        id: "q1".into(),
        mint: mint_url(),
        amount: 12,
        unit: "sat".into(),
        request: "lnbc...".into(),
        state: "PAID".into(),
        expiry_s: None,
        signing_key: None,
        key_nonce: None,
    };
    store.put_quote(&quote).await.unwrap();
    let id = OperationId("saga".into());
    let ys: Vec<String> = inputs.iter().map(|p| p.y.clone()).collect();
    store.reserve_proofs(&ys, &id).await.unwrap();
    store
        .add_operation(&operation(&id, Some("q1")))
        .await
        .unwrap();
    assert!(matches!(
        store.add_operation(&operation(&id, None)).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(store.incomplete_operations().await.unwrap().len(), 1);
    // Backwards and skipping moves are refused.
    assert!(matches!(
        store
            .set_operation_state(&id, OperationState::Prepared, OperationState::Done)
            .await,
        Err(Error::StateConflict { .. })
    ));
    store
        .set_operation_state(&id, OperationState::Prepared, OperationState::Sent)
        .await
        .unwrap();
    assert_eq!(
        store.balance(&mint_url()).await.unwrap(),
        Balance {
            unspent: 0,
            reserved: 0,
            pending: 12,
            sent: 0
        }
    );
    assert!(matches!(
        store
            .set_operation_state(&id, OperationState::Sent, OperationState::Prepared)
            .await,
        Err(Error::StateConflict { .. })
    ));
    let outputs = [
        stored(10, 2, ProofState::Unspent),
        stored(11, 8, ProofState::Unspent),
    ];
    let history = HistoryEntry {
        operation: id.clone(),
        mint: mint_url(),
        kind: OperationKind::Swap,
        amount_in: 10,
        amount_out: 12,
        at_s: 5,
    };
    store
        .finish_operation(&id, &outputs, &history)
        .await
        .unwrap();
    assert_eq!(
        store.balance(&mint_url()).await.unwrap(),
        Balance {
            unspent: 10,
            reserved: 0,
            pending: 0,
            sent: 0
        }
    );
    assert_eq!(
        store
            .proofs(&mint_url(), ProofState::Spent)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.operation(&id).await.unwrap().unwrap().state,
        OperationState::Done
    );
    assert!(store.incomplete_operations().await.unwrap().is_empty());
    assert_eq!(store.quote("q1").await.unwrap().unwrap().state, "ISSUED");
    assert_eq!(store.history(10).await.unwrap(), vec![history.clone()]);
    // Finishing twice is refused and changes nothing.
    assert!(matches!(
        store
            .finish_operation(&id, &[stored(12, 1, ProofState::Unspent)], &history)
            .await,
        Err(Error::StateConflict { .. })
    ));
    assert_eq!(store.history(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sagas_move_forward_and_finish_in_one_step() {
    on_every_store!(saga_lifecycle);
}

async fn definitive_failure_releases<S: WalletStore>(store: S) {
    let input = stored(1, 4, ProofState::Unspent);
    store
        .add_proofs(std::slice::from_ref(&input))
        .await
        .unwrap();
    let id = OperationId("fails".into());
    store
        .reserve_proofs(std::slice::from_ref(&input.y), &id)
        .await
        .unwrap();
    store.add_operation(&operation(&id, None)).await.unwrap();
    store
        .set_operation_state(&id, OperationState::Prepared, OperationState::Sent)
        .await
        .unwrap();
    store
        .set_operation_state(&id, OperationState::Sent, OperationState::Failed)
        .await
        .unwrap();
    assert_eq!(
        store.balance(&mint_url()).await.unwrap(),
        Balance {
            unspent: 4,
            reserved: 0,
            pending: 0,
            sent: 0
        }
    );
    assert!(matches!(
        store
            .set_operation_state(&id, OperationState::Failed, OperationState::Sent)
            .await,
        Err(Error::StateConflict { .. })
    ));
}

#[tokio::test]
async fn a_failed_operation_releases_its_inputs() {
    on_every_store!(definitive_failure_releases);
}

#[tokio::test]
async fn sqlite_store_persists_across_reopen_and_refuses_open_directories() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::common::private_dir();
    let path = dir.path().join("wallet.db");
    {
        let store = tally_wallet::store::SqliteStore::open(&path).await.unwrap();
        store
            .add_proofs(&[stored(1, 4, ProofState::Unspent)])
            .await
            .unwrap();
        store.reserve_counters(&keyset(1, 8).id(), 7).await.unwrap();
    }
    let store = tally_wallet::store::SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.balance(&mint_url()).await.unwrap().unspent, 4);
    assert_eq!(store.next_counter(&keyset(1, 8).id()).await.unwrap(), 7);
    // The database and its -wal and -shm files: private.
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", entry.file_name());
        files += 1;
    }
    assert!(files >= 2, "the WAL file exists while the store is open");
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(
        tally_wallet::store::SqliteStore::open(&open.path().join("w.db")).await,
        Err(Error::UnsafePermissions { .. })
    ));
}

fn sent_token(id: &OperationId, state: SentTokenState, ys: Vec<String>) -> SentToken {
    SentToken {
        id: id.clone(),
        mint: mint_url(),
        state,
        amount: 6,
        memo: Some("thanks".into()),
        format: TokenFormat::V4,
        send_count: 2,
        ys,
        token: "cashuB...".into(),
        created_s: 3,
    }
}

async fn sent_tokens_move_their_proofs_atomically<S: WalletStore>(store: S) {
    let (a, b, c) = (
        stored(1, 2, ProofState::Unspent),
        stored(2, 4, ProofState::Unspent),
        stored(3, 8, ProofState::Reserved),
    );
    store
        .add_proofs(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    // One proof not unspent: nothing moves, no token is written.
    let bad = OperationId::random().unwrap();
    let refused = store
        .add_sent_token(
            &sent_token(
                &bad,
                SentTokenState::Unredeemed,
                vec![a.y.clone(), c.y.clone()],
            ),
            None,
        )
        .await;
    assert!(
        matches!(refused, Err(Error::StateConflict { .. })),
        "{refused:?}"
    );
    assert_eq!(store.sent_token(&bad).await.unwrap(), None);
    assert_eq!(store.balance(&mint_url()).await.unwrap().unspent, 6);
    // An exact send: both proofs move to sent with the token and its history.
    let id = OperationId::random().unwrap();
    let token = sent_token(
        &id,
        SentTokenState::Unredeemed,
        vec![a.y.clone(), b.y.clone()],
    );
    let history = HistoryEntry {
        operation: id.clone(),
        mint: mint_url(),
        kind: OperationKind::Send,
        amount_in: 0,
        amount_out: 6,
        at_s: 4,
    };
    store.add_sent_token(&token, Some(&history)).await.unwrap();
    assert!(matches!(
        store.add_sent_token(&token, None).await,
        Err(Error::AlreadyExists { .. })
    ));
    let balance = store.balance(&mint_url()).await.unwrap();
    assert_eq!((balance.unspent, balance.sent), (0, 6));
    assert_eq!(store.sent_token(&id).await.unwrap(), Some(token.clone()));
    assert_eq!(
        store
            .sent_tokens(&mint_url(), SentTokenState::Unredeemed)
            .await
            .unwrap(),
        vec![token]
    );
    assert_eq!(store.history(1).await.unwrap(), vec![history]);
    let held = store.proofs(&mint_url(), ProofState::Sent).await.unwrap();
    assert!(held.iter().all(|p| p.operation.as_ref() == Some(&id)));
    // States move by compare-and-set only.
    assert!(matches!(
        store
            .set_sent_token_state(&id, SentTokenState::Preparing, SentTokenState::Redeemed)
            .await,
        Err(Error::StateConflict { .. })
    ));
    store
        .set_sent_token_state(&id, SentTokenState::Unredeemed, SentTokenState::Redeemed)
        .await
        .unwrap();
    assert!(
        store
            .sent_tokens(&mint_url(), SentTokenState::Unredeemed)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_send_swap_finishes_with_its_token_in_one_step<S: WalletStore>(store: S) {
    let input = stored(1, 16, ProofState::Unspent);
    store
        .add_proofs(std::slice::from_ref(&input))
        .await
        .unwrap();
    let id = OperationId::random().unwrap();
    let mut op = operation(&id, None);
    op.kind = OperationKind::Send;
    store.add_operation(&op).await.unwrap();
    store
        .add_sent_token(&sent_token(&id, SentTokenState::Preparing, vec![]), None)
        .await
        .unwrap();
    store
        .reserve_proofs(std::slice::from_ref(&input.y), &id)
        .await
        .unwrap();
    store
        .set_operation_state(&id, OperationState::Prepared, OperationState::Sent)
        .await
        .unwrap();
    let mut sent = stored(2, 8, ProofState::Sent);
    sent.operation = Some(id.clone());
    let change = stored(3, 8, ProofState::Unspent);
    let token = sent_token(&id, SentTokenState::Unredeemed, vec![sent.y.clone()]);
    let history = HistoryEntry {
        operation: id.clone(),
        mint: mint_url(),
        kind: OperationKind::Send,
        amount_in: 8,
        amount_out: 16,
        at_s: 5,
    };
    // A token for another operation is refused; nothing changes.
    let other = sent_token(
        &OperationId::random().unwrap(),
        SentTokenState::Unredeemed,
        vec![],
    );
    assert!(
        store
            .finish_send(&other.id, &[sent.clone(), change.clone()], &history, &other)
            .await
            .is_err()
    );
    assert_eq!(store.balance(&mint_url()).await.unwrap().pending, 16);
    store
        .finish_send(&id, &[sent, change], &history, &token)
        .await
        .unwrap();
    let balance = store.balance(&mint_url()).await.unwrap();
    assert_eq!((balance.unspent, balance.pending, balance.sent), (8, 0, 8));
    assert_eq!(store.sent_token(&id).await.unwrap(), Some(token));
    assert_eq!(
        store.operation(&id).await.unwrap().unwrap().state,
        OperationState::Done
    );
}

#[tokio::test]
async fn sent_tokens_are_stored_with_their_proofs_in_one_step() {
    on_every_store!(sent_tokens_move_their_proofs_atomically);
    on_every_store!(a_send_swap_finishes_with_its_token_in_one_step);
}

#[tokio::test]
async fn migration_2_keeps_every_record_of_a_version_1_store() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    let dir = crate::common::private_dir();
    let path = dir.path().join("wallet.db");
    let held = stored(1, 8, ProofState::Unspent);
    let pending = stored(2, 4, ProofState::Pending);
    {
        // A store as version 1 left it, with two proofs.
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let v1 = [(
            1,
            "wallet",
            include_str!("../../migrations/0001_wallet.sql"),
        )];
        tally_sql::apply_sqlite(&mut tx, "tally-wallet", &v1)
            .await
            .unwrap();
        for p in [&held, &pending] {
            sqlx::query(
                "INSERT INTO proofs (y, mint, amount, state, operation, proof) VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
            )
            .bind(&p.y)
            .bind(p.mint.as_str())
            .bind(p.proof.amount.value().to_string())
            .bind(p.state.as_str())
            .bind(serde_json::to_string(&p.proof).unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        pool.close().await;
    }
    let store = tally_wallet::store::SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store
            .proofs(&mint_url(), ProofState::Unspent)
            .await
            .unwrap(),
        vec![held.clone()]
    );
    assert_eq!(
        store
            .proofs(&mint_url(), ProofState::Pending)
            .await
            .unwrap(),
        vec![pending]
    );
    // The new state is accepted by the rebuilt table.
    let id = OperationId::random().unwrap();
    store
        .add_sent_token(
            &sent_token(&id, SentTokenState::Unredeemed, vec![held.y.clone()]),
            None,
        )
        .await
        .unwrap();
    let balance = store.balance(&mint_url()).await.unwrap();
    assert_eq!((balance.unspent, balance.pending, balance.sent), (0, 4, 8));
    drop(store);
    // Opening again applies nothing twice.
    let store = tally_wallet::store::SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.balance(&mint_url()).await.unwrap().sent, 8);
}

async fn counters_advance_never_back<S: WalletStore>(store: S) {
    let id = keyset(1, 8).id();
    assert_eq!(store.advance_counter(&id, 10).await.unwrap(), 10);
    assert_eq!(store.next_counter(&id).await.unwrap(), 10);
    // Lower or equal: unchanged.
    assert_eq!(store.advance_counter(&id, 3).await.unwrap(), 10);
    assert_eq!(store.advance_counter(&id, 10).await.unwrap(), 10);
    // Reservations continue past it.
    assert_eq!(store.reserve_counters(&id, 2).await.unwrap(), 10..12);
    assert_eq!(store.advance_counter(&id, 11).await.unwrap(), 12);
    // Past what the store can hold: refused, unchanged.
    assert!(matches!(
        store.advance_counter(&id, u64::MAX).await,
        Err(Error::CounterExhausted(_))
    ));
    assert_eq!(store.next_counter(&id).await.unwrap(), 12);
    // Another keyset is its own.
    assert_eq!(store.next_counter(&keyset(2, 8).id()).await.unwrap(), 0);
}

#[tokio::test]
async fn advance_counter_moves_forward_only() {
    on_every_store!(counters_advance_never_back);
}

async fn missing_proofs_only<S: WalletStore>(store: S) {
    let held = stored(1, 2, ProofState::Spent);
    store.add_proofs(std::slice::from_ref(&held)).await.unwrap();
    let batch: Vec<StoredProof> = (0..4).map(|n| stored(n, 2, ProofState::Unspent)).collect();
    let added = store.add_missing_proofs(&batch).await.unwrap();
    let expected: Vec<String> = [0u64, 2, 3]
        .iter()
        .map(|n| batch[*n as usize].y.clone())
        .collect();
    assert_eq!(added, expected, "the held proof is skipped");
    // The held proof keeps its state.
    assert_eq!(
        store.proofs(&mint_url(), ProofState::Spent).await.unwrap(),
        vec![held]
    );
    // Again: nothing added.
    assert!(store.add_missing_proofs(&batch).await.unwrap().is_empty());
    assert_eq!(store.balance(&mint_url()).await.unwrap().unspent, 6);
    // Bounded like add_proofs.
    let many: Vec<StoredProof> = (100..100 + tally_wallet::store::PROOFS_PER_CALL_MAX as u64 + 1)
        .map(|n| stored(n, 1, ProofState::Unspent))
        .collect();
    assert!(matches!(
        store.add_missing_proofs(&many).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(
        store
            .add_missing_proofs(&many[..tally_wallet::store::PROOFS_PER_CALL_MAX])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn add_missing_proofs_adds_only_what_is_not_held() {
    on_every_store!(missing_proofs_only);
}

fn melt_quote(id: &str, mint: &str, created_s: u64) -> MeltQuote {
    MeltQuote {
        id: id.to_owned(),
        mint: tally_cashu::nuts::nut00::MintUrl::new(mint).unwrap(),
        request: "lnbc100n1fake".to_owned(),
        amount: 10,
        fee_reserve: 2,
        unit: "sat".to_owned(),
        state: MeltQuoteState::Unpaid,
        expiry_s: Some(1_000),
        created_s,
    }
}

async fn melt_quotes_are_kept_per_mint<S: WalletStore>(store: S) {
    let first = melt_quote("q1", "http://127.0.0.1:1", 1);
    // Another mint's quote of the same id is another quote.
    let other = melt_quote("q1", "http://127.0.0.1:2", 2);
    store.add_melt_quote(&first).await.unwrap();
    store.add_melt_quote(&other).await.unwrap();
    let mut changed = first.clone();
    changed.amount = 1;
    let err = store.add_melt_quote(&changed).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(
        store.melt_quote(&first.mint, "q1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.melt_quote(&other.mint, "q1").await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(store.melt_quote(&first.mint, "q2").await.unwrap(), None);
    // Newest first, bounded.
    assert_eq!(
        store.melt_quotes(10).await.unwrap(),
        vec![other.clone(), first.clone()]
    );
    assert_eq!(store.melt_quotes(1).await.unwrap(), vec![other.clone()]);
    assert!(store.melt_quotes(0).await.unwrap().is_empty());
    // States move; paid is final.
    store
        .set_melt_quote_state(&first.mint, "q1", MeltQuoteState::Pending)
        .await
        .unwrap();
    let read = store.melt_quote(&first.mint, "q1").await.unwrap().unwrap();
    assert_eq!(read.state, MeltQuoteState::Pending);
    assert_eq!(
        store
            .melt_quote(&other.mint, "q1")
            .await
            .unwrap()
            .unwrap()
            .state,
        MeltQuoteState::Unpaid
    );
    store
        .set_melt_quote_state(&first.mint, "q1", MeltQuoteState::Paid)
        .await
        .unwrap();
    let err = store
        .set_melt_quote_state(&first.mint, "q1", MeltQuoteState::Unpaid)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StateConflict { .. }), "{err}");
    let read = store.melt_quote(&first.mint, "q1").await.unwrap().unwrap();
    assert_eq!(read.state, MeltQuoteState::Paid);
    let err = store
        .set_melt_quote_state(&first.mint, "nope", MeltQuoteState::Pending)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn melt_quotes_are_stored_per_mint_and_paid_is_final() {
    on_every_store!(melt_quotes_are_kept_per_mint);
}

async fn a_finished_melt_pays_its_quote<S: WalletStore>(store: S) {
    // A mint quote of the same id is left alone.
    let mint_quote = MintQuote {
        id: "m1".into(),
        mint: mint_url(),
        amount: 10,
        unit: "sat".into(),
        request: "lnbc".into(),
        state: "PAID".into(),
        expiry_s: None,
        signing_key: None,
        key_nonce: None,
    };
    store.put_quote(&mint_quote).await.unwrap();
    let quote = melt_quote("m1", mint_url().as_str(), 1);
    store.add_melt_quote(&quote).await.unwrap();
    let history = |id: &OperationId| HistoryEntry {
        operation: id.clone(),
        mint: mint_url(),
        kind: OperationKind::Melt,
        amount_in: 0,
        amount_out: 0,
        at_s: 1,
    };
    for quote_id in ["m1", "not-stored"] {
        let id = OperationId::random().unwrap();
        let mut op = operation(&id, Some(quote_id));
        op.kind = OperationKind::Melt;
        store.add_operation(&op).await.unwrap();
        store
            .set_operation_state(&id, OperationState::Prepared, OperationState::Sent)
            .await
            .unwrap();
        // A melt whose quote was never stored (one made before quotes
        // were) finishes all the same.
        store
            .finish_operation(&id, &[], &history(&id))
            .await
            .unwrap();
        assert_eq!(
            store.operation(&id).await.unwrap().unwrap().state,
            OperationState::Done
        );
    }
    let read = store.melt_quote(&mint_url(), "m1").await.unwrap().unwrap();
    assert_eq!(read.state, MeltQuoteState::Paid);
    assert_eq!(store.quote("m1").await.unwrap(), Some(mint_quote));
}

#[tokio::test]
async fn a_finished_melt_marks_its_quote_paid_in_the_same_step() {
    on_every_store!(a_finished_melt_pays_its_quote);
}

async fn held_ys_by_y<S: WalletStore>(store: S) {
    let held: Vec<StoredProof> = ProofState::ALL
        .iter()
        .enumerate()
        .map(|(n, state)| stored(n as u64 + 1, 2, *state))
        .collect();
    store.add_proofs(&held).await.unwrap();
    // Another mint's proof is held too: `Y` is the store's key.
    let mut other = stored(9, 4, ProofState::Unspent);
    other.mint = tally_cashu::nuts::nut00::MintUrl::new("https://other.example").unwrap();
    store
        .add_proofs(std::slice::from_ref(&other))
        .await
        .unwrap();
    let unknown = stored(10, 2, ProofState::Unspent).y;
    let mut asked: Vec<String> = vec![unknown.clone(), other.y.clone()];
    asked.extend(held.iter().rev().map(|p| p.y.clone()));
    let mut want = vec![other.y.clone()];
    want.extend(held.iter().rev().map(|p| p.y.clone()));
    assert_eq!(store.held_ys(&asked).await.unwrap(), want);
    assert!(store.held_ys(&[unknown]).await.unwrap().is_empty());
    assert!(store.held_ys(&[]).await.unwrap().is_empty());
    let too_many = vec![other.y.clone(); tally_wallet::store::PROOFS_PER_CALL_MAX + 1];
    assert!(matches!(
        store.held_ys(&too_many).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn held_ys_finds_a_proof_by_y_in_any_state() {
    on_every_store!(held_ys_by_y);
}

/// An operation to start at `counters` (state `sent`, kind send).
fn started(id: &OperationId, counters: std::ops::Range<u64>) -> Operation {
    let mut op = operation(id, None);
    op.kind = OperationKind::Send;
    op.state = OperationState::Sent;
    op.amounts = counters.clone().map(|_| 1).collect();
    op.counters = counters;
    op
}

async fn start_in_one_step<S: WalletStore>(store: S) {
    let (a, b, c) = (
        stored(1, 2, ProofState::Unspent),
        stored(2, 4, ProofState::Unspent),
        stored(3, 8, ProofState::Spent),
    );
    store
        .add_proofs(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    let ks = keyset(1, 8).id();
    let id = OperationId::random().unwrap();
    let op = started(&id, 0..2);
    let token = sent_token(&id, SentTokenState::Preparing, vec![b.y.clone()]);
    let unchanged = |what: &'static str| {
        let store = &store;
        let id = id.clone();
        async move {
            assert_eq!(store.next_counter(&ks).await.unwrap(), 0, "{what}");
            assert_eq!(store.operation(&id).await.unwrap(), None, "{what}");
            assert_eq!(store.sent_token(&id).await.unwrap(), None, "{what}");
            assert_eq!(
                store.balance(&mint_url()).await.unwrap().unspent,
                6,
                "{what}"
            );
        }
    };
    // Refused, each changing nothing: a prepared operation, counters that
    // do not begin at the next one, an input not unspent or missing, a
    // token that is not this operation's preparing record.
    let mut prepared = op.clone();
    prepared.state = OperationState::Prepared;
    let refusals = [
        (prepared, vec![a.y.clone()], Some(token.clone()), "prepared"),
        (started(&id, 1..3), vec![a.y.clone()], None, "counters"),
        (
            op.clone(),
            vec![a.y.clone(), c.y.clone()],
            None,
            "spent input",
        ),
        (
            op.clone(),
            vec![a.y.clone(), stored(4, 1, ProofState::Unspent).y],
            Some(token.clone()),
            "missing input",
        ),
        (
            op.clone(),
            vec![a.y.clone()],
            Some(sent_token(&id, SentTokenState::Unredeemed, vec![])),
            "token state",
        ),
        (
            op.clone(),
            vec![a.y.clone()],
            Some(sent_token(
                &OperationId::random().unwrap(),
                SentTokenState::Preparing,
                vec![],
            )),
            "token id",
        ),
    ];
    for (op, inputs, token, what) in refusals {
        assert!(
            store
                .start_operation(&op, &inputs, token.as_ref())
                .await
                .is_err(),
            "{what}"
        );
        unchanged(what).await;
    }
    // Started: counters, operation (`sent`, incomplete), inputs pending
    // for it, token record; all at once.
    store
        .start_operation(&op, &[a.y.clone(), b.y.clone()], Some(&token))
        .await
        .unwrap();
    assert_eq!(store.next_counter(&ks).await.unwrap(), 2);
    assert_eq!(store.operation(&id).await.unwrap(), Some(op.clone()));
    assert_eq!(
        store.incomplete_operations().await.unwrap(),
        vec![op.clone()]
    );
    assert_eq!(store.sent_token(&id).await.unwrap(), Some(token));
    let pending = store
        .proofs(&mint_url(), ProofState::Pending)
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|p| p.operation.as_ref() == Some(&id)));
    // The same counters again are taken; the same operation is held.
    let again = started(&OperationId::random().unwrap(), 0..2);
    assert!(matches!(
        store.start_operation(&again, &[], None).await,
        Err(Error::StateConflict { .. })
    ));
    assert!(
        store
            .start_operation(&started(&id, 2..3), &[], None)
            .await
            .is_err()
    );
    assert_eq!(store.next_counter(&ks).await.unwrap(), 2);
    // Without counters, nothing counts; a failure releases what it holds.
    let none = started(&OperationId::random().unwrap(), 0..0);
    store.start_operation(&none, &[], None).await.unwrap();
    assert_eq!(store.next_counter(&ks).await.unwrap(), 2);
    store
        .set_operation_state(&id, OperationState::Sent, OperationState::Failed)
        .await
        .unwrap();
    assert_eq!(store.balance(&mint_url()).await.unwrap().unspent, 6);
}

#[tokio::test]
async fn an_operation_starts_with_its_counters_inputs_and_token_in_one_step() {
    on_every_store!(start_in_one_step);
}

async fn concurrent_starts<S: WalletStore>(store: S) {
    let ks = keyset(1, 8).id();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for t in 0..6u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..10u64 {
                let count = 1 + (t + i) % 4;
                loop {
                    let next = store.next_counter(&ks).await.unwrap();
                    let op = started(&OperationId::random().unwrap(), next..next + count);
                    match store.start_operation(&op, &[], None).await {
                        Ok(()) => break got.push(op.counters),
                        Err(Error::StateConflict { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            got
        }));
    }
    let next = contiguous(tasks).await;
    assert_eq!(store.next_counter(&ks).await.unwrap(), next);
    assert_eq!(store.incomplete_operations().await.unwrap().len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn started_counter_ranges_never_overlap_under_concurrency() {
    on_every_store!(concurrent_starts);
}

#[tokio::test]
async fn a_sqlite_keyset_is_always_what_its_stored_keys_give() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    let dir = crate::common::private_dir();
    let path = dir.path().join("wallet.db");
    let store = tally_wallet::store::SqliteStore::open(&path).await.unwrap();
    let (a, b) = (keyset(5, 6), keyset(6, 6));
    store
        .put_keyset(&mint_url(), a.info(), Some(&a))
        .await
        .unwrap();
    // Parsed once, then served from what was parsed while the text is the
    // same.
    assert_eq!(store.keyset(&a.id()).await.unwrap(), Some(a.clone()));
    assert_eq!(store.keyset(&a.id()).await.unwrap(), Some(a.clone()));
    // Another writer (another process on the same file) changes the stored
    // text: the next read answers what parsing it gives now (another
    // keyset, a refusal of text that does not parse), never the earlier
    // parse.
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    let set_keys = |text: String| {
        let pool = pool.clone();
        let id = a.id().to_hex();
        async move {
            sqlx::query("UPDATE keysets SET keys = ?1 WHERE id = ?2")
                .bind(text)
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    set_keys(b.to_json().unwrap()).await;
    assert_eq!(store.keyset(&a.id()).await.unwrap(), Some(b));
    set_keys("{}".into()).await;
    assert!(matches!(
        store.keyset(&a.id()).await,
        Err(Error::CorruptRecord { .. })
    ));
    set_keys(a.to_json().unwrap()).await;
    assert_eq!(store.keyset(&a.id()).await.unwrap(), Some(a));
}

async fn settled_melt_quotes_pruned<S: WalletStore>(store: S) {
    let m = "https://mint.example";
    let quote = |id: &str, state: MeltQuoteState, created_s: u64, expiry_s: Option<u64>| {
        let mut q = melt_quote(id, m, created_s);
        q.state = state;
        q.expiry_s = expiry_s;
        q
    };
    let quotes = [
        quote("paid-old", MeltQuoteState::Paid, 100, Some(150)),
        quote("paid-new", MeltQuoteState::Paid, 600, Some(700)),
        quote("unpaid-expired", MeltQuoteState::Unpaid, 100, Some(400)),
        quote("unpaid-live", MeltQuoteState::Unpaid, 100, Some(900)),
        quote("unpaid-no-expiry", MeltQuoteState::Unpaid, 100, None),
        quote("pending-old", MeltQuoteState::Pending, 100, Some(150)),
        quote("in-use", MeltQuoteState::Unpaid, 100, Some(300)),
    ];
    for q in &quotes {
        store.add_melt_quote(q).await.unwrap();
    }
    // Another mint's quote of the same id as the one in use is its own
    // (expired: pruned, the melt does not keep it).
    let mut other = melt_quote("in-use", "https://other.example", 100);
    other.expiry_s = Some(300);
    store.add_melt_quote(&other).await.unwrap();
    // An unfinished melt of "in-use" (sent: its payment may still happen).
    let id = OperationId::random().unwrap();
    let mut op = operation(&id, Some("in-use"));
    op.kind = OperationKind::Melt;
    op.mint = tally_cashu::nuts::nut00::MintUrl::new(m).unwrap();
    store.add_operation(&op).await.unwrap();
    store
        .set_operation_state(&id, OperationState::Prepared, OperationState::Sent)
        .await
        .unwrap();
    // Nothing settled before 50.
    assert_eq!(store.prune_melt_quotes(50).await.unwrap(), 0);
    assert_eq!(store.prune_melt_quotes(500).await.unwrap(), 3);
    let left: BTreeSet<(String, String)> = store
        .melt_quotes(100)
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.mint.as_str().to_owned(), q.id))
        .collect();
    let want: BTreeSet<(String, String)> = [
        (m, "paid-new"),
        (m, "unpaid-live"),
        (m, "unpaid-no-expiry"),
        (m, "pending-old"),
        (m, "in-use"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(left, want);
    // Once the melt is finished, its quote (now paid) goes too.
    store
        .finish_operation(
            &id,
            &[],
            &HistoryEntry {
                operation: id.clone(),
                mint: op.mint.clone(),
                kind: OperationKind::Melt,
                amount_in: 0,
                amount_out: 12,
                at_s: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.prune_melt_quotes(500).await.unwrap(), 1);
    assert_eq!(store.melt_quote(&op.mint, "in-use").await.unwrap(), None);
    assert_eq!(store.melt_quotes(100).await.unwrap().len(), 4);
}

#[tokio::test]
async fn settled_melt_quotes_are_pruned_but_never_one_a_melt_needs() {
    on_every_store!(settled_melt_quotes_pruned);
}
