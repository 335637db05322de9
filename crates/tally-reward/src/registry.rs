//! One accepted run per epoch, a chain of manifests, and quarantine.
//!
//! [`run_epoch`] is the whole run: verify the policy, derive the run key,
//! refuse a second run of an epoch under another run key
//! ([`Error::Conflict`]) and return the accepted one for the same run key
//! ([`RunOutcome::Existing`]), compute, check, seal with the previous
//! manifest's CID (checked against it: order, trusted seal), check that its
//! settlement batch can be built ([`settle::check`]: it moves exactly the
//! pool, the accounts' ledger ids are distinct), and record the run (the
//! sealed manifest and its payouts; the batch is derived from them at
//! settlement, [`AcceptedRun::intents`]) with one atomic insert-if-absent
//! (a run that lost a race to another worker is answered with the winner's).
//! Any invariant breach (an overflow or a failed check of the distribution
//! or of the batch) stores the run in quarantine with its reason and emits
//! no intent. The [`RunStore`] trait is what the service persists; the
//! in-memory [`MemoryStore`] is the reference implementation.

use std::collections::BTreeMap;

use crate::cid::Cid;
use crate::compute::{Distribution, Payout, compute};
use crate::ident::EpochId;
use crate::inputs::EpochInputs;
use crate::keys::TrustedKeys;
use crate::manifest::{
    Manifest, RunKey, SealedManifest, Sealer, build, payouts_bytes, run_key, seal, verify_link,
};
use crate::policy::SignedPolicy;
use crate::settle::{self, Ledger, Plan, Transfer};
use crate::{ENGINE_VERSION, Error, Limits};

/// An accepted run: its sealed manifest and the payouts it commits to.
/// The settlement batch is derived from them ([`AcceptedRun::intents`]),
/// not stored: it is a function of the manifest's run key, accounts, pool
/// and residual, the payouts and the ledger, and was checked to be
/// buildable before the run was accepted ([`settle::check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedRun {
    /// The sealed manifest.
    pub sealed: SealedManifest,
    /// Its CID.
    pub manifest_cid: Cid,
    /// The payouts, in account order: the list whose CID and Merkle root the
    /// manifest carries ([`AcceptedRun::check_payouts`]).
    pub payouts: Vec<Payout>,
    /// The ledger the run settles on.
    pub ledger: Ledger,
}

impl AcceptedRun {
    /// What the run pays ([`settle::Plan`]).
    #[must_use]
    pub fn plan(&self) -> Plan<'_> {
        let m = &self.sealed.manifest;
        Plan {
            run_key: &m.run_key,
            pool: m.pool,
            funding_account: &m.funding_account,
            residual_sink: &m.residual_sink,
            residual: m.residual,
            payouts: &self.payouts,
        }
    }

    /// The settlement batch: one linked batch paying every payee, then the
    /// residual to the sink.
    ///
    /// # Errors
    /// [`Error::InvariantBreach`] when the batch cannot be built (never for
    /// a run [`run_epoch`] accepted, whose plan it checked).
    pub fn intents(&self) -> Result<Vec<Transfer>, Error> {
        settle::intents_of(&self.plan(), self.ledger)
    }

    /// Checks that the payouts are the manifest's: their canonical list
    /// has the manifest's `payouts_cid` (a stored run read back whose
    /// payouts were changed would pay what no seal covers).
    ///
    /// # Errors
    /// [`Error::InvariantBreach`] when they are not.
    pub fn check_payouts(&self) -> Result<(), Error> {
        let m = &self.sealed.manifest;
        let same = m.payees == self.payouts.len() as u64
            && Cid::of(&payouts_bytes(&self.payouts)?) == m.payouts_cid;
        if same {
            Ok(())
        } else {
            Err(Error::InvariantBreach {
                reason: "the run's payouts are not the ones its manifest seals".to_owned(),
            })
        }
    }
}

/// A run that broke an invariant: stored, never paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedRun {
    /// The epoch.
    pub epoch: EpochId,
    /// The run key.
    pub run_key: RunKey,
    /// What broke.
    pub reason: Error,
    /// The unsigned manifest of the distribution, when one was computed
    /// (never signed, never settled).
    pub manifest: Option<Manifest>,
}

