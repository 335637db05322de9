//! Wallet operations as persisted sagas.
//!
//! Each operation follows the same steps, each one durable before the next:
//!
//! 1. the outputs' NUT-13 counters reserved (never handed out twice);
//! 2. the operation written with the exact request body (`Prepared`);
//! 3. its inputs reserved atomically (`Unspent → Reserved`,
//!    compare-and-set; a lost race fails this operation and picks again);
//! 4. the operation moved to `Sent` (inputs `Reserved → Pending`) — only
//!    then does the request leave;
//! 5. the answer checked (count, amounts, keyset and DLEQ of every
//!    signature) and stored with the operation `Done` in one transaction.
//!
//! `mint`, `swap`, `send` and `receive` do steps 1–4 in one transaction
//! ([`WalletStore::start_operation`], WAL-57): the outputs are derived at
//! the keyset's next counters, and the transaction reserves them
//! (compare-and-set: if another operation took them first, nothing is
//! written and the outputs are derived again), writes the operation `Sent`
//! with its request and moves its inputs `Unspent → Pending`. A crash after
//! that commit and before the request leaves is resolved by `recover` like
//! a lost answer (the stored request is sent again), so the steps lose
//! nothing by being one: two durable writes per operation instead of five
//! (each write is one fsync).
//!
//! A definitive failure (the mint refused, or the request never left) moves
//! the operation to `Failed` and releases its inputs; anything else leaves it
//! `Sent`, never rolled back, for [`Wallet::recover`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tally_cashu::Amount;
use tally_cashu::crypto::SecretKey;
use tally_cashu::fees::{Denominations, input_fee, plan_swap, split_with_fee};
use tally_cashu::nuts::nut00::{BlindSignature, BlindedMessage, BlindedOutput, MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::nuts::nut13::{self, Seed};
use tally_encoding::hex;

use crate::client::{ClientConfig, MintBatchRequest, MintClient, MintRequest, SwapRequest};
use crate::error::{Error, Result};
use crate::lock::SendLock;
use crate::store::{
    Balance, HistoryEntry, MintQuote, Operation, OperationId, OperationKind, OperationState,
    OutputLock, ProofState, StoredProof, WalletStore,
};

/// The unit the wallet uses.
pub const UNIT: &str = "sat";
/// How many times a selection is retried after losing a reservation race.
pub const RESERVE_ATTEMPTS_MAX: u32 = 16;
/// How long `mint` waits for a quote to be paid.
pub const QUOTE_WAIT_MS_MAX: u64 = 10_000;
/// Poll interval while waiting for a quote without a websocket.
pub const QUOTE_POLL_MS: u64 = 200;
/// With a websocket, how long the wallet waits for a notification before it
/// asks the quote's state anyway (the socket is only a hint).
pub const QUOTE_SOCKET_CHECK_MS: u64 = 1_000;
/// The most NUT-17 subscriptions a wallet keeps open between `mint_quote`
/// and `mint` (the oldest is closed past it).
pub const QUOTE_WATCHES_MAX: usize = 16;
/// `Y`s per NUT-07 request.
pub const CHECK_BATCH: usize = 100;
/// The most quotes one NUT-29 batch mints (the mint may allow fewer).
pub const BATCH_QUOTES_MAX: usize = 100;
/// The longest quote id or payment request accepted from a mint.
pub const QUOTE_FIELD_LEN_MAX: usize = 8_192;

/// A swap planned by [`Wallet::prepare_swap`] (or a send's own plan), not
/// yet written.
pub(crate) struct SwapPlan {
    /// The operation (its request names the inputs).
    pub op: Operation,
    /// Its outputs, the token's (or the amount asked for) first.
    pub outputs: Vec<BlindedOutput>,
    /// How many of the outputs are the token's (or the amount asked for).
    pub send_count: usize,
    /// The `Y`s of the inputs, as stored.
    pub inputs: Vec<String>,
    /// The inputs' total.
    pub inputs_total: u64,
    /// For a send: the `Y`s of held proofs given in the token as they are.
    pub direct: Vec<String>,
}

/// How a planned operation's NUT-13 counters are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counters {
    /// Reserved at once, durably; the operation is then written `Prepared`
    /// (`add_operation`) and moved to `Sent` before its request leaves.
    Reserve,
    /// The keyset's next ones, reserved with the operation, written `Sent`,
    /// and its inputs in one transaction ([`Wallet::start`], WAL-57).
    Next,
}

impl Counters {
    fn state(self) -> OperationState {
        match self {
            Self::Reserve => OperationState::Prepared,
            Self::Next => OperationState::Sent,
        }
    }
}

/// A clock: unix seconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// What `check_state` found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Proofs checked.
    pub checked: usize,
    /// Unspent proofs the mint says are spent (now marked spent).
    pub newly_spent: usize,
    /// Proofs the mint says are pending.
    pub pending: usize,
    /// Proofs given out in tokens that the receiver has now spent (marked
    /// spent).
    pub redeemed: usize,
}

/// How the wallet learned that a mint quote is paid (the state is always
/// confirmed by `GET /v1/mint/quote/bolt11/{id}` before minting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentSeen {
    /// A NUT-17 notification said so, and the NUT-04 state confirmed it.
    Socket,
    /// Polling the NUT-04 state (the mint offers no websocket, or it
    /// failed).
    Polling,
}

/// A NUT-17 subscription to one quote's state.
struct QuoteWatch {
    socket: crate::ws::QuoteSocket,
    sub_id: String,
}

/// What `recover` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Operations finished from the mint's answer.
    pub finished: usize,
    /// Operations failed (nothing had been sent, or the mint refused).
    pub failed: usize,
    /// Operations still unresolved (the mint was not reachable).
    pub unresolved: usize,
}

/// A wallet over a store, with its seed.
pub struct Wallet<S: WalletStore> {
    store: S,
    pub(crate) seed: Seed,
    pub(crate) clock: Clock,
    client_config: ClientConfig,
    clients: std::sync::Mutex<BTreeMap<MintUrl, MintClient>>,
    /// Subscriptions opened by `mint_quote`, oldest first, for `mint`.
    watches: std::sync::Mutex<Vec<(MintUrl, String, QuoteWatch)>>,
}

fn rng_error(_: getrandom::Error) -> Error {
    Error::Randomness
}

