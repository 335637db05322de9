//! Restore from the mnemonic (NUT-09 over NUT-13 deterministic secrets).
//!
//! For every keyset of the mint in the wallet's unit, active **and**
//! inactive (`/v1/keysets` lists all, their keys are fetched by id), the
//! wallet derives its outputs counter by counter (V1 `00…` and V2 `01…` ids
//! each by their own derivation, [`nut13::derive`]) and asks the mint, a
//! batch at a time, which of them it signed (`POST /v1/restore`). It stops
//! after [`RestoreOptions::empty_batches_to_stop`] consecutive batches with
//! no signature, or after [`RestoreOptions::batches_max`] batches (the
//! report says which).
//!
//! Every returned signature is checked before anything is kept: it must
//! answer an output that was asked for (the client refuses anything else),
//! be for the keyset asked, and carry a DLEQ proof that verifies against the
//! keyset's key for the amount it claims (so a mint cannot make the wallet
//! hold a proof of another value than it signed). The recovered proofs are
//! then checked with the mint (NUT-07): only unspent ones are stored, as
//! spendable; spent ones are dropped; pending ones are counted, not stored
//! (run restore again once the mint has settled them).
//!
//! Before any proof is stored, the keyset's NUT-13 counter is moved past the
//! last index the mint signed ([`WalletStore::advance_counter`], never
//! backwards), so the wallet never derives a used output again (the mint
//! would refuse it: "outputs already signed", 11003). Restoring twice adds
//! nothing the second time ([`WalletStore::add_missing_proofs`]).

use std::ops::Range;

use tally_cashu::Amount;
use tally_cashu::crypto::SecretKey;
use tally_cashu::nuts::nut00::{BlindedOutput, MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::KeysetId;
use tally_cashu::nuts::nut13;
use tally_cashu::secret::Secret;

use crate::client::{ITEMS_PER_RESPONSE_MAX, MintClient};
use crate::error::{Error, Result};
use crate::store::{PROOFS_PER_CALL_MAX, ProofState, StoredProof, WalletStore};
use crate::wallet::{CHECK_BATCH, UNIT, Wallet};

/// Outputs per `POST /v1/restore` by default.
pub const BATCH_SIZE_DEFAULT: u32 = 100;
/// The most outputs in one restore request (the client's response cap).
pub const BATCH_SIZE_MAX: u32 = 1_000;
/// Consecutive empty batches that end the scan of a keyset, by default.
pub const EMPTY_BATCHES_DEFAULT: u32 = 3;
/// The most consecutive empty batches a caller may ask to wait for.
pub const EMPTY_BATCHES_MAX: u32 = 100;
/// Batches per keyset by default (100,000 counters at the default size).
pub const BATCHES_DEFAULT: u32 = 1_000;
/// The most batches per keyset a caller may ask for.
pub const BATCHES_MAX: u32 = 1_000;

// The batch bound must fit the client's response bound.
const _: () = assert!(BATCH_SIZE_MAX as usize <= ITEMS_PER_RESPONSE_MAX);

/// How far restore looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Outputs per request, 1..=[`BATCH_SIZE_MAX`].
    pub batch_size: u32,
    /// Consecutive batches without a signature that end a keyset's scan,
    /// 1..=[`EMPTY_BATCHES_MAX`]. A gap of unsigned counters longer than
    /// `batch_size × empty_batches_to_stop` hides what follows it.
    pub empty_batches_to_stop: u32,
    /// The most batches per keyset, 1..=[`BATCHES_MAX`].
    pub batches_max: u32,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            batch_size: BATCH_SIZE_DEFAULT,
            empty_batches_to_stop: EMPTY_BATCHES_DEFAULT,
            batches_max: BATCHES_DEFAULT,
        }
    }
}

impl RestoreOptions {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value out of its bounds.
    pub fn validate(&self) -> Result<()> {
        if !(1..=BATCH_SIZE_MAX).contains(&self.batch_size) {
            return Err(Error::InvalidArgument("restore batch size out of bounds"));
        }
        if !(1..=EMPTY_BATCHES_MAX).contains(&self.empty_batches_to_stop) {
            return Err(Error::InvalidArgument(
                "restore empty batches to stop out of bounds",
            ));
        }
        if !(1..=BATCHES_MAX).contains(&self.batches_max) {
            return Err(Error::InvalidArgument("restore batches out of bounds"));
        }
        Ok(())
    }
}