/// The head of the chain: the last accepted manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its CID (what the next manifest's `previous` names).
    pub cid: Cid,
    /// The sealed manifest (its epoch and window order the next).
    pub sealed: SealedManifest,
}

/// What [`RunStore::accept`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The run was recorded: it is the epoch's run and the chain's head.
    Inserted,
    /// The epoch already had an accepted run (another worker's, perhaps):
    /// nothing was recorded; here it is.
    Existing(Box<AcceptedRun>),
    /// Another epoch was accepted since the run was linked to
    /// `expected_head`: nothing was recorded; link again.
    HeadMoved,
}

/// A store could not do what was asked (the database was unreachable, a
/// write failed). Nothing is half-done: each call is atomic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// What went wrong, in the store's words.
    pub reason: String,
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store { reason: e.reason }
    }
}

/// Where runs are kept: what the service persists.
///
/// Every call can fail and returns owned data, so a database can implement
/// it; [`accept`](Self::accept) is one atomic insert-if-absent, so two
/// workers running the same epoch cannot both be accepted. The trait is
/// synchronous: a run is CPU-bound (computing a million accounts takes about
/// a second) and runs on a blocking thread anyway (Tokio's `spawn_blocking`),
/// where a database store performs its calls; an async trait would add a
/// second form of every method without removing that thread.
pub trait RunStore {
    /// The accepted run of an epoch.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError>;

    /// The chain's head: the last accepted manifest.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer.
    fn head(&self) -> Result<Option<Head>, StoreError>;

    /// Records `run` as its epoch's accepted run and the chain's new head,
    /// atomically, if and only if the epoch has no accepted run and the head
    /// is still `expected_head` (the CID the run's manifest links to).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot answer; nothing is recorded.
    fn accept(
        &mut self,
        run: &AcceptedRun,
        expected_head: Option<Cid>,
    ) -> Result<Accepted, StoreError>;

    /// Records a quarantined run.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot record it.
    fn quarantine(&mut self, run: QuarantinedRun) -> Result<(), StoreError>;

    /// A store-side check of a computed distribution before it is sealed
    /// (the ledger checks, for example, that the funding account holds the
    /// pool). An error quarantines the run. The default admits everything.
    ///
    /// # Errors
    /// The reason to quarantine.
    fn admit(&self, distribution: &Distribution) -> Result<(), Error> {
        let _ = distribution;
        Ok(())
    }
}

/// An in-memory [`RunStore`]: the reference implementation.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    accepted: BTreeMap<EpochId, AcceptedRun>,
    head: Option<Head>,
    quarantined: Vec<QuarantinedRun>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose chain continues from `previous` (a manifest accepted
    /// elsewhere, e.g. given to the CLI with `--previous`).
    ///
    /// # Errors
    /// [`Error::Json`]-class errors when its CID cannot be computed.
    pub fn following(previous: SealedManifest) -> Result<Self, Error> {
        let cid = previous.manifest.cid()?;
        Ok(Self {
            head: Some(Head {
                cid,
                sealed: previous,
            }),
            ..Self::default()
        })
    }

    /// The quarantined runs, oldest first.
    #[must_use]
    pub fn quarantined(&self) -> &[QuarantinedRun] {
        &self.quarantined
    }
}

impl RunStore for MemoryStore {
    fn accepted(&self, epoch: &EpochId) -> Result<Option<AcceptedRun>, StoreError> {
        Ok(self.accepted.get(epoch).cloned())
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        Ok(self.head.clone())
    }

    fn accept(
        &mut self,
        run: &AcceptedRun,
        expected_head: Option<Cid>,
    ) -> Result<Accepted, StoreError> {
        if let Some(existing) = self.accepted.get(&run.sealed.manifest.epoch) {
            return Ok(Accepted::Existing(Box::new(existing.clone())));
        }
        if self.head.as_ref().map(|h| h.cid) != expected_head {
            return Ok(Accepted::HeadMoved);
        }
        self.head = Some(Head {
            cid: run.manifest_cid,
            sealed: run.sealed.clone(),
        });
        self.accepted
            .insert(run.sealed.manifest.epoch.clone(), run.clone());
        Ok(Accepted::Inserted)
    }