impl<S: WalletStore> Wallet<S> {
    /// A wallet over `store` with `seed` and the system clock.
    pub fn new(store: S, seed: Seed) -> Self {
        Self::with_clock(store, seed, system_clock())
    }

    /// A wallet with a given clock.
    pub fn with_clock(store: S, seed: Seed, clock: Clock) -> Self {
        Self {
            store,
            seed,
            clock,
            client_config: ClientConfig::default(),
            clients: std::sync::Mutex::new(BTreeMap::new()),
            watches: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The same wallet with other mint-client timeouts (connect, whole
    /// request), in milliseconds.
    #[must_use]
    pub fn with_timeouts(mut self, connect_ms: u64, request_ms: u64) -> Self {
        self.client_config.connect_ms = connect_ms;
        self.client_config.request_ms = request_ms;
        self
    }

    /// The same wallet with another mint-client configuration (timeouts,
    /// retries, circuit breaker); each mint gets its own breaker.
    #[must_use]
    pub fn with_client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = config;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn client(&self, mint: &MintUrl) -> Result<MintClient> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(mint) {
            return Ok(c.clone());
        }
        let c = MintClient::with_config(mint.clone(), self.client_config)?;
        clients.insert(mint.clone(), c.clone());
        Ok(c)
    }

    /// Fetches the mint's keysets (ids verified against their keys) and
    /// stores them, then the mint's info into the client's cache
    /// ([`MintClient::fetch_info`]; a failure there is not an error).
    ///
    /// # Errors
    /// Client errors; [`Error::InvalidResponse`] if `/v1/keys/{id}` disagrees
    /// with `/v1/keysets`.
    pub async fn add_mint(&self, mint: &MintUrl) -> Result<()> {
        let client = self.client(mint)?;
        for info in client.keysets().await? {
            if info.unit.as_str() != UNIT {
                continue;
            }
            let keyset = client.keyset(&info.id).await?;
            if keyset.info().unit != info.unit || keyset.info().input_fee_ppk != info.input_fee_ppk
            {
                return Err(Error::InvalidResponse(
                    "keyset metadata differs between /v1/keys and /v1/keysets".into(),
                ));
            }
            self.store.put_keyset(mint, &info, Some(&keyset)).await?;
        }
        // The mint's info, fresh, for the operations that read it (cached
        // for INFO_MAX_AGE_MS). Only a cache: a mint that does not answer
        // it is still added, and `mint_quote` asks again.
        let _ = client.fetch_info().await;
        Ok(())
    }

    pub(crate) async fn active_keyset(&self, mint: &MintUrl) -> Result<Keyset> {
        let id = active_id(&self.store.keysets(mint).await?)?;
        self.keyset(mint, &id).await
    }

    pub(crate) async fn keyset(&self, mint: &MintUrl, id: &KeysetId) -> Result<Keyset> {
        if let Some(k) = self.store.keyset(id).await? {
            return Ok(k);
        }
        // Inactive keysets are not in /v1/keys: fetch by id.
        let k = self.client(mint)?.keyset(id).await?;
        self.store.put_keyset(mint, k.info(), Some(&k)).await?;
        Ok(k)
    }

    /// Totals per state for `mint`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn balance(&self, mint: &MintUrl) -> Result<Balance> {
        self.store.balance(mint).await
    }

    /// Asks `mint` for a quote of `amount` sat (NUT-04), locked to a fresh
    /// key when the mint supports NUT-20 (the mint's info as
    /// [`MintClient::info`] caches it), and stores it. No websocket is
    /// opened: `mint` asks the quote's state first and subscribes (NUT-17)
    /// only if it is not paid yet; [`Wallet::watch_quote`] opens the
    /// subscription at once for a caller who will wait.
    ///
    /// # Errors
    /// Client errors; [`Error::InvalidResponse`] for a quote that does not
    /// match the request.
    pub async fn mint_quote(&self, mint: &MintUrl, amount: u64) -> Result<MintQuote> {
        let client = self.client(mint)?;
        let info = client.info().await?;
        let locked = info.supports(20);
        // The key is derived from the seed and a fresh nonce; only the
        // nonce is stored.
        let nonce = if locked {
            let mut nonce = [0u8; 32];
            getrandom::fill(&mut nonce).map_err(rng_error)?;
            Some(nonce)
        } else {
            None
        };
        let key = nonce
            .as_ref()
            .map(|n| nut13::quote_key(&self.seed, n))
            .transpose()?;
        let pubkey = key.as_ref().map(|k| k.public_key().to_hex());
        let r = client.mint_quote(amount, UNIT, pubkey.clone()).await?;
        if r.quote.is_empty()
            || r.quote.len() > QUOTE_FIELD_LEN_MAX
            || r.request.len() > QUOTE_FIELD_LEN_MAX
            || r.amount.is_some_and(|a| a != amount)
            || (pubkey.is_some() && r.pubkey != pubkey)
        {
            return Err(Error::InvalidResponse(
                "quote does not match the request".into(),
            ));
        }
        let quote = MintQuote {
            id: r.quote,
            mint: mint.clone(),
            amount,
            unit: UNIT.to_owned(),
            request: r.request,
            state: r.state,
            expiry_s: r.expiry,
            signing_key: None,
            key_nonce: nonce.map(|n| hex::encode(&n)),
        };
        self.store.put_quote(&quote).await?;
        Ok(quote)
    }

    /// Subscribes to the stored quote `quote_id` over the mint's NUT-17
    /// websocket now and keeps the subscription for `mint` or
    /// [`Wallet::wait_for_payment`] (which then wait on it, without asking
    /// the state first). Returns whether a subscription is kept (false: the
    /// mint offers none or the socket failed; the wait polls).
    ///
    /// # Errors
    /// [`Error::NotFound`] for a quote not stored.
    pub async fn watch_quote(&self, mint: &MintUrl, quote_id: &str) -> Result<bool> {
        let quote = self.stored_quote(mint, quote_id).await?;
        if self.is_watching(mint, quote_id) {
            return Ok(true);
        }
        let Some(watch) = self.open_watch(&self.client(mint)?, &quote).await else {
            return Ok(false);
        };
        self.keep_watch(mint, &quote.id, watch);
        Ok(true)
    }

    fn keep_watch(&self, mint: &MintUrl, quote: &str, watch: QuoteWatch) {
        let mut watches = self
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if watches.len() >= QUOTE_WATCHES_MAX {
            watches.remove(0);
        }
        watches.push((mint.clone(), quote.to_owned(), watch));
    }

    /// Whether the wallet holds a NUT-17 subscription to `quote` (opened by
    /// [`Wallet::watch_quote`], used up by [`Wallet::mint`] or
    /// [`Wallet::wait_for_payment`]).
    #[must_use]
    pub fn is_watching(&self, mint: &MintUrl, quote: &str) -> bool {
        self.watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(m, q, _)| m == mint && q == quote)
    }

