//! Locked sends and the witnesses that unlock locked proofs.
//!
//! * **Sending** ([`SendLock`], set in [`crate::send::SendOptions::lock`]):
//!   the token's outputs of the send swap carry a NUT-10 secret — NUT-11
//!   P2PK (a key; optionally more keys and `n_sigs`, a `locktime` with
//!   `refund` keys, `SIG_INPUTS` or `SIG_ALL`), NUT-14 HTLC (a hash, with
//!   the same optional tags), either of them with its keys blinded per
//!   NUT-28 (P2BK). The outputs stay deterministic
//!   ([`crate::store::OutputLock`]: the nonce is the output's NUT-13 secret,
//!   the blinding factor its NUT-13 one), so the saga and `recover` work
//!   unchanged: the lock is stored with the operation before the request
//!   leaves.
//! * **Unlocking** ([`Unlock`]: private keys and an HTLC preimage the caller
//!   supplies) for `receive_with` and `reclaim_with`: every locked input is
//!   signed (`SIG_INPUTS`: its own secret; `SIG_ALL`: the whole swap, on the
//!   first input) by each supplied key the lock names (for P2BK, by the key
//!   derived from it and the proof's ephemeral key), and HTLC inputs carry
//!   the preimage. Unless [`Unlock::mint_decides`] is set, the wallet then
//!   checks the witnesses as a mint would (NUT-11/14 rules at the wallet's
//!   clock) and refuses with [`Refusal::LockNotSatisfied`] before anything
//!   is sent; the mint verifies again in any case.

use tally_cashu::crypto::{PublicKey, SecretKey};
use tally_cashu::limits::MAX_SECRET_LEN_BYTES;
use tally_cashu::nuts::nut00::{BlindedMessage, Proof};
use tally_cashu::nuts::nut10::Nut10Secret;
use tally_cashu::nuts::nut11::{self, Conditions, Lock, SigFlag, SpendingConditions};
use tally_cashu::nuts::{nut14, nut28};
use tally_cashu::secret::{Preimage, Secret};

use crate::error::{Error, Refusal, Result};
use crate::store::OutputLock;

/// The length of the nonce of a locked output (its NUT-13 secret, hex).
const NONCE_LEN: usize = 64;

/// The spending conditions of a locked send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendLock {
    /// The lock (a P2PK key or an HTLC hash) and its NUT-11 tags.
    pub conditions: SpendingConditions,
    /// NUT-28: blind every key of the lock with a fresh ephemeral key per
    /// output (one for all outputs under `SIG_ALL`); the proofs carry the
    /// ephemeral public key (`p2pk_e`).
    pub blinded: bool,
}

impl SendLock {
    /// Locked to `key` (NUT-11, `SIG_INPUTS`, no other tags).
    #[must_use]
    pub fn p2pk(key: PublicKey) -> Self {
        Self {
            conditions: SpendingConditions {
                lock: Lock::P2pk(key),
                conditions: Conditions::default(),
            },
            blinded: false,
        }
    }

    /// Locked to `SHA256(preimage) = hash` (NUT-14, no other tags).
    #[must_use]
    pub fn htlc(hash: [u8; 32]) -> Self {
        Self {
            conditions: nut14::htlc(&hash, Conditions::default()),
            blinded: false,
        }
    }

    /// The same lock, opening to the `refund` keys (to anyone, if none)
    /// after unix time `locktime`.
    #[must_use]
    pub fn with_refund(mut self, locktime: u64, refund: Vec<PublicKey>) -> Self {
        self.conditions.conditions.locktime = Some(locktime);
        self.conditions.conditions.refund = refund;
        self
    }

    /// The same lock with NUT-28 blinded keys.
    #[must_use]
    pub fn blinded(mut self) -> Self {
        self.blinded = true;
        self
    }

    /// The stored form of the lock for the first `count` outputs, with
    /// fresh ephemeral keys for P2BK.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for conditions a mint would not accept
    /// (malformed tags, a secret over the mints' 1,024 bytes, P2BK with more
    /// than 11 keys); [`Error::Randomness`].
    pub(crate) fn output_lock(&self, count: usize) -> Result<OutputLock> {
        let nut10 = self.conditions.to_nut10("");
        // Validated as a receiver (and a mint) will parse it.
        SpendingConditions::from_nut10(&nut10)
            .map_err(|_| Error::InvalidArgument("lock: conditions are not valid NUT-11"))?;
        let template = nut10
            .to_secret()
            .map_err(|_| Error::InvalidArgument("lock: secret too long"))?
            .as_str()
            .to_owned();
        // Blinding changes no length: keys stay 33-byte points.
        if template.len().saturating_add(NONCE_LEN) > MAX_SECRET_LEN_BYTES {
            return Err(Error::InvalidArgument(
                "lock: secret longer than the mints' 1,024 bytes",
            ));
        }
        let mut ephemeral = Vec::new();
        if self.blinded {
            let keys = if self.conditions.conditions.sig_flag == SigFlag::SigAll {
                1
            } else {
                count
            };
            for _ in 0..keys {
                let e = SecretKey::random(&mut getrandom::SysRng)?;
                // Checks the slots (at most 11 keys) once.
                nut28::blind(&self.conditions, &e)
                    .map_err(|_| Error::InvalidArgument("lock: too many keys to blind"))?;
                ephemeral.push(e.to_secret_hex().to_string());
            }
        }
        Ok(OutputLock {
            template,
            count,
            ephemeral,
        })
    }
}