    fn quarantine(&mut self, run: QuarantinedRun) -> Result<(), StoreError> {
        self.quarantined.push(run);
        Ok(())
    }
}

/// What a run ended as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Newly accepted: seal it and settle its intents.
    Accepted(AcceptedRun),
    /// The same run was accepted before: the same manifest and intents.
    Existing(AcceptedRun),
    /// Over the cost limit in dry-run mode: computed, not sealed or stored.
    DryRun(Distribution),
    /// An invariant broke: stored in quarantine, no intent.
    Quarantined(QuarantinedRun),
}

/// How many times [`run_epoch`] links a run again when another epoch was
/// accepted meanwhile, before it reports a conflict.
pub const MAX_RELINKS: usize = 4;

/// Runs an epoch: what the CLI and the service both call. `signer` seals
/// the manifest: an Ed25519 key, or a [`Sealer`] with an ML-DSA-65 key too.
///
/// # Errors
/// Policy signature errors, [`Error::Conflict`] (another run key for the
/// epoch, or the head kept moving), [`Error::OutsideValidity`],
/// [`Error::OverCost`], chain errors ([`Error::ChainOrder`], an untrusted
/// previous seal), [`Error::Store`]; nothing is stored for these.
pub fn run_epoch<'k, S: RunStore>(
    store: &mut S,
    inputs: &EpochInputs,
    policy: &SignedPolicy,
    trusted: &TrustedKeys,
    limits: &Limits,
    signer: impl Into<Sealer<'k>>,
    ledger: Ledger,
) -> Result<RunOutcome, Error> {
    let signer = signer.into();
    let policy = policy.verify(trusted)?;
    let inputs_cid = inputs.cid()?;
    let key = run_key(inputs.epoch(), &inputs_cid, &policy.cid(), ENGINE_VERSION);
    let same_or_conflict = |existing: AcceptedRun| {
        if existing.sealed.manifest.run_key == key {
            Ok(RunOutcome::Existing(existing))
        } else {
            Err(Error::Conflict {
                epoch: inputs.epoch().to_string(),
            })
        }
    };
    if let Some(existing) = store.accepted(inputs.epoch())? {
        return same_or_conflict(existing);
    }
    let quarantine = |store: &mut S, reason: Error, manifest: Option<Manifest>| {
        let run = QuarantinedRun {
            epoch: inputs.epoch().clone(),
            run_key: key,
            reason,
            manifest,
        };
        store.quarantine(run.clone())?;
        Ok(RunOutcome::Quarantined(run))
    };
    let outcome = match compute(inputs, &policy, limits) {
        Ok(outcome) => outcome,
        Err(e @ (Error::Overflow | Error::InvariantBreach { .. })) => {
            return quarantine(store, e, None);
        }
        Err(e) => return Err(e),
    };
    if outcome.dry_run {
        return Ok(RunOutcome::DryRun(outcome.distribution));
    }
    for _ in 0..MAX_RELINKS {
        let head = store.head()?;
        let manifest = build(
            inputs,
            inputs_cid,
            &policy,
            &outcome.distribution,
            head.as_ref().map(|h| h.cid),
        )?;
        if let Some(head) = &head {
            verify_link(&manifest, &head.sealed, trusted)?;
        }
        if let Err(e) = store.admit(&outcome.distribution) {
            return quarantine(store, e, Some(manifest));
        }
        if let Err(e) = settle::check(&Plan::of(&manifest.run_key, &outcome.distribution)) {
            return quarantine(store, e, Some(manifest));
        }
        let manifest_cid = manifest.cid()?;
        let run = AcceptedRun {
            sealed: seal(manifest, signer)?,
            manifest_cid,
            payouts: outcome.distribution.payouts.clone(),
            ledger,
        };
        match store.accept(&run, head.map(|h| h.cid))? {
            Accepted::Inserted => return Ok(RunOutcome::Accepted(run)),
            Accepted::Existing(existing) => return same_or_conflict(*existing),
            Accepted::HeadMoved => {}
        }
    }
    Err(Error::Conflict {
        epoch: inputs.epoch().to_string(),
    })
}
