//! Receiving a token.
//!
//! Everything is checked before anything goes to the mint, and a refusal
//! ([`Error::TokenRefused`]) changes nothing:
//!
//! 1. the token parses within its bounds (`tally-cashu`: at most 1 MiB of
//!    text, 1,000 proofs, one mint);
//! 2. its mint is one the wallet has added, its unit the wallet's;
//! 3. every keyset id resolves to one of that mint's keysets (V4 short ids
//!    expanded here: the mint refuses them), fetching the mint's keysets
//!    again once if an id is unknown (rotation);
//! 4. every proof's DLEQ proof verifies against its keyset's key (NUT-12);
//!    a proof without one is refused unless
//!    [`ReceiveOptions::allow_missing_dleq`] is set;
//! 5. no proof is locked (NUT-10) unless the caller gives what unlocks it
//!    ([`Wallet::receive_with`]: keys, preimage; see [`crate::lock`]: the
//!    witnesses are made and, by default, checked here), none is already
//!    held by the wallet;
//! 6. only with [`ReceiveOptions::check_state`]: the mint says none is spent
//!    or pending (NUT-07), one more round trip.
//!
//! Then a swap saga (kind [`OperationKind::Receive`]) moves the value into
//! fresh outputs: counters reserved, operation and request stored, then
//! sent. Its inputs were never the wallet's, so nothing is held or released;
//! a lost answer is resolved by `recover` like any swap. A spent or pending
//! proof needs no separate check: the mint refuses the swap (11001 spent,
//! 11002 pending), a definitive answer: the operation fails (it held
//! nothing; the counters it used are skipped, never derived again), and the
//! receive reports [`Refusal::Spent`] or [`Refusal::Pending`].

use std::collections::BTreeMap;

use tally_cashu::Amount;
use tally_cashu::fees::input_fee;
use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId, KeysetIndex};
use tally_cashu::token::Token;

use crate::client::SwapRequest;
use crate::error::{Error, Refusal, Result};
use crate::lock::Unlock;
use crate::store::{OperationKind, WalletStore};
use crate::wallet::{
    CHECK_BATCH, Counters, RESERVE_ATTEMPTS_MAX, UNIT, Wallet, active_id, bare, split_amounts,
};

/// The mint's refusal of a swap whose inputs are spent (NUT error code).
pub const MINT_PROOFS_SPENT: u32 = 11001;
/// The mint's refusal of a swap an input of which is pending in another
/// operation (NUT error code).
pub const MINT_PROOFS_PENDING: u32 = 11002;

/// How to receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// Accept proofs that carry no DLEQ proof (their signature is then
    /// checked only by the mint's swap). Off by default.
    pub allow_missing_dleq: bool,
    /// Ask the mint (NUT-07) whether a proof is spent or pending before the
    /// swap (one more round trip; nothing is written for a spent token).
    /// Off by default: the swap's own refusal says the same.
    pub check_state: bool,
}

fn refused(why: Refusal) -> Error {
    Error::TokenRefused(why)
}

impl<S: WalletStore> Wallet<S> {
    /// Receives `token` (see the module documentation); returns the value
    /// added to the wallet (the token's value less the mint's input fee).
    ///
    /// # Errors
    /// [`Error::Cashu`] for a token that does not parse; [`Error::TokenRefused`]
    /// (nothing changed; [`Refusal::Pending`] may be retried later);
    /// otherwise as [`Wallet::swap`] (an ambiguous failure is resolved by
    /// `recover`; a refusal of the swap because a proof was spent meanwhile
    /// is [`Refusal::Spent`]).
    pub async fn receive(&self, token: &str, options: &ReceiveOptions) -> Result<u64> {
        self.receive_with(token, options, &Unlock::default()).await
    }