/// Progress of a restore, reported as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreProgress {
    /// The scan of a keyset begins (`index` of `count`, from 0).
    Keyset {
        /// The keyset.
        id: KeysetId,
        /// Whether the mint still signs with it.
        active: bool,
        /// Its position.
        index: usize,
        /// How many keysets are scanned.
        count: usize,
    },
    /// The mint answered one batch.
    Batch {
        /// The keyset.
        id: KeysetId,
        /// The counters asked for.
        counters: Range<u64>,
        /// Signatures found in this batch.
        signed: usize,
        /// Signatures found in this keyset so far.
        signed_total: usize,
    },
}

/// What restore found in one keyset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysetRestore {
    /// The keyset.
    pub id: KeysetId,
    /// Whether the mint still signs with it.
    pub active: bool,
    /// Batches asked.
    pub batches: u32,
    /// Outputs the mint had signed (checked and unblinded).
    pub signed: usize,
    /// Of those, unspent at the mint.
    pub unspent: usize,
    /// Of those, spent at the mint.
    pub spent: usize,
    /// Of those, pending at the mint (not stored).
    pub pending: usize,
    /// Unspent proofs newly stored (the rest were already held).
    pub added: usize,
    /// Value of the unspent proofs.
    pub amount_unspent: u64,
    /// Value of the proofs newly stored.
    pub amount_added: u64,
    /// The keyset's next NUT-13 counter after the restore.
    pub next_counter: u64,
    /// True if the scan stopped at [`RestoreOptions::batches_max`] rather
    /// than after the empty batches: more may be signed past it.
    pub truncated: bool,
}

/// What restore found, keyset by keyset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// One entry per keyset scanned, in id order.
    pub keysets: Vec<KeysetRestore>,
}

impl RestoreReport {
    /// Value of the proofs newly stored, over all keysets.
    #[must_use]
    pub fn amount_added(&self) -> u64 {
        self.keysets
            .iter()
            .fold(0u64, |a, k| a.saturating_add(k.amount_added))
    }

    /// Value of the unspent proofs found, over all keysets.
    #[must_use]
    pub fn amount_unspent(&self) -> u64 {
        self.keysets
            .iter()
            .fold(0u64, |a, k| a.saturating_add(k.amount_unspent))
    }
}

/// A progress callback.
pub type Progress<'a> = &'a mut (dyn FnMut(&RestoreProgress) + Send);

/// What the scan of one keyset returns: the proofs and where it stopped.
struct Scan {
    proofs: Vec<Proof>,
    batches: u32,
    next_counter: u64,
    truncated: bool,
}

impl<S: WalletStore> Wallet<S> {
    /// Restores the wallet's proofs at `mint` from its seed (see the module
    /// documentation), reporting progress to `progress`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for options out of bounds; client errors;
    /// [`Error::InvalidResponse`] / [`Error::Cashu`] for a signature that
    /// does not answer its output or whose DLEQ fails (nothing of that
    /// keyset is stored); store errors. A restore that fails half-way may be
    /// run again: it adds only what is missing.
    pub async fn restore(
        &self,
        mint: &MintUrl,
        options: RestoreOptions,
        progress: Progress<'_>,
    ) -> Result<RestoreReport> {
        options.validate()?;
        self.add_mint(mint).await?;
        let mut infos: Vec<_> = self
            .store()
            .keysets(mint)
            .await?
            .into_iter()
            .filter(|k| k.unit.as_str() == UNIT)
            .collect();
        infos.sort_by_key(|k| k.id.to_hex());
        let client = self.client(mint)?;
        let mut report = RestoreReport::default();
        let count = infos.len();
        for (index, info) in infos.iter().enumerate() {
            progress(&RestoreProgress::Keyset {
                id: info.id,
                active: info.active,
                index,
                count,
            });
            let keyset = self.keyset(mint, &info.id).await?;
            let scan = self.scan(&client, &keyset, options, progress).await?;
            let entry = self.keep(&client, mint, &keyset, info.active, scan).await?;
            report.keysets.push(entry);
        }
        Ok(report)
    }