    fn take_watch(&self, mint: &MintUrl, quote: &str) -> Option<QuoteWatch> {
        let mut watches = self
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = watches
            .iter()
            .position(|(m, q, _)| m == mint && q == quote)?;
        Some(watches.remove(index).2)
    }

    /// A new subscription to the quote (the mint sends the current state
    /// first, so nothing is missed however late it is opened), or none (no
    /// NUT-17, or the socket failed).
    async fn open_watch(&self, client: &MintClient, quote: &MintQuote) -> Option<QuoteWatch> {
        let info = client.info().await.ok()?;
        if !info.supports_websocket("bolt11", UNIT, "bolt11_mint_quote") {
            return None;
        }
        subscribe(client.quote_socket().await.ok()?, &quote.id).await
    }

    /// Waits (at most [`QUOTE_WAIT_MS_MAX`]) until the stored quote
    /// `quote_id` is paid, as `mint` does before minting. Without a kept
    /// subscription ([`Wallet::watch_quote`]) the quote's state is asked
    /// first: a quote already paid needs no socket; otherwise the wallet
    /// subscribes over the mint's NUT-17 websocket when it offers one, and
    /// polls when it does not or the socket fails. A notification is only a
    /// hint: the quote is paid when `GET /v1/mint/quote/bolt11/{id}` says
    /// so.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a quote not stored; [`Error::Mint`] 20002 if
    /// the quote is already issued, 20001 if it is not paid in time; client
    /// errors.
    pub async fn wait_for_payment(&self, mint: &MintUrl, quote_id: &str) -> Result<PaymentSeen> {
        let quote = self.stored_quote(mint, quote_id).await?;
        self.wait_paid(&self.client(mint)?, &quote).await
    }

    /// The NUT-20 key a quote is locked to: derived from the seed and the
    /// quote's stored nonce, or (a quote stored before derivation) its
    /// stored key; none for an unlocked quote.
    fn quote_key(&self, quote: &MintQuote) -> Result<Option<SecretKey>> {
        if let Some(nonce) = &quote.key_nonce {
            let nonce: [u8; 32] = hex::decode_array(nonce, hex::Case::Lower)
                .map_err(|_| Error::CorruptRecord { what: "quote" })?;
            return Ok(Some(nut13::quote_key(&self.seed, &nonce)?));
        }
        quote
            .signing_key
            .as_deref()
            .map(SecretKey::from_hex)
            .transpose()
            .map_err(Error::from)
    }

    /// The stored mint quote `quote_id` of `mint`.
    async fn stored_quote(&self, mint: &MintUrl, quote_id: &str) -> Result<MintQuote> {
        self.store
            .quote(quote_id)
            .await?
            .filter(|q| &q.mint == mint)
            .ok_or(Error::NotFound { what: "quote" })
    }