    /// [`Wallet::receive`] of a token whose proofs may be locked (NUT-11
    /// P2PK, NUT-14 HTLC, NUT-28 P2BK): `unlock` gives the keys and the
    /// preimage (see [`crate::lock`]).
    ///
    /// # Errors
    /// As [`Wallet::receive`]; [`Refusal::Locked`] for a lock with nothing
    /// to unlock it, [`Refusal::LockNotSatisfied`] when what was given does
    /// not satisfy it (nothing sent); with [`Unlock::mint_decides`], the
    /// mint's refusal ([`Error::Mint`]; nothing changed but used counters).
    pub async fn receive_with(
        &self,
        token: &str,
        options: &ReceiveOptions,
        unlock: &Unlock,
    ) -> Result<u64> {
        let token = Token::decode(token)?;
        let mint = token.mint().clone();
        let mut accepted = self.accept(&token, options, unlock).await?;
        self.refuse_held(&accepted.proofs).await?;
        if options.check_state {
            self.refuse_spent(&mint, &accepted.proofs).await?;
        }
        let now = (self.clock)();
        let sig_all = crate::lock::sign_inputs(&mut accepted.proofs, unlock, now)?;
        match self
            .swap_in(&mint, accepted, sig_all.then_some(unlock))
            .await
        {
            Err(Error::Mint {
                code: MINT_PROOFS_SPENT,
                ..
            }) => Err(refused(Refusal::Spent)),
            Err(Error::Mint {
                code: MINT_PROOFS_PENDING,
                ..
            }) => Err(refused(Refusal::Pending)),
            other => other,
        }
    }