/// The ephemeral private key of locked output `index`, if the lock is P2BK.
fn ephemeral(lock: &OutputLock, index: usize) -> Result<Option<SecretKey>> {
    let hex = match lock.ephemeral.as_slice() {
        [] => return Ok(None),
        [one] => one,
        many => many.get(index).ok_or(Error::CorruptRecord {
            what: "operation lock ephemeral keys",
        })?,
    };
    SecretKey::from_hex(hex)
        .map(Some)
        .map_err(|_| Error::CorruptRecord {
            what: "operation lock ephemeral key",
        })
}

/// The secret of locked output `index` whose NUT-13 secret is `plain`.
pub(crate) fn locked_secret(lock: &OutputLock, index: usize, plain: &Secret) -> Result<Secret> {
    let corrupt = || Error::CorruptRecord {
        what: "operation lock",
    };
    let template = Nut10Secret::parse(&lock.template)
        .ok()
        .flatten()
        .ok_or_else(corrupt)?;
    let mut conditions = SpendingConditions::from_nut10(&template).map_err(|_| corrupt())?;
    if let Some(e) = ephemeral(lock, index)? {
        conditions = nut28::blind(&conditions, &e).map_err(|_| corrupt())?;
    }
    Ok(conditions.to_secret(plain.as_str())?)
}

/// The ephemeral public key (`p2pk_e`) of locked output `index`, if P2BK.
pub(crate) fn ephemeral_public(lock: &OutputLock, index: usize) -> Result<Option<PublicKey>> {
    Ok(ephemeral(lock, index)?.map(|e| e.public_key()))
}

/// What unlocks received (or reclaimed) locked proofs. `Debug` redacts the
/// keys and the preimage; both are erased on drop.
#[derive(Clone, Default)]
pub struct Unlock {
    /// Private keys: the receiver's (P2PK, P2BK, an HTLC's `pubkeys`) or,
    /// after the locktime, the sender's refund keys.
    pub keys: Vec<SecretKey>,
    /// The HTLC preimage.
    pub preimage: Option<Preimage>,
    /// Sign with every key given (not only those the lock names), skip the
    /// wallet's own check of the witnesses and let the mint decide (its
    /// clock rules locktimes). A refusal then comes from the mint
    /// ([`Error::Mint`]) and changes nothing but used NUT-13 counters.
    pub mint_decides: bool,
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unlock")
            .field("keys", &self.keys.len())
            .field("preimage", &self.preimage.is_some())
            .field("mint_decides", &self.mint_decides)
            .finish()
    }
}

impl Unlock {
    /// Unlocks with `keys`.
    #[must_use]
    pub fn keys(keys: Vec<SecretKey>) -> Self {
        Self {
            keys,
            ..Self::default()
        }
    }

    /// Unlocks an HTLC with `preimage` (and `keys` if it names pubkeys).
    #[must_use]
    pub fn preimage(preimage: Preimage, keys: Vec<SecretKey>) -> Self {
        Self {
            keys,
            preimage: Some(preimage),
            mint_decides: false,
        }
    }

    /// Whether nothing is given (then locked proofs are refused).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.preimage.is_none()
    }
}

/// The conditions of a proof: `None` for a plain secret; a lock this
/// wallet cannot read or satisfy (another NUT-10 kind, malformed tags) is
/// refused.
pub(crate) fn conditions_of(proof: &Proof) -> Result<Option<SpendingConditions>> {
    SpendingConditions::from_secret(&proof.secret).map_err(|_| Error::TokenRefused(Refusal::Locked))
}

/// Whether a proof's secret is a NUT-10 well-known secret (locked, or
/// unreadable and so not spendable as a plain proof).
pub(crate) fn is_locked(proof: &Proof) -> bool {
    !matches!(Nut10Secret::from_secret(&proof.secret), Ok(None))
}