    async fn wait_paid(&self, client: &MintClient, quote: &MintQuote) -> Result<PaymentSeen> {
        let started = tokio::time::Instant::now();
        let deadline = started + Duration::from_millis(QUOTE_WAIT_MS_MAX);
        let mut watch = self.take_watch(&quote.mint, &quote.id);
        // With a kept socket, its first notification (the current state)
        // comes before any check; without one, check at once, and subscribe
        // (once) only if the quote is not paid yet.
        let mut may_open = watch.is_none();
        let mut hinted = false;
        let mut check = watch.is_none();
        // The state the mint sends first may predate a payment it announced
        // before the subscription was registered (Nutshell 0.21 can lose
        // that update): the first notification is always checked.
        let mut first = watch.is_some();
        // However many notifications come, the state is asked at least
        // every QUOTE_SOCKET_CHECK_MS (a socket cannot hold the wait off).
        let mut last_check = started;
        loop {
            if check {
                last_check = tokio::time::Instant::now();
                let state = client.mint_quote_state(&quote.id).await?;
                match state.state.as_str() {
                    "PAID" if hinted => return Ok(PaymentSeen::Socket),
                    "PAID" => return Ok(PaymentSeen::Polling),
                    "ISSUED" => {
                        return Err(Error::Mint {
                            code: 20002,
                            detail: "quote already issued".into(),
                        });
                    }
                    _ => hinted = false,
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::Mint {
                    code: 20001,
                    detail: "quote not paid".into(),
                });
            }
            if may_open {
                may_open = false;
                watch = self.open_watch(client, quote).await;
                first = watch.is_some();
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            check = true;
            match watch.as_mut() {
                Some(w) => {
                    let slice = left.min(Duration::from_millis(QUOTE_SOCKET_CHECK_MS));
                    match tokio::time::timeout(slice, w.socket.next_state(&quote.id, &w.sub_id))
                        .await
                    {
                        Ok(Ok(state)) => {
                            hinted = state == "PAID" || state == "ISSUED";
                            // Unpaid (after the first): no need to ask the
                            // mint what it just said.
                            check = hinted
                                || first
                                || last_check.elapsed()
                                    >= Duration::from_millis(QUOTE_SOCKET_CHECK_MS);
                            first = false;
                        }
                        // The socket failed: poll from now on.
                        Ok(Err(_)) => watch = None,
                        // Quiet for a while: ask anyway.
                        Err(_) => {}
                    }
                }
                None => {
                    tokio::time::sleep(left.min(Duration::from_millis(QUOTE_POLL_MS))).await;
                }
            }
        }
    }

    pub(crate) fn derive_outputs(
        &self,
        keyset: &KeysetId,
        counters: &std::ops::Range<u64>,
        amounts: &[u64],
    ) -> Result<Vec<BlindedOutput>> {
        self.derive_locked_outputs(keyset, counters, amounts, None)
    }

    /// The outputs of a stored operation, its lock applied (what was sent).
    pub(crate) fn operation_blinded_outputs(&self, op: &Operation) -> Result<Vec<BlindedOutput>> {
        self.derive_locked_outputs(&op.keyset_id, &op.counters, &op.amounts, op.lock.as_ref())
    }

    /// The outputs at `counters`, the first `lock.count` of them locked
    /// (see [`crate::store::OutputLock`]).
    pub(crate) fn derive_locked_outputs(
        &self,
        keyset: &KeysetId,
        counters: &std::ops::Range<u64>,
        amounts: &[u64],
        lock: Option<&OutputLock>,
    ) -> Result<Vec<BlindedOutput>> {
        if lock.is_some_and(|l| l.count > amounts.len()) {
            return Err(Error::CorruptRecord {
                what: "operation lock count",
            });
        }
        let count = counters.end.checked_sub(counters.start);
        if count != u64::try_from(amounts.len()).ok() {
            return Err(Error::CorruptRecord {
                what: "operation counters and amounts",
            });
        }
        counters
            .clone()
            .zip(amounts)
            .enumerate()
            .map(|(index, (counter, amount))| {
                let (mut secret, r) = nut13::derive(&self.seed, keyset, counter)?;
                if let Some(lock) = lock.filter(|l| index < l.count) {
                    secret = crate::lock::locked_secret(lock, index, &secret)?;
                }
                Ok(BlindedOutput::new(
                    Amount::new(*amount),
                    *keyset,
                    secret,
                    r,
                )?)
            })
            .collect()
    }

    /// Mints the paid quote `quote_id` (NUT-04, NUT-20 signed if locked) as
    /// a persisted saga; returns the amount minted.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown quote; client errors (an
    /// ambiguous one leaves the operation `Sent` for `recover`);
    /// [`Error::InvalidResponse`] / [`Error::Cashu`] for signatures that do
    /// not answer the outputs or whose DLEQ fails (nothing is stored).
    pub async fn mint(&self, mint: &MintUrl, quote_id: &str) -> Result<u64> {
        let quote = self.stored_quote(mint, quote_id).await?;
        let client = self.client(mint)?;
        self.wait_paid(&client, &quote).await?;
        let keyset = self.active_keyset(mint).await?;
        let amounts = split_amounts(&keyset, Amount::new(quote.amount))?;
        let count = u64::try_from(amounts.len()).map_err(|_| Error::InvalidArgument("amount"))?;
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let counters = self.next_counters(&keyset.id(), count).await?;
            let outputs = self.derive_outputs(&keyset.id(), &counters, &amounts)?;
            let signature = self
                .quote_key(&quote)?
                .map(|key| nut20_signature(&key, &quote.id, &outputs))
                .transpose()?;
            let request = MintRequest {
                quote: quote.id.clone(),
                outputs: outputs.iter().map(|o| o.message().clone()).collect(),
                signature,
            };
            let op = Operation {
                id: OperationId::random()?,
                mint: mint.clone(),
                kind: OperationKind::Mint,
                state: OperationState::Sent,
                keyset_id: keyset.id(),
                counters,
                amounts: amounts.clone(),
                request: serde_json::to_string(&request)
                    .map_err(|_| Error::InvalidArgument("request"))?,
                quote_id: Some(quote.id.clone()),
                created_s: (self.clock)(),
                lock: None,
            };
            // Counters, operation: one transaction (WAL-57); another
            // operation that took these counters first: derive again.
            if !self.start(&op, &[], None).await? {
                continue;
            }
            return self.exchange(&client, &op, &keyset, outputs, 0).await;
        }
        Err(Error::StateConflict {
            what: "counters (too many concurrent reservations)",
        })
    }

