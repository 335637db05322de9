//! Crash injection at every store write of `mint` and `swap`, against real
//! Nutshell mints: the wallet's store fails (before or after the write
//! commits, as a crash at that point would leave it); the wallet is dropped;
//! a new wallet over the same SQLite file and seed runs `recover`. Nothing
//! is lost: every stored unspent proof is unspent at the mint, nothing stays
//! reserved or pending, and the total is what the mint owes the wallet.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::nuts::nut13::Seed;
use tally_wallet::store::{
    Balance, HistoryEntry, MeltQuote, MeltQuoteState, MintQuote, Operation, OperationId,
    OperationState, ProofState, SentToken, SentTokenState, SqliteStore, StoredProof, WalletStore,
};
use tally_wallet::wallet::Wallet;
use tally_wallet::{Error, Result};

use crate::common::sqlite;
use crate::mint::{fees_mint, pending_mint, plain_mint};
use crate::ops::{assert_conserved, invoice_from};
use tally_cashu::crypto::SecretKey;
use tally_wallet::lock::{SendLock, Unlock};
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::send::{SendOptions, SentRef};

#[derive(Clone, Copy, Debug)]
enum When {
    /// The crash comes before the write commits.
    Before,
    /// The write commits, then the crash.
    After,
}

/// Passes every call through to the SQLite store, and fails the `n`-th
/// write (counted from 1).
struct Crashing {
    inner: SqliteStore,
    writes: AtomicU32,
    crash_at: u32,
    when: When,
}

fn crash() -> Error {
    Error::CorruptRecord {
        what: "injected crash",
    }
}

impl Crashing {
    async fn write<T>(&self, op: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.crash_at {
            if let When::Before = self.when {
                return Err(crash());
            }
            op.await?;
            return Err(crash());
        }
        if n > self.crash_at {
            // Dead: a crashed process writes nothing more.
            return Err(crash());
        }
        op.await
    }
}