/// The keys of `unlock` that sign for `proof` under `conditions`.
fn signers(
    proof: &Proof,
    conditions: &SpendingConditions,
    unlock: &Unlock,
) -> Result<Vec<SecretKey>> {
    let mut out = Vec::new();
    if let Some(e) = &proof.p2pk_e {
        for key in &unlock.keys {
            out.extend(nut28::derive_signing_keys(conditions, e, key)?);
        }
    } else {
        let named: Vec<[u8; 32]> = conditions
            .main_keys()
            .iter()
            .chain(&conditions.conditions.refund)
            .map(PublicKey::x_only)
            .collect();
        out.extend(
            unlock
                .keys
                .iter()
                .filter(|k| named.contains(&k.public_key().x_only()))
                .cloned(),
        );
    }
    if out.is_empty() && unlock.mint_decides {
        out.extend(unlock.keys.iter().cloned());
    }
    Ok(out)
}

/// Adds the `SIG_INPUTS` witnesses (signatures, preimage) of `unlock` to
/// every locked proof (an HTLC's preimage also to `SIG_ALL` ones); returns
/// whether the transaction is `SIG_ALL` (then [`sign_all`] must sign it
/// once its outputs are known). Unless `unlock.mint_decides`, checks every
/// `SIG_INPUTS` witness at unix time `now`.
///
/// # Errors
/// [`Refusal::Locked`] for a lock without an unlock, or one this wallet
/// cannot read; [`Refusal::LockNotSatisfied`]; signing errors.
pub(crate) fn sign_inputs(proofs: &mut [Proof], unlock: &Unlock, now: u64) -> Result<bool> {
    let mut sig_all = false;
    for proof in proofs.iter_mut() {
        let Some(conditions) = conditions_of(proof)? else {
            continue;
        };
        if unlock.is_empty() {
            return Err(Error::TokenRefused(Refusal::Locked));
        }
        if let (Lock::Htlc(_), Some(preimage)) = (&conditions.lock, &unlock.preimage) {
            nut11::set_preimage(proof, preimage.clone())?;
        }
        if conditions.conditions.sig_flag == SigFlag::SigAll {
            sig_all = true;
            continue;
        }
        for key in signers(proof, &conditions, unlock)? {
            nut11::sign_input(proof, &key, &mut getrandom::SysRng)?;
        }
        if !unlock.mint_decides {
            let witness = proof
                .witness
                .as_ref()
                .map(nut11::WitnessData::parse)
                .transpose()?;
            conditions
                .verify(
                    &nut11::digest(proof.secret.as_bytes()),
                    witness.as_ref(),
                    now,
                )
                .map_err(|_| Error::TokenRefused(Refusal::LockNotSatisfied))?;
        }
    }
    Ok(sig_all)
}

/// Signs a `SIG_ALL` transaction (the first input's witness) with every key
/// of `unlock` its lock names, and unless `unlock.mint_decides` checks it
/// as a mint would at unix time `now`.
///
/// # Errors
/// [`Refusal::LockNotSatisfied`]; signing errors.
pub(crate) fn sign_all(
    inputs: &mut [Proof],
    outputs: &[BlindedMessage],
    unlock: &Unlock,
    now: u64,
) -> Result<()> {
    let first = inputs.first().ok_or(Error::InvalidArgument("no inputs"))?;
    let conditions = conditions_of(first)?.ok_or(Error::TokenRefused(Refusal::LockNotSatisfied))?;
    for key in signers(first, &conditions, unlock)? {
        nut11::sign_sig_all(inputs, outputs, None, &key, &mut getrandom::SysRng)?;
    }
    if !unlock.mint_decides {
        nut11::verify_transaction(inputs, outputs, None, now)
            .map_err(|_| Error::TokenRefused(Refusal::LockNotSatisfied))?;
    }
    Ok(())
}

/// The request of a planned swap `op` with its `SIG_ALL` witness: `inputs`
/// (the proofs as received, with their `p2pk_e`) are signed over the
/// request's outputs and go into it bare.
///
/// # Errors
/// As [`sign_all`]; [`Error::CorruptRecord`] for a request that is not a
/// swap.
pub(crate) fn signed_all_request(
    op: &crate::store::Operation,
    inputs: &mut [Proof],
    unlock: &Unlock,
    now: u64,
) -> Result<String> {
    let mut request: crate::client::SwapRequest =
        serde_json::from_str(&op.request).map_err(|_| Error::CorruptRecord { what: "request" })?;
    sign_all(inputs, &request.outputs, unlock, now)?;
    request.inputs = inputs.iter().map(crate::wallet::bare).collect();
    serde_json::to_string(&request).map_err(|_| Error::InvalidArgument("request"))
}