    /// Asks the mint for the signatures of the keyset's outputs, batch by
    /// batch, and checks and unblinds every one found.
    async fn scan(
        &self,
        client: &MintClient,
        keyset: &Keyset,
        options: RestoreOptions,
        progress: Progress<'_>,
    ) -> Result<Scan> {
        let id = keyset.id();
        let mut scan = Scan {
            proofs: Vec::new(),
            batches: 0,
            next_counter: 0,
            truncated: true,
        };
        let mut start = 0u64;
        let mut empty_run = 0u32;
        while scan.batches < options.batches_max {
            let end = start
                .checked_add(u64::from(options.batch_size))
                .ok_or(Error::CounterExhausted(id))?;
            let derived = self.derive_range(&id, start..end)?;
            let messages = derived
                .iter()
                .map(|(secret, r)| {
                    Ok(
                        BlindedOutput::new(Amount::ONE, id, secret.clone(), r.clone())?
                            .message()
                            .clone(),
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            let found = client.restore(&messages).await?;
            scan.batches = scan.batches.saturating_add(1);
            let mut signed = 0usize;
            for ((counter, (secret, r)), signature) in (start..end).zip(derived).zip(found) {
                let Some(signature) = signature else { continue };
                // Rebuilt with the amount the mint signed: the DLEQ proof
                // binds that amount's key, so a lying amount fails here.
                let output = BlindedOutput::new(signature.amount, id, secret, r)?;
                scan.proofs
                    .push(output.into_proof(&signature, keyset, true)?);
                scan.next_counter = counter.saturating_add(1);
                signed = signed.saturating_add(1);
            }
            progress(&RestoreProgress::Batch {
                id,
                counters: start..end,
                signed,
                signed_total: scan.proofs.len(),
            });
            empty_run = if signed == 0 {
                empty_run.saturating_add(1)
            } else {
                0
            };
            start = end;
            if empty_run >= options.empty_batches_to_stop {
                scan.truncated = false;
                break;
            }
        }
        Ok(scan)
    }

    fn derive_range(
        &self,
        id: &KeysetId,
        counters: Range<u64>,
    ) -> Result<Vec<(Secret, SecretKey)>> {
        counters
            .map(|c| Ok(nut13::derive(&self.seed, id, c)?))
            .collect()
    }

    /// Moves the counter past what the mint signed, checks the proofs'
    /// states (NUT-07) and stores the unspent ones not held yet.
    async fn keep(
        &self,
        client: &MintClient,
        mint: &MintUrl,
        keyset: &Keyset,
        active: bool,
        scan: Scan,
    ) -> Result<KeysetRestore> {
        let id = keyset.id();
        let next_counter = self.store().advance_counter(&id, scan.next_counter).await?;
        let mut entry = KeysetRestore {
            id,
            active,
            batches: scan.batches,
            signed: scan.proofs.len(),
            unspent: 0,
            spent: 0,
            pending: 0,
            added: 0,
            amount_unspent: 0,
            amount_added: 0,
            next_counter,
            truncated: scan.truncated,
        };
        let mut unspent = Vec::new();
        for chunk in scan.proofs.chunks(CHECK_BATCH) {
            let stored = chunk
                .iter()
                .map(|p| StoredProof::new(mint.clone(), p.clone(), ProofState::Unspent, None))
                .collect::<Result<Vec<_>>>()?;
            let ys: Vec<String> = stored.iter().map(|p| p.y.clone()).collect();
            let states = client.check_state(&ys).await?;
            for (proof, state) in stored.into_iter().zip(states) {
                match state.state.as_str() {
                    "UNSPENT" => unspent.push(proof),
                    "SPENT" => entry.spent = entry.spent.saturating_add(1),
                    _ => entry.pending = entry.pending.saturating_add(1),
                }
            }
        }
        entry.unspent = unspent.len();
        entry.amount_unspent = sum(&unspent)?;
        let mut added = std::collections::BTreeSet::new();
        for chunk in unspent.chunks(PROOFS_PER_CALL_MAX) {
            added.extend(self.store().add_missing_proofs(chunk).await?);
        }
        let new: Vec<StoredProof> = unspent
            .into_iter()
            .filter(|p| added.contains(&p.y))
            .collect();
        entry.added = new.len();
        entry.amount_added = sum(&new)?;
        Ok(entry)
    }
}

fn sum(proofs: &[StoredProof]) -> Result<u64> {
    Ok(Amount::try_sum(proofs.iter().map(|p| p.proof.amount))?.value())
}
