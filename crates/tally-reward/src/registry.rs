//! One accepted run per epoch, a chain of manifests, and quarantine.
//!
//! [`run_epoch`] is the whole run: verify the policy, derive the run key,
//! refuse a second run of an epoch under another run key
//! ([`Error::Conflict`]) and return the accepted one for the same run key
//! ([`RunOutcome::Existing`]), compute, check, seal with the previous
//! manifest's CID, derive the settlement intents, and record the run. Any
//! invariant breach (an overflow or a failed check of the distribution or of
//! the intents) stores the run in quarantine with its reason and emits no
//! intent. The [`RunStore`] trait is what the service persists; the
//! in-memory [`MemoryStore`] is the reference implementation.

use std::collections::BTreeMap;

use crate::cid::Cid;
use crate::compute::{Distribution, compute};
use crate::ident::EpochId;
use crate::inputs::EpochInputs;
use crate::keys::{SigningKey, TrustedKeys};
use crate::manifest::{Manifest, RunKey, SealedManifest, build, run_key, seal};
use crate::policy::SignedPolicy;
use crate::settle::{Transfer, intents};
use crate::{ENGINE_VERSION, Error, Limits};

/// An accepted run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedRun {
    /// The sealed manifest.
    pub sealed: SealedManifest,
    /// Its CID.
    pub manifest_cid: Cid,
    /// The settlement batch.
    pub intents: Vec<Transfer>,
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

/// Where runs are kept.
pub trait RunStore {
    /// The accepted run of an epoch.
    fn accepted(&self, epoch: &EpochId) -> Option<&AcceptedRun>;
    /// The CID of the last accepted manifest (the chain's head).
    fn head(&self) -> Option<Cid>;
    /// Records an accepted run; it becomes the head.
    fn accept(&mut self, run: AcceptedRun);
    /// Records a quarantined run.
    fn quarantine(&mut self, run: QuarantinedRun);
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

/// An in-memory [`RunStore`].
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    accepted: BTreeMap<EpochId, AcceptedRun>,
    head: Option<Cid>,
    quarantined: Vec<QuarantinedRun>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The quarantined runs, oldest first.
    #[must_use]
    pub fn quarantined(&self) -> &[QuarantinedRun] {
        &self.quarantined
    }
}

impl RunStore for MemoryStore {
    fn accepted(&self, epoch: &EpochId) -> Option<&AcceptedRun> {
        self.accepted.get(epoch)
    }

    fn head(&self) -> Option<Cid> {
        self.head
    }

    fn accept(&mut self, run: AcceptedRun) {
        self.head = Some(run.manifest_cid);
        self.accepted.insert(run.sealed.manifest.epoch.clone(), run);
    }

    fn quarantine(&mut self, run: QuarantinedRun) {
        self.quarantined.push(run);
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

/// Runs an epoch.
///
/// # Errors
/// Policy signature errors, [`Error::Conflict`], [`Error::OutsideValidity`],
/// [`Error::OverCost`]; nothing is stored for these.
pub fn run_epoch<S: RunStore>(
    store: &mut S,
    inputs: &EpochInputs,
    policy: &SignedPolicy,
    trusted: &TrustedKeys,
    limits: &Limits,
    signer: &SigningKey,
) -> Result<RunOutcome, Error> {
    let policy = policy.verify(trusted)?;
    let inputs_cid = inputs.cid()?;
    let key = run_key(inputs.epoch(), &inputs_cid, &policy.cid(), ENGINE_VERSION);
    if let Some(existing) = store.accepted(inputs.epoch()) {
        if existing.sealed.manifest.run_key == key {
            return Ok(RunOutcome::Existing(existing.clone()));
        }
        return Err(Error::Conflict {
            epoch: inputs.epoch().to_string(),
        });
    }
    let quarantine = |store: &mut S, reason: Error, manifest: Option<Manifest>| {
        let run = QuarantinedRun {
            epoch: inputs.epoch().clone(),
            run_key: key,
            reason,
            manifest,
        };
        store.quarantine(run.clone());
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
    let manifest = build(
        inputs,
        inputs_cid,
        &policy,
        &outcome.distribution,
        store.head(),
    )?;
    if let Err(e) = store.admit(&outcome.distribution) {
        return quarantine(store, e, Some(manifest));
    }
    let intents = match intents(&manifest.run_key, &outcome.distribution) {
        Ok(intents) => intents,
        Err(e) => return quarantine(store, e, Some(manifest)),
    };
    let manifest_cid = manifest.cid()?;
    let run = AcceptedRun {
        sealed: seal(manifest, signer)?,
        manifest_cid,
        intents,
    };
    store.accept(run.clone());
    Ok(RunOutcome::Accepted(run))
}