    /// Steps 2–5 of the module documentation: the token's proofs, resolved
    /// and verified, with the keysets read to do it.
    async fn accept(
        &self,
        token: &Token,
        options: &ReceiveOptions,
        unlock: &Unlock,
    ) -> Result<Accepted> {
        if token.unit().is_some_and(|u| u.as_str() != UNIT) {
            return Err(refused(Refusal::WrongUnit));
        }
        let mint = token.mint();
        let infos = self.store().keysets(mint).await?;
        if infos.is_empty() {
            return Err(refused(Refusal::UnknownMint));
        }
        let (proofs, infos) = match resolve(token, &infos) {
            Ok(p) => (p, infos),
            Err(_) => {
                // A keyset the wallet has not seen yet: ask the mint once.
                self.add_mint(mint).await?;
                let refreshed = self.store().keysets(mint).await?;
                (resolve(token, &refreshed)?, refreshed)
            }
        };
        // Each keyset loaded once (a token's proofs usually share one).
        let mut keysets: BTreeMap<KeysetId, Keyset> = BTreeMap::new();
        for p in &proofs {
            if crate::lock::conditions_of(p)?.is_some() && unlock.is_empty() {
                return Err(refused(Refusal::Locked));
            }
            let keyset = match keysets.entry(p.keyset_id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    self.keyset(mint, &p.keyset_id)
                        .await
                        .map_err(|_| refused(Refusal::UnknownKeyset))?,
                ),
            };
            if keyset.info().unit.as_str() != UNIT {
                return Err(refused(Refusal::WrongUnit));
            }
            match p.verify_dleq(keyset) {
                Ok(()) => {}
                Err(tally_cashu::Error::DleqMissing) if options.allow_missing_dleq => {
                    keyset
                        .key(p.amount)
                        .map_err(|_| refused(Refusal::UnknownKeyset))?;
                }
                Err(tally_cashu::Error::DleqMissing) => return Err(refused(Refusal::DleqMissing)),
                Err(tally_cashu::Error::NoKeyForAmount) => {
                    return Err(refused(Refusal::UnknownKeyset));
                }
                Err(_) => return Err(refused(Refusal::DleqInvalid)),
            }
        }
        Ok(Accepted {
            proofs,
            infos,
            keysets,
        })
    }

    /// Refuses a token a proof of which the wallet already holds, in any
    /// state, for any mint (one it sent: `reclaim` is the way back; the
    /// store is keyed by `Y`, so such a proof could not be stored again).
    async fn refuse_held(&self, proofs: &[Proof]) -> Result<()> {
        let ys = proofs
            .iter()
            .map(|p| Ok(p.y()?.to_hex()))
            .collect::<Result<Vec<String>>>()?;
        // By `Y`, in any state (one indexed lookup, WAL-58).
        if !self.store().held_ys(&ys).await?.is_empty() {
            return Err(refused(Refusal::AlreadyHeld));
        }
        Ok(())
    }

    /// Refuses a token a proof of which the mint says is spent or pending.
    async fn refuse_spent(&self, mint: &MintUrl, proofs: &[Proof]) -> Result<()> {
        let client = self.client(mint)?;
        let ys = proofs
            .iter()
            .map(|p| Ok(p.y()?.to_hex()))
            .collect::<Result<Vec<String>>>()?;
        for chunk in ys.chunks(CHECK_BATCH) {
            for s in client.check_state(chunk).await? {
                match s.state.as_str() {
                    "SPENT" => return Err(refused(Refusal::Spent)),
                    "PENDING" => return Err(refused(Refusal::Pending)),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The swap saga of a receive (`sig_all`: sign the whole swap with it
    /// once the outputs are known).
    async fn swap_in(
        &self,
        mint: &MintUrl,
        accepted: Accepted,
        sig_all: Option<&Unlock>,
    ) -> Result<u64> {
        let Accepted {
            mut proofs,
            infos,
            mut keysets,
        } = accepted;
        let fee = input_fee(proofs.iter().map(|p| {
            infos
                .iter()
                .find(|k| k.id == p.keyset_id)
                .map_or(0, |k| k.input_fee_ppk)
        }))?;
        let total = Amount::try_sum(proofs.iter().map(|p| p.amount))?;
        let net = total.checked_sub(fee).filter(|n| *n > Amount::ZERO).ok_or(
            Error::InsufficientFunds {
                available: total.value(),
                required: fee.value().saturating_add(1),
            },
        )?;
        // The active keyset, as `accept` loaded it when the token's proofs
        // are of it (the usual case).
        let active = active_id(&infos)?;
        let keyset = match keysets.remove(&active) {
            Some(k) => k,
            None => self.keyset(mint, &active).await?,
        };
        let amounts = split_amounts(&keyset, net)?;
        let client = self.client(mint)?;
        for _ in 0..RESERVE_ATTEMPTS_MAX {
            let (mut op, outputs) = self
                .plan_locked_operation(
                    mint,
                    OperationKind::Receive,
                    &keyset.id(),
                    amounts.clone(),
                    None,
                    None,
                    Counters::Next,
                    |outputs| SwapRequest {
                        inputs: proofs.iter().map(bare).collect(),
                        outputs,
                    },
                )
                .await?;
            if let Some(unlock) = sig_all {
                op.request =
                    crate::lock::signed_all_request(&op, &mut proofs, unlock, (self.clock)())?;
            }
            // Counters and operation in one transaction (WAL-57); counters
            // another operation took first: derive again.
            if !self.start(&op, &[], None).await? {
                continue;
            }
            return self.exchange(&client, &op, &keyset, outputs, 0).await;
        }
        Err(Error::StateConflict {
            what: "counters (too many concurrent reservations)",
        })
    }
}

/// A token's proofs as `accept` verified them, with the mint's keyset
/// infos and the keysets (with keys) they were verified against.
struct Accepted {
    proofs: Vec<Proof>,
    infos: Vec<KeySetInfo>,
    keysets: BTreeMap<KeysetId, Keyset>,
}

/// The token's proofs with full keyset ids (short ids expanded against the
/// mint's keysets, which must not collide).
fn resolve(token: &Token, infos: &[KeySetInfo]) -> Result<Vec<Proof>> {
    let mut index = KeysetIndex::new();
    for info in infos {
        index
            .insert(info.clone())
            .map_err(|_| refused(Refusal::UnknownKeyset))?;
    }
    token.resolve(&index).map_err(|e| match e {
        tally_cashu::Error::UnknownKeyset | tally_cashu::Error::AmbiguousShortKeysetId => {
            refused(Refusal::UnknownKeyset)
        }
        other => Error::Cashu(other),
    })
}