impl WalletStore for Crashing {
    async fn put_keyset(&self, m: &MintUrl, i: &KeySetInfo, k: Option<&Keyset>) -> Result<()> {
        self.write(self.inner.put_keyset(m, i, k)).await
    }
    async fn keysets(&self, m: &MintUrl) -> Result<Vec<KeySetInfo>> {
        self.inner.keysets(m).await
    }
    async fn keyset(&self, id: &KeysetId) -> Result<Option<Keyset>> {
        self.inner.keyset(id).await
    }
    async fn reserve_counters(&self, k: &KeysetId, count: u64) -> Result<Range<u64>> {
        self.write(self.inner.reserve_counters(k, count)).await
    }
    async fn next_counter(&self, k: &KeysetId) -> Result<u64> {
        self.inner.next_counter(k).await
    }
    async fn advance_counter(&self, k: &KeysetId, next: u64) -> Result<u64> {
        self.write(self.inner.advance_counter(k, next)).await
    }
    async fn add_proofs(&self, p: &[StoredProof]) -> Result<()> {
        self.write(self.inner.add_proofs(p)).await
    }
    async fn add_missing_proofs(&self, p: &[StoredProof]) -> Result<Vec<String>> {
        self.write(self.inner.add_missing_proofs(p)).await
    }
    async fn proofs(&self, m: &MintUrl, s: ProofState) -> Result<Vec<StoredProof>> {
        self.inner.proofs(m, s).await
    }
    async fn held_ys(&self, ys: &[String]) -> Result<Vec<String>> {
        self.inner.held_ys(ys).await
    }
    async fn reserve_proofs(&self, ys: &[String], op: &OperationId) -> Result<()> {
        self.write(self.inner.reserve_proofs(ys, op)).await
    }
    async fn set_proof_states(
        &self,
        ys: &[String],
        from: ProofState,
        to: ProofState,
        op: Option<&OperationId>,
    ) -> Result<()> {
        self.write(self.inner.set_proof_states(ys, from, to, op))
            .await
    }
    async fn balance(&self, m: &MintUrl) -> Result<Balance> {
        self.inner.balance(m).await
    }
    async fn add_operation(&self, op: &Operation) -> Result<()> {
        self.write(self.inner.add_operation(op)).await
    }
    async fn start_operation(
        &self,
        op: &Operation,
        inputs: &[String],
        token: Option<&SentToken>,
    ) -> Result<()> {
        self.write(self.inner.start_operation(op, inputs, token))
            .await
    }
    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        self.inner.operation(id).await
    }
    async fn incomplete_operations(&self) -> Result<Vec<Operation>> {
        self.inner.incomplete_operations().await
    }
    async fn set_operation_state(
        &self,
        id: &OperationId,
        from: OperationState,
        to: OperationState,
    ) -> Result<()> {
        self.write(self.inner.set_operation_state(id, from, to))
            .await
    }
    async fn finish_operation(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
    ) -> Result<()> {
        self.write(self.inner.finish_operation(id, outputs, history))
            .await
    }
    async fn put_quote(&self, q: &MintQuote) -> Result<()> {
        self.write(self.inner.put_quote(q)).await
    }
    async fn quote(&self, id: &str) -> Result<Option<MintQuote>> {
        self.inner.quote(id).await
    }
    async fn add_melt_quote(&self, q: &MeltQuote) -> Result<()> {
        self.write(self.inner.add_melt_quote(q)).await
    }
    async fn melt_quote(&self, m: &MintUrl, id: &str) -> Result<Option<MeltQuote>> {
        self.inner.melt_quote(m, id).await
    }
    async fn set_melt_quote_state(&self, m: &MintUrl, id: &str, s: MeltQuoteState) -> Result<()> {
        self.write(self.inner.set_melt_quote_state(m, id, s)).await
    }
    async fn melt_quotes(&self, limit: usize) -> Result<Vec<MeltQuote>> {
        self.inner.melt_quotes(limit).await
    }
    async fn prune_melt_quotes(&self, before_s: u64) -> Result<usize> {
        self.write(self.inner.prune_melt_quotes(before_s)).await
    }
    async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>> {
        self.inner.history(limit).await
    }
    async fn add_sent_token(&self, t: &SentToken, h: Option<&HistoryEntry>) -> Result<()> {
        self.write(self.inner.add_sent_token(t, h)).await
    }
    async fn finish_send(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
        token: &SentToken,
    ) -> Result<()> {
        self.write(self.inner.finish_send(id, outputs, history, token))
            .await
    }
    async fn sent_token(&self, id: &OperationId) -> Result<Option<SentToken>> {
        self.inner.sent_token(id).await
    }
    async fn sent_tokens(&self, m: &MintUrl, s: SentTokenState) -> Result<Vec<SentToken>> {
        self.inner.sent_tokens(m, s).await
    }
    async fn set_sent_token_state(
        &self,
        id: &OperationId,
        from: SentTokenState,
        to: SentTokenState,
    ) -> Result<()> {
        self.write(self.inner.set_sent_token_state(id, from, to))
            .await
    }
}

fn words() -> String {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string()
}

fn seed(words: &str) -> Seed {
    Seed::from_mnemonic(words, "").unwrap()
}

fn crashing(store: &SqliteStore, words: &str, crash_at: u32, when: When) -> Wallet<Crashing> {
    let store = Crashing {
        inner: store.clone(),
        writes: AtomicU32::new(0),
        crash_at,
        when,
    };
    Wallet::new(store, seed(words))
}

/// After `recover`: nothing reserved, pending or unfinished, and every
/// unspent proof the wallet holds is unspent at the mint. Returns the
/// unspent total.
async fn settled(w: &Wallet<SqliteStore>, mint: &MintUrl) -> u64 {
    let report = w.recover().await.unwrap();
    assert_eq!(report.unresolved, 0, "{report:?}");
    let b = w.balance(mint).await.unwrap();
    assert_eq!((b.reserved, b.pending), (0, 0), "{b:?}");
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    let check = w.check_state(mint).await.unwrap();
    assert_eq!(
        check.newly_spent, 0,
        "the wallet holds proofs the mint says are spent"
    );
    b.unspent
}

/// The writes of one `mint` and of one `swap`: the start (counters,
/// operation `sent`, inputs pending: one transaction, WAL-57), the finish.
const WRITES_PER_OPERATION: u32 = 2;