    /// Mints several paid quotes of `mint` in one NUT-29 request (all or
    /// nothing at the mint), as one persisted saga like [`Wallet::mint`]:
    /// outputs for the quotes' total, each locked quote signed (NUT-20) over
    /// its id and every output. Returns the amount minted.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no quotes, more than
    /// [`BATCH_QUOTES_MAX`], a repeated quote, or a mint that does not
    /// offer NUT-29; otherwise as [`Wallet::mint`].
    pub async fn mint_batch(&self, mint: &MintUrl, quote_ids: &[&str]) -> Result<u64> {
        if quote_ids.is_empty() || quote_ids.len() > BATCH_QUOTES_MAX {
            return Err(Error::InvalidArgument(
                "a batch holds 1..=BATCH_QUOTES_MAX quotes",
            ));
        }
        let unique: std::collections::BTreeSet<&str> = quote_ids.iter().copied().collect();
        if unique.len() != quote_ids.len() {
            return Err(Error::InvalidArgument("a quote twice in one batch"));
        }
        let client = self.client(mint)?;
        if !client.info().await?.supports(29) {
            return Err(Error::InvalidArgument("the mint does not offer NUT-29"));
        }
        let mut quotes = Vec::with_capacity(quote_ids.len());
        let mut total = Amount::ZERO;
        for id in quote_ids {
            let quote = self.stored_quote(mint, id).await?;
            self.wait_paid(&client, &quote).await?;
            total = total
                .checked_add(Amount::new(quote.amount))
                .ok_or(Error::InvalidArgument("batch amount"))?;
            quotes.push(quote);
        }
        let keyset = self.active_keyset(mint).await?;
        let amounts = split_amounts(&keyset, total)?;
        let count = u64::try_from(amounts.len()).map_err(|_| Error::InvalidArgument("amount"))?;
        let counters = self.store.reserve_counters(&keyset.id(), count).await?;
        let outputs = self.derive_outputs(&keyset.id(), &counters, &amounts)?;
        let signatures = quotes
            .iter()
            .map(|q| {
                self.quote_key(q)?
                    .map(|key| nut20_signature(&key, &q.id, &outputs))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        let request = MintBatchRequest {
            quotes: quotes.iter().map(|q| q.id.clone()).collect(),
            outputs: outputs.iter().map(|o| o.message().clone()).collect(),
            signatures: signatures.iter().any(Option::is_some).then_some(signatures),
        };
        let op = Operation {
            id: OperationId::random()?,
            mint: mint.clone(),
            kind: OperationKind::MintBatch,
            state: OperationState::Prepared,
            keyset_id: keyset.id(),
            counters,
            amounts,
            request: serde_json::to_string(&request)
                .map_err(|_| Error::InvalidArgument("request"))?,
            quote_id: Some(quotes.first().map(|q| q.id.clone()).unwrap_or_default()),
            created_s: (self.clock)(),
            lock: None,
        };
        self.store.add_operation(&op).await?;
        // The store marks every quote of the batch issued in the transaction
        // that finishes the operation (here or in `recover`).
        self.run(&client, &op, &keyset, outputs, 0).await
    }

    /// Swaps proofs at `mint` so that the wallet holds proofs worth exactly
    /// `amount` (returned) and the change, paying the input fee (NUT-02),
    /// as a persisted saga.
    ///
    /// # Errors
    /// [`Error::InsufficientFunds`]; otherwise as [`Wallet::mint`].
    pub async fn swap(&self, mint: &MintUrl, amount: u64) -> Result<Vec<Proof>> {
        let keyset = self.active_keyset(mint).await?;
        let client = self.client(mint)?;
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let plan = self
                .prepare_swap(mint, amount, &keyset, None, OperationKind::Swap, None)
                .await?;
            // Counters, operation and inputs in one transaction (WAL-57):
            // a reservation never lacks its record, and a lost race writes
            // nothing (plan again).
            if !self.start(&plan.op, &plan.inputs, None).await? {
                continue;
            }
            let wanted: Vec<String> = plan
                .outputs
                .iter()
                .take(plan.send_count)
                .map(|o| o.secret().as_str().to_owned())
                .collect();
            self.exchange(&client, &plan.op, &keyset, plan.outputs, plan.inputs_total)
                .await?;
            return self.unspent_by_secret(mint, &wanted).await;
        }
        Err(Error::StateConflict {
            what: "proofs (too many concurrent reservations)",
        })
    }

    /// Selects inputs, plans the outputs (send outputs worth `amount`, plus
    /// the fee of spending them at `receiver_ppk` if given, then the change)
    /// at the keyset's next counters and builds the operation of `kind`
    /// (not yet written: [`Wallet::start`] reserves it all).
    pub(crate) async fn prepare_swap(
        &self,
        mint: &MintUrl,
        amount: u64,
        keyset: &Keyset,
        receiver_ppk: Option<u64>,
        kind: OperationKind,
        lock: Option<&SendLock>,
    ) -> Result<SwapPlan> {
        let denominations = Denominations::from_keys(keyset.keys());
        let send_total = match receiver_ppk {
            Some(ppk) => split_with_fee(Amount::new(amount), ppk, &denominations)?
                .total()?
                .value(),
            None => amount,
        };
        let (inputs, fee) = self.select_inputs(mint, send_total).await?;
        let total = Amount::try_sum(inputs.iter().map(|p| p.proof.amount))?;
        let plan = plan_swap(
            total,
            fee,
            Amount::new(amount),
            receiver_ppk,
            &denominations,
        )?;
        let amounts: Vec<u64> = plan
            .send
            .iter()
            .chain(plan.change.iter())
            .map(|a| a.value())
            .collect();
        let lock = lock.map(|l| l.output_lock(plan.send.len())).transpose()?;
        let (op, outputs) = self
            .plan_locked_operation(
                mint,
                kind,
                &keyset.id(),
                amounts,
                None,
                lock,
                Counters::Next,
                |outputs| SwapRequest {
                    inputs: inputs.iter().map(|p| bare(&p.proof)).collect(),
                    outputs,
                },
            )
            .await?;
        Ok(SwapPlan {
            op,
            outputs,
            send_count: plan.send.len(),
            inputs: inputs.iter().map(|p| p.y.clone()).collect(),
            inputs_total: total.value(),
            direct: Vec::new(),
        })
    }

    /// Reserves the counters of outputs of `amounts` in `keyset`, derives
    /// them, and builds the swap operation of `inputs` for them (not yet
    /// written).
    pub(crate) async fn swap_operation(
        &self,
        mint: &MintUrl,
        keyset: &Keyset,
        inputs: &[StoredProof],
        amounts: Vec<u64>,
    ) -> Result<(Operation, Vec<BlindedOutput>)> {
        self.plan_operation(
            mint,
            OperationKind::Swap,
            &keyset.id(),
            amounts,
            None,
            |outputs| SwapRequest {
                inputs: inputs.iter().map(|p| bare(&p.proof)).collect(),
                outputs,
            },
        )
        .await
    }

    /// Reserves the NUT-13 counters of outputs worth `amounts` in `keyset`
    /// (none for no amounts), derives the outputs, and builds the operation
    /// of `kind` whose request `request` makes from their blinded messages
    /// (not yet written).
    pub(crate) async fn plan_operation<R: serde::Serialize>(
        &self,
        mint: &MintUrl,
        kind: OperationKind,
        keyset: &KeysetId,
        amounts: Vec<u64>,
        quote_id: Option<String>,
        request: impl FnOnce(Vec<BlindedMessage>) -> R,
    ) -> Result<(Operation, Vec<BlindedOutput>)> {
        self.plan_locked_operation(
            mint,
            kind,
            keyset,
            amounts,
            quote_id,
            None,
            Counters::Reserve,
            request,
        )
        .await
    }

    /// The `count` counters of `keyset` from its next one, not reserved:
    /// [`WalletStore::start_operation`] reserves them with the operation,
    /// or refuses them if another operation took them first.
    pub(crate) async fn next_counters(&self, keyset: &KeysetId, count: u64) -> Result<Range<u64>> {
        let start = self.store.next_counter(keyset).await?;
        let end = start
            .checked_add(count)
            .ok_or(Error::CounterExhausted(*keyset))?;
        Ok(start..end)
    }

    /// [`Wallet::plan_operation`] with the first outputs locked by `lock`,
    /// its counters taken as `taken` says.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn plan_locked_operation<R: serde::Serialize>(
        &self,
        mint: &MintUrl,
        kind: OperationKind,
        keyset: &KeysetId,
        amounts: Vec<u64>,
        quote_id: Option<String>,
        lock: Option<OutputLock>,
        taken: Counters,
        request: impl FnOnce(Vec<BlindedMessage>) -> R,
    ) -> Result<(Operation, Vec<BlindedOutput>)> {
        let count = u64::try_from(amounts.len()).map_err(|_| Error::InvalidArgument("amount"))?;
        let counters = match taken {
            _ if count == 0 => 0..0,
            Counters::Reserve => self.store.reserve_counters(keyset, count).await?,
            Counters::Next => self.next_counters(keyset, count).await?,
        };
        let outputs = self.derive_locked_outputs(keyset, &counters, &amounts, lock.as_ref())?;
        let request = request(outputs.iter().map(|o| o.message().clone()).collect());
        let op = Operation {
            id: OperationId::random()?,
            mint: mint.clone(),
            kind,
            state: taken.state(),
            keyset_id: *keyset,
            counters,
            amounts,
            request: serde_json::to_string(&request)
                .map_err(|_| Error::InvalidArgument("request"))?,
            quote_id,
            created_s: (self.clock)(),
            lock,
        };
        Ok((op, outputs))
    }