#[tokio::test]
async fn a_crash_at_any_write_of_mint_loses_nothing() {
    let mint = plain_mint().await;
    for when in [When::Before, When::After] {
        for crash_at in 1..=WRITES_PER_OPERATION {
            let (store, _dir) = sqlite().await;
            let words = words();
            let setup = Wallet::new(store.clone(), seed(&words));
            setup.add_mint(&mint).await.unwrap();
            let quote = setup.mint_quote(&mint, 64).await.unwrap();
            drop(setup);
            let doomed = crashing(&store, &words, crash_at, when);
            let outcome = doomed.mint(&mint, &quote.id).await;
            drop(doomed);
            let w = Wallet::new(store.clone(), seed(&words));
            let mut total = settled(&w, &mint).await;
            if total == 0 {
                // The crash came before the request left: the quote is
                // still paid and unissued, so minting again works.
                assert!(outcome.is_err());
                assert_eq!(w.mint(&mint, &quote.id).await.unwrap(), 64);
                total = settled(&w, &mint).await;
            }
            assert_eq!(total, 64, "{when:?} write {crash_at}: {outcome:?}");
        }
    }
}

#[tokio::test]
async fn a_crash_at_any_write_of_swap_loses_nothing() {
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        for when in [When::Before, When::After] {
            for crash_at in 1..=WRITES_PER_OPERATION {
                let (store, _dir) = sqlite().await;
                let words = words();
                let setup = Wallet::new(store.clone(), seed(&words));
                setup.add_mint(&mint).await.unwrap();
                let quote = setup.mint_quote(&mint, 64).await.unwrap();
                setup.mint(&mint, &quote.id).await.unwrap();
                drop(setup);
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome: Result<Vec<Proof>> = doomed.swap(&mint, 20).await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                let total = settled(&w, &mint).await;
                // One input (64) at `ppk`: the swap either happened (fee
                // paid once) or did not.
                let fee = ppk.div_ceil(1000);
                assert!(
                    total == 64 || total == 64 - fee,
                    "{when:?} write {crash_at}: {total} after {outcome:?}"
                );
                if ppk == 0 {
                    assert_eq!(total, 64);
                }
            }
        }
    }
}

/// A wallet over a fresh SQLite file funded with one 64 sat proof; returns
/// its store and words.
async fn funded_64(mint: &MintUrl) -> (SqliteStore, tempfile::TempDir, String) {
    funded_with(mint, 64).await
}

/// A wallet over a fresh SQLite file funded with `amount` (one mint).
async fn funded_with(mint: &MintUrl, amount: u64) -> (SqliteStore, tempfile::TempDir, String) {
    let (store, dir) = sqlite().await;
    let words = words();
    let setup = Wallet::new(store.clone(), seed(&words));
    setup.add_mint(mint).await.unwrap();
    let quote = setup.mint_quote(mint, amount).await.unwrap();
    setup.mint(mint, &quote.id).await.unwrap();
    (store, dir, words)
}

/// The writes of a `send` that swaps: the start (counters, operation
/// `sent`, token record, inputs pending: one transaction, WAL-57), the
/// finish with the token.
const WRITES_PER_SEND: u32 = 2;

#[tokio::test]
async fn a_crash_at_any_write_of_send_loses_nothing() {
    // 20 from one 64 (the whole 64 swapped); 100 from 1,000 held as
    // 512+256+128+64+32+8 (WAL-53: the 64 and the 32 given as they are,
    // only the 8 swapped, all three reserved together).
    for (fund, amount) in [(64u64, 20u64), (1_000, 100)] {
        crash_send(fund, amount).await;
    }
}

async fn crash_send(fund: u64, amount: u64) {
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        for when in [When::Before, When::After] {
            for crash_at in 1..=WRITES_PER_SEND {
                let (store, _dir, words) = funded_with(&mint, fund).await;
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome = doomed.send(&mint, amount, &SendOptions::default()).await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                settled(&w, &mint).await;
                // No token is left half made: made, or abandoned.
                assert!(
                    w.store()
                        .sent_tokens(&mint, SentTokenState::Preparing)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let owned = assert_conserved(&w, &mint).await;
                // One input swapped, then (reclaim) at most three.
                let fee = ppk.div_ceil(1000);
                assert!(
                    owned == fund || owned == fund - fee,
                    "{fund}/{amount} {when:?} write {crash_at}: {owned} after {outcome:?}"
                );
                // A token that was made (at once or by recover) is reclaimed
                // whole; nothing stays sent.
                for t in w.unredeemed(&mint).await.unwrap() {
                    w.reclaim(SentRef::Id(&t.id)).await.unwrap();
                }
                let b = w.balance(&mint).await.unwrap();
                assert_eq!(b.sent, 0, "{when:?} write {crash_at}");
                let swaps = if owned == fund { 0 } else { 1 };
                let reclaimed = if b.unspent < owned { 1 } else { 0 };
                assert_eq!(
                    b.unspent,
                    fund - fee * (swaps + reclaimed),
                    "{fund}/{amount} {when:?} write {crash_at}: {outcome:?}"
                );
                assert_conserved(&w, &mint).await;
            }
        }
    }
}

/// The writes of a `receive`: the start (counters, operation `sent`: one
/// transaction, WAL-57), the finish.
const WRITES_PER_RECEIVE: u32 = 2;

#[tokio::test]
async fn a_crash_at_any_write_of_receive_loses_nothing() {
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        for when in [When::Before, When::After] {
            for crash_at in 1..=WRITES_PER_RECEIVE {
                let (sender_store, _sender_dir, sender_words) = funded_64(&mint).await;
                let sender = Wallet::new(sender_store, seed(&sender_words));
                let sent = sender
                    .send(&mint, 20, &SendOptions::default())
                    .await
                    .unwrap();
                let (store, _dir) = sqlite().await;
                let words = words();
                let setup = Wallet::new(store.clone(), seed(&words));
                setup.add_mint(&mint).await.unwrap();
                drop(setup);
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome = doomed
                    .receive(&sent.token, &ReceiveOptions::default())
                    .await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                let mut owned = settled(&w, &mint).await;
                // Two proofs (16 + 4) at `ppk`.
                let fee = (2 * ppk).div_ceil(1000);
                if owned == 0 {
                    // The swap never left: the token is still good.
                    assert!(outcome.is_err());
                    w.receive(&sent.token, &ReceiveOptions::default())
                        .await
                        .unwrap();
                    owned = settled(&w, &mint).await;
                }
                assert_eq!(owned, 20 - fee, "{when:?} write {crash_at}: {outcome:?}");
                assert_eq!(assert_conserved(&w, &mint).await, 20 - fee);
                // The sender sees the token redeemed.
                assert_eq!(sender.check_state(&mint).await.unwrap().redeemed, 2);
                assert_eq!(sender.balance(&mint).await.unwrap().sent, 0);
            }
        }
    }
}