    /// Reserves a written operation's inputs; if another operation took one
    /// first, fails this one (nothing was sent) and returns false: the
    /// caller picks again. The operation is written before its inputs are
    /// reserved, so a reservation never lacks a record `recover` finds.
    pub(crate) async fn reserve_or_fail(&self, op: &Operation, ys: &[String]) -> Result<bool> {
        match self.store.reserve_proofs(ys, &op.id).await {
            Ok(()) => Ok(true),
            Err(Error::StateConflict { .. } | Error::NotFound { .. }) => {
                self.store
                    .set_operation_state(&op.id, OperationState::Prepared, OperationState::Failed)
                    .await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The unspent proofs of `mint` whose secrets are `secrets`, in that
    /// order (those not held unspent are left out).
    async fn unspent_by_secret(&self, mint: &MintUrl, secrets: &[String]) -> Result<Vec<Proof>> {
        let unspent = self.store.proofs(mint, ProofState::Unspent).await?;
        let by_secret: BTreeMap<&str, &Proof> = unspent
            .iter()
            .map(|p| (p.proof.secret.as_str(), &p.proof))
            .collect();
        Ok(secrets
            .iter()
            .filter_map(|s| by_secret.get(s.as_str()).map(|p| (*p).clone()))
            .collect())
    }

    /// Picks unspent proofs worth at least `amount` plus their input fee
    /// (largest first); the caller reserves them.
    pub(crate) async fn select_inputs(
        &self,
        mint: &MintUrl,
        amount: u64,
    ) -> Result<(Vec<StoredProof>, Amount)> {
        let ppk: BTreeMap<KeysetId, u64> = self
            .store
            .keysets(mint)
            .await?
            .into_iter()
            .map(|k| (k.id, k.input_fee_ppk))
            .collect();
        let mut candidates = self.store.proofs(mint, ProofState::Unspent).await?;
        // A locked proof (one of a locked token whose reclaim failed) is
        // not this wallet's to spend without its keys.
        candidates.retain(|p| !crate::lock::is_locked(&p.proof));
        candidates.sort_by_key(|p| std::cmp::Reverse(p.proof.amount));
        select(candidates, amount, &ppk)
    }

    /// Steps 4–5 of the saga, for an operation already written.
    pub(crate) async fn run(
        &self,
        client: &MintClient,
        op: &Operation,
        keyset: &Keyset,
        outputs: Vec<BlindedOutput>,
        amount_out: u64,
    ) -> Result<u64> {
        self.store
            .set_operation_state(&op.id, OperationState::Prepared, OperationState::Sent)
            .await?;
        self.exchange(client, op, keyset, outputs, amount_out).await
    }

    /// Writes a planned operation ([`Counters::Next`]) with its counters,
    /// its inputs (`Unspent → Pending`) and its token record in one
    /// transaction, as `Sent` ([`WalletStore::start_operation`]); false if
    /// another operation took its counters or one of its inputs first
    /// (nothing was written: plan again).
    pub(crate) async fn start(
        &self,
        op: &Operation,
        inputs: &[String],
        token: Option<&crate::store::SentToken>,
    ) -> Result<bool> {
        match self.store.start_operation(op, inputs, token).await {
            Ok(()) => Ok(true),
            Err(Error::StateConflict { .. } | Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Step 5 of the saga, for an operation already `Sent`: the request
    /// goes out, and the answer is checked and stored (a definitive failure
    /// fails the operation; anything else leaves it for `recover`).
    pub(crate) async fn exchange(
        &self,
        client: &MintClient,
        op: &Operation,
        keyset: &Keyset,
        outputs: Vec<BlindedOutput>,
        amount_out: u64,
    ) -> Result<u64> {
        let signatures = match post_stored(client, op).await {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, Error::Mint { .. } | Error::Unreachable(_)) {
                    self.store
                        .set_operation_state(&op.id, OperationState::Sent, OperationState::Failed)
                        .await?;
                }
                return Err(e);
            }
        };
        self.finish(op, keyset, outputs, &signatures, amount_out)
            .await
    }

    pub(crate) async fn finish(
        &self,
        op: &Operation,
        keyset: &Keyset,
        outputs: Vec<BlindedOutput>,
        signatures: &[BlindSignature],
        amount_out: u64,
    ) -> Result<u64> {
        if op.kind == OperationKind::Send {
            return self
                .finish_send(op, keyset, outputs, signatures, amount_out)
                .await;
        }
        let proofs = unblind(outputs, signatures, keyset)?;
        let amount_in = Amount::try_sum(proofs.iter().map(|p| p.amount))?.value();
        let stored = proofs
            .into_iter()
            .map(|p| StoredProof::new(op.mint.clone(), p, ProofState::Unspent, None))
            .collect::<Result<Vec<_>>>()?;
        let history = HistoryEntry {
            operation: op.id.clone(),
            mint: op.mint.clone(),
            kind: op.kind,
            amount_in,
            amount_out,
            at_s: (self.clock)(),
        };
        self.store
            .finish_operation(&op.id, &stored, &history)
            .await?;
        Ok(amount_in)
    }

    /// Asks the mint for the state of every proof the wallet holds
    /// (NUT-07) and marks unspent proofs the mint says are spent.
    ///
    /// # Errors
    /// Client and store errors.
    pub async fn check_state(&self, mint: &MintUrl) -> Result<CheckReport> {
        let client = self.client(mint)?;
        let mut report = CheckReport::default();
        for state in [
            ProofState::Unspent,
            ProofState::Reserved,
            ProofState::Pending,
            ProofState::Sent,
        ] {
            let proofs = self.store.proofs(mint, state).await?;
            for chunk in proofs.chunks(CHECK_BATCH) {
                let ys: Vec<String> = chunk.iter().map(|p| p.y.clone()).collect();
                let states = client.check_state(&ys).await?;
                report.checked += ys.len();
                let spent: Vec<String> = states
                    .iter()
                    .filter(|s| s.state == "SPENT")
                    .map(|s| s.y.clone())
                    .collect();
                report.pending += states.iter().filter(|s| s.state == "PENDING").count();
                if spent.is_empty() {
                    continue;
                }
                if state == ProofState::Unspent {
                    self.store
                        .set_proof_states(&spent, ProofState::Unspent, ProofState::Spent, None)
                        .await?;
                    report.newly_spent += spent.len();
                }
                if state == ProofState::Sent {
                    self.mark_redeemed(&spent).await?;
                    report.redeemed += spent.len();
                }
            }
        }
        Ok(report)
    }

    /// Resolves every unfinished operation (call it at start-up): one never
    /// sent fails (its inputs are released); one sent is sent again with the
    /// same stored request (the same outputs, so the mint cannot sign twice)
    /// and finished from the answer; if the mint now refuses it, NUT-09
    /// restore of the stored outputs tells whether it happened (finish with
    /// the restored signatures, checked like any others) or not (fail it);
    /// an unreachable mint leaves it `Sent` for the next call.
    ///
    /// # Errors
    /// Store errors.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let incomplete = self.store.incomplete_operations().await?;
        let sends: Vec<OperationId> = incomplete
            .iter()
            .filter(|o| o.kind == OperationKind::Send)
            .map(|o| o.id.clone())
            .collect();
        let mints: std::collections::BTreeSet<MintUrl> =
            incomplete.iter().map(|o| o.mint.clone()).collect();
        for op in incomplete {
            if op.state == OperationState::Prepared {
                self.store
                    .set_operation_state(&op.id, OperationState::Prepared, OperationState::Failed)
                    .await?;
                report.failed += 1;
                continue;
            }
            if op.kind == OperationKind::Melt {
                self.recover_melt(&op, &mut report).await?;
                continue;
            }
            let keyset = match self.keyset(&op.mint, &op.keyset_id).await {
                Ok(k) => k,
                Err(_) => {
                    report.unresolved += 1;
                    continue;
                }
            };
            let outputs = self.operation_blinded_outputs(&op)?;
            let client = self.client(&op.mint)?;
            match post_stored(&client, &op).await {
                Ok(signatures) => {
                    let out = swap_inputs_total(&op)?;
                    self.finish(&op, &keyset, outputs, &signatures, out).await?;
                    report.finished += 1;
                }
                Err(Error::Mint { .. }) => {
                    // Refused now: either it never happened, or it already
                    // did (quote issued, outputs signed, inputs spent). The
                    // mint's NUT-09 restore of the stored outputs tells.
                    self.resolve_by_restore(&client, &op, &keyset, outputs, &mut report)
                        .await?;
                }
                Err(_) => report.unresolved += 1,
            }
        }
        for id in &sends {
            self.abandon_if_failed(id).await?;
        }
        // A reclaim of a locked token that failed gives its proofs back.
        for mint in &mints {
            self.return_locked(mint).await?;
        }
        Ok(report)
    }
}

impl<S: WalletStore> Wallet<S> {
    /// All outputs signed: finish with them. None signed and no input
    /// pending at the mint: the operation never happened there, fail it
    /// (inputs released). Otherwise (an input pending: the mint is still at
    /// work on it), or if the mint cannot be asked: leave it `Sent`.
    async fn resolve_by_restore(
        &self,
        client: &MintClient,
        op: &Operation,
        keyset: &Keyset,
        outputs: Vec<BlindedOutput>,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        let messages: Vec<_> = outputs.iter().map(|o| o.message().clone()).collect();
        let Ok(found) = client.restore(&messages).await else {
            report.unresolved += 1;
            return Ok(());
        };
        let found = if found.iter().all(Option::is_none) {
            // Nothing signed yet; a request a crashed process sent may still
            // be at work at the mint, or be processed late. What the mint
            // says of the inputs (or, for a mint operation, of the quote)
            // decides: still at work (an input pending, a quote paid but not
            // issued while this request was refused) or unknown: leave it
            // `Sent`; maybe finished meanwhile (an input spent, the quote
            // issued): restore asks once more; else it never happened.
            let (maybe_done, spent) = match self.settled_elsewhere(client, op).await? {
                Some(seen) => seen,
                None => {
                    report.unresolved += 1;
                    return Ok(());
                }
            };
            let again = if maybe_done {
                let Ok(again) = client.restore(&messages).await else {
                    report.unresolved += 1;
                    return Ok(());
                };
                Some(again).filter(|a| a.iter().any(Option::is_some))
            } else {
                None
            };
            match again {
                Some(again) => again,
                None => {
                    // It never happened: fail it (inputs released), and
                    // mark at once the released inputs someone else spent.
                    self.store
                        .set_operation_state(&op.id, OperationState::Sent, OperationState::Failed)
                        .await?;
                    report.failed += 1;
                    if !spent.is_empty()
                        && matches!(op.kind, OperationKind::Swap | OperationKind::Send)
                    {
                        self.store
                            .set_proof_states(&spent, ProofState::Unspent, ProofState::Spent, None)
                            .await?;
                    }
                    return Ok(());
                }
            }
        } else {
            found
        };
        let Some(signatures) = found.into_iter().collect::<Option<Vec<_>>>() else {
            report.unresolved += 1;
            return Ok(());
        };
        let out = swap_inputs_total(op)?;
        self.finish(op, keyset, outputs, &signatures, out).await?;
        report.finished += 1;
        Ok(())
    }
}

impl<S: WalletStore> Wallet<S> {
    /// For an operation none of whose outputs is signed: `None` if the mint
    /// may still be at work on it (or cannot be asked); else whether it may
    /// have finished meanwhile, and the inputs the mint says are spent.
    async fn settled_elsewhere(
        &self,
        client: &MintClient,
        op: &Operation,
    ) -> Result<Option<(bool, Vec<String>)>> {
        if matches!(op.kind, OperationKind::Mint | OperationKind::MintBatch) {
            let quote = op.quote_id.as_deref().ok_or(Error::CorruptRecord {
                what: "mint without a quote",
            })?;
            return Ok(match client.mint_quote_state(quote).await {
                Ok(q) if q.state == "UNPAID" => Some((false, Vec::new())),
                Ok(q) if q.state == "ISSUED" => Some((true, Vec::new())),
                _ => None,
            });
        }
        let ys = swap_input_ys(op)?;
        let Ok(states) = client.check_state(&ys).await else {
            return Ok(None);
        };
        if states.iter().any(|s| s.state == "PENDING") {
            return Ok(None);
        }
        let spent: Vec<String> = states
            .into_iter()
            .filter(|s| s.state == "SPENT")
            .map(|s| s.y)
            .collect();
        Ok(Some((!spent.is_empty(), spent)))
    }
}

/// Subscribes `socket` to `quote` under a fresh subscription id; `None` if
/// the mint refuses or the socket fails (the wallet polls instead).
async fn subscribe(mut socket: crate::ws::QuoteSocket, quote: &str) -> Option<QuoteWatch> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).ok()?;
    let sub_id = hex::encode(&id);
    socket.subscribe_mint_quote(quote, &sub_id).await.ok()?;
    Some(QuoteWatch { socket, sub_id })
}

/// The keyset the wallet's outputs go to, of a mint's `infos`: the active
/// one of the wallet's unit with the lowest input fee (ties by id).
pub(crate) fn active_id(infos: &[KeySetInfo]) -> Result<KeysetId> {
    infos
        .iter()
        .filter(|k| k.active && k.unit.as_str() == UNIT)
        .min_by_key(|k| (k.input_fee_ppk, k.id.to_hex()))
        .map(|k| k.id)
        .ok_or(Error::NotFound {
            what: "active keyset (add the mint first)",
        })
}

/// `amount` split into the keyset's denominations.
pub(crate) fn split_amounts(keyset: &Keyset, amount: Amount) -> Result<Vec<u64>> {
    Ok(Denominations::from_keys(keyset.keys())
        .split(amount)?
        .iter()
        .map(|a| a.value())
        .collect())
}

/// Posts an operation's stored request to the endpoint its kind uses.
async fn post_stored(client: &MintClient, op: &Operation) -> Result<Vec<BlindSignature>> {
    match op.kind {
        OperationKind::Mint => client.mint(op.request.clone()).await,
        OperationKind::MintBatch => client.mint_batch(op.request.clone()).await,
        OperationKind::Swap | OperationKind::Send | OperationKind::Receive => {
            client.swap(op.request.clone()).await
        }
        OperationKind::Melt => Err(Error::InvalidArgument("a melt is not a swap")),
    }
}

pub(crate) fn swap_input_ys(op: &Operation) -> Result<Vec<String>> {
    let request: SwapRequest =
        serde_json::from_str(&op.request).map_err(|_| Error::CorruptRecord { what: "request" })?;
    request.inputs.iter().map(|p| Ok(p.y()?.to_hex())).collect()
}

pub(crate) fn swap_inputs_total(op: &Operation) -> Result<u64> {
    // A received token's inputs were never the wallet's.
    if !matches!(op.kind, OperationKind::Swap | OperationKind::Send) {
        return Ok(0);
    }
    let request: SwapRequest =
        serde_json::from_str(&op.request).map_err(|_| Error::CorruptRecord { what: "request" })?;
    Ok(Amount::try_sum(request.inputs.iter().map(|p| p.amount))?.value())
}

/// The proof as it goes to the mint: no DLEQ (its blinding factor would
/// link the proof to its issuance), no P2BK ephemeral key.
pub(crate) fn bare(proof: &Proof) -> Proof {
    let mut p = proof.clone();
    p.dleq = None;
    p.p2pk_e = None;
    p
}

/// Picks proofs (largest first) until they cover `amount` plus their own
/// input fee.
pub(crate) fn select(
    candidates: Vec<StoredProof>,
    amount: u64,
    ppk: &BTreeMap<KeysetId, u64>,
) -> Result<(Vec<StoredProof>, Amount)> {
    let mut picked = Vec::new();
    let mut total = Amount::ZERO;
    let mut available = Amount::ZERO;
    for p in &candidates {
        available = available.checked_add(p.proof.amount).unwrap_or(available);
    }
    for p in candidates {
        let fee = input_fee(
            picked
                .iter()
                .map(|q: &StoredProof| ppk.get(&q.proof.keyset_id).copied().unwrap_or(0)),
        )?;
        if total.value() >= amount.saturating_add(fee.value()) {
            break;
        }
        total = total
            .checked_add(p.proof.amount)
            .ok_or(Error::Cashu(tally_cashu::Error::AmountOverflow))?;
        picked.push(p);
    }
    let fee = input_fee(
        picked
            .iter()
            .map(|q| ppk.get(&q.proof.keyset_id).copied().unwrap_or(0)),
    )?;
    let required = amount.saturating_add(fee.value());
    if total.value() < required || picked.is_empty() {
        return Err(Error::InsufficientFunds {
            available: available.value(),
            required,
        });
    }
    Ok((picked, fee))
}

/// Checks the mint's signatures against the outputs asked for (count,
/// amount, keyset, DLEQ) and unblinds them.
pub(crate) fn unblind(
    outputs: Vec<BlindedOutput>,
    signatures: &[BlindSignature],
    keyset: &Keyset,
) -> Result<Vec<Proof>> {
    if signatures.len() != outputs.len() {
        return Err(Error::InvalidResponse(format!(
            "{} signatures for {} outputs",
            signatures.len(),
            outputs.len()
        )));
    }
    outputs
        .into_iter()
        .zip(signatures)
        .map(|(o, s)| Ok(o.into_proof(s, keyset, true)?))
        .collect()
}

/// NUT-20: the mint request's signature by the quote's key
/// ([`tally_cashu::nuts::nut20`]), hex.
fn nut20_signature(key: &SecretKey, quote: &str, outputs: &[BlindedOutput]) -> Result<String> {
    let messages: Vec<BlindedMessage> = outputs.iter().map(|o| o.message().clone()).collect();
    let mut aux = [0u8; 32];
    getrandom::fill(&mut aux).map_err(rng_error)?;
    Ok(hex::encode(&tally_cashu::nuts::nut20::sign(
        key, quote, &messages, &aux,
    )))
}