/// A P2BK lock to a receiver's key whose locktime has passed, so that the
/// refund key (the sender's) reclaims at once; and the two keys.
fn passed_lock() -> (SendLock, SecretKey, SecretKey) {
    let refund = SecretKey::from_bytes([0xa1; 32]).unwrap();
    let receiver = SecretKey::from_bytes([0xa2; 32]).unwrap();
    let lock = SendLock::p2pk(receiver.public_key())
        .with_refund(1, vec![refund.public_key()])
        .blinded();
    (lock, refund, receiver)
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_locked_send_loses_nothing() {
    let (lock, refund, _) = passed_lock();
    let options = SendOptions {
        lock: Some(lock),
        ..SendOptions::default()
    };
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        for when in [When::Before, When::After] {
            // The same writes as an unlocked send: the lock rides in the
            // operation record.
            for crash_at in 1..=WRITES_PER_SEND {
                let (store, _dir, words) = funded_64(&mint).await;
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome = doomed.send(&mint, 20, &options).await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                settled(&w, &mint).await;
                assert!(
                    w.store()
                        .sent_tokens(&mint, SentTokenState::Preparing)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let owned = assert_conserved(&w, &mint).await;
                let fee = ppk.div_ceil(1000);
                assert!(
                    owned == 64 || owned == 64 - fee,
                    "{when:?} write {crash_at}: {owned} after {outcome:?}"
                );
                // A locked token that was made (at once or by recover) is
                // reclaimed whole with the refund key, blinded slot and all.
                let unlock = Unlock::keys(vec![refund.clone()]);
                for t in w.unredeemed(&mint).await.unwrap() {
                    w.reclaim_with(SentRef::Id(&t.id), &unlock).await.unwrap();
                }
                let b = w.balance(&mint).await.unwrap();
                assert_eq!(b.sent, 0, "{when:?} write {crash_at}");
                let swaps = if owned == 64 { 0 } else { 1 };
                let reclaimed = if b.unspent < owned { 1 } else { 0 };
                assert_eq!(
                    b.unspent,
                    64 - fee * (swaps + reclaimed),
                    "{when:?} write {crash_at}: {outcome:?}"
                );
                assert_conserved(&w, &mint).await;
            }
        }
    }
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_locked_receive_loses_nothing() {
    let (lock, _, receiver) = passed_lock();
    let options = SendOptions {
        lock: Some(lock),
        ..SendOptions::default()
    };
    let unlock = Unlock::keys(vec![receiver]);
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        for when in [When::Before, When::After] {
            for crash_at in 1..=WRITES_PER_RECEIVE {
                let (sender_store, _sender_dir, sender_words) = funded_64(&mint).await;
                let sender = Wallet::new(sender_store, seed(&sender_words));
                let sent = sender.send(&mint, 20, &options).await.unwrap();
                let (store, _dir) = sqlite().await;
                let words = words();
                let setup = Wallet::new(store.clone(), seed(&words));
                setup.add_mint(&mint).await.unwrap();
                drop(setup);
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome = doomed
                    .receive_with(&sent.token, &ReceiveOptions::default(), &unlock)
                    .await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                let mut owned = settled(&w, &mint).await;
                let fee = (2 * ppk).div_ceil(1000);
                if owned == 0 {
                    // The swap never left: the token is still good (the
                    // stored request, witnesses and all, was never sent).
                    assert!(outcome.is_err());
                    w.receive_with(&sent.token, &ReceiveOptions::default(), &unlock)
                        .await
                        .unwrap();
                    owned = settled(&w, &mint).await;
                }
                assert_eq!(owned, 20 - fee, "{when:?} write {crash_at}: {outcome:?}");
                assert_eq!(assert_conserved(&w, &mint).await, 20 - fee);
                assert_eq!(sender.check_state(&mint).await.unwrap().redeemed, 2);
                assert_eq!(sender.balance(&mint).await.unwrap().sent, 0);
            }
        }
    }
}

/// The writes of a melt quote and its `melt`: quote, counters, operation,
/// inputs, sent, finish.
const WRITES_PER_MELT: u32 = 6;

#[tokio::test]
async fn a_crash_at_any_write_of_melt_loses_nothing() {
    let plain = plain_mint().await;
    let fees = fees_mint().await;
    for (mint, other, ppk) in [(&plain, &fees, 0u64), (&fees, &plain, 100)] {
        for when in [When::Before, When::After] {
            for crash_at in 1..=WRITES_PER_MELT {
                let (store, _dir, words) = funded_64(mint).await;
                let invoice = invoice_from(other, 10).await;
                let doomed = crashing(&store, &words, crash_at, when);
                let outcome = async {
                    let quote = doomed.melt_quote(mint, &invoice).await?;
                    doomed.melt(mint, &quote).await
                }
                .await;
                drop(doomed);
                let w = Wallet::new(store.clone(), seed(&words));
                let owned = settled(&w, mint).await;
                // Resumed by the stored quote's id (`tally wallet melt
                // --quote ID`): paid now if it was never sent, refused
                // locally if recover finished it.
                let stored = w.store().melt_quotes(10).await.unwrap();
                let resumed = match stored.as_slice() {
                    [] => {
                        // Only a crash before the quote's write loses it.
                        assert!(matches!(when, When::Before) && crash_at == 1);
                        let quote = w.melt_quote(mint, &invoice).await.unwrap();
                        w.melt(mint, &quote).await
                    }
                    [quote] => {
                        assert_eq!(
                            (quote.amount, quote.request.as_str()),
                            (10, invoice.as_str())
                        );
                        w.melt_by_id(mint, &quote.id).await
                    }
                    more => panic!("{} quotes stored for one", more.len()),
                };
                if owned == 64 {
                    assert!(outcome.is_err());
                    resumed.unwrap();
                } else {
                    assert!(matches!(resumed, Err(Error::QuotePaid)), "{resumed:?}");
                }
                let owned = settled(&w, mint).await;
                // Paid once: 10, FakeWallet's 1 sat fee, the input fee.
                let input_fee = ppk.div_ceil(1000);
                assert_eq!(
                    owned,
                    64 - 10 - 1 - input_fee,
                    "{when:?} write {crash_at}: {outcome:?}"
                );
                assert_eq!(
                    w.store().melt_quotes(1).await.unwrap()[0].state,
                    MeltQuoteState::Paid
                );
                assert_conserved(&w, mint).await;
            }
        }
    }
}

#[tokio::test]
async fn a_pending_melt_is_resumed_by_its_quote_id_after_a_restart() {
    let mint = pending_mint().await;
    let (store, _dir, words) = funded_64(&mint).await;
    let first = Wallet::new(store.clone(), seed(&words));
    let invoice = invoice_from(&plain_mint().await, 10).await;
    let quote = first.melt_quote(&mint, &invoice).await.unwrap();
    let err = first.melt(&mint, &quote).await.unwrap_err();
    assert!(matches!(err, Error::MeltPending), "{err}");
    drop(first);
    // A new process over the same file: the quote is listed, pending, with
    // everything needed to resume it.
    let w = Wallet::new(store.clone(), seed(&words));
    let listed = w.store().melt_quotes(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    let stored = &listed[0];
    assert_eq!(
        (
            stored.id.as_str(),
            stored.request.as_str(),
            stored.amount,
            stored.fee_reserve,
            stored.unit.as_str(),
            stored.state,
            &stored.mint
        ),
        (
            quote.id.as_str(),
            invoice.as_str(),
            10,
            quote.fee_reserve,
            "sat",
            MeltQuoteState::Pending,
            &mint
        )
    );
    assert_eq!(w.balance(&mint).await.unwrap().pending, 64);
    let missing = w.melt_by_id(&mint, "no-such-quote").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    // Resumed, not started again: the pending melt's own inputs settle.
    let melted = w.melt_by_id(&mint, &quote.id).await.unwrap();
    assert_eq!(melted.inputs, 64);
    assert!(melted.cost() <= 10 + quote.fee_reserve, "{melted:?}");
    let stored = w
        .store()
        .melt_quote(&mint, &quote.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, MeltQuoteState::Paid);
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    let b = w.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.pending), (64 - melted.cost(), 0));
    assert_eq!(assert_conserved(&w, &mint).await, 64 - melted.cost());
    let again = w.melt_by_id(&mint, &quote.id).await.unwrap_err();
    assert!(matches!(again, Error::QuotePaid), "{again}");
}

#[tokio::test]
async fn a_crash_at_the_one_write_of_an_exact_send_loses_nothing() {
    let mint = plain_mint().await;
    for when in [When::Before, When::After] {
        let (store, _dir, words) = funded_64(&mint).await;
        let doomed = crashing(&store, &words, 1, when);
        let outcome = doomed.send(&mint, 64, &SendOptions::default()).await;
        assert!(outcome.is_err());
        drop(doomed);
        let w = Wallet::new(store.clone(), seed(&words));
        settled(&w, &mint).await;
        let b = w.balance(&mint).await.unwrap();
        // All or nothing: the proof is sent with its token, or still held.
        let tokens = w.unredeemed(&mint).await.unwrap();
        match when {
            When::Before => assert_eq!((b.unspent, b.sent, tokens.len()), (64, 0, 0)),
            When::After => assert_eq!((b.unspent, b.sent, tokens.len()), (0, 64, 1)),
        }
        assert_eq!(assert_conserved(&w, &mint).await, 64);
    }
}
