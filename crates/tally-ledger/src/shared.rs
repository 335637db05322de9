//! [`SharedBudget`]: Calybris's budget API for many threads at once.
//!
//! Tenants are hashed (with a seed of each instance) to `N` shards, each a
//! [`Budget`] behind its own lock: threads working on tenants of different
//! shards never wait for one shard's lock (they meet only in a directory
//! slot, below, when their ids hash to the same one; the slots' data is
//! shared between them, which is what limits two threads' gain: see
//! `docs/BENCHMARKS.md`). The operator's and the spend account
//! have a part in every shard; a snapshot sums them. Client-chosen transfer
//! ids (reservations, fundings) are one namespace across the shards, as in
//! one [`Budget`]: a directory, itself split into `N` locked slots by the
//! id's hash, says which shard holds each id, so a commit or a release
//! finds its reservation without a global lock. Reservation ids the budget
//! issues itself ([`SharedBudget::reserve`], as Calybris's `try_reserve`
//! does) name their shard, and need no directory at all. The locking protocol and
//! why it cannot deadlock and gives linearizable snapshots: [`locks`].
//!
//! Differences from one [`Budget`], all documented where they apply:
//! funding ids, like reservation ids, must leave their top byte 0 (so that
//! the ids a commit derives never meet a client's), and client ids leave
//! bit 119 0 (the issued ids'); each shard keeps its own
//! clock (timestamps strictly increase per shard; one ledger's clock runs
//! ahead of `now` by a nanosecond per event applied at the same `now`, a
//! shard's only by its own events, so a hold's expiry instant can differ by
//! that many nanoseconds) and expires its own holds when it is used
//! ([`SharedBudget::expire`] expires all of them); there is no single
//! [`Ledger`](crate::Ledger) to query.
//!
//! [`locks`]: crate::locks

use core::hash::BuildHasher as _;

use crate::budget::{
    Budget, BudgetError, BudgetSnapshot, Committed, ConservationProof, Row, TenantBudget, prove,
    row,
};
use crate::locks::Locks;
use crate::result::CreateTransferResult as TR;
use crate::sync::{Mutex, lock};

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// What spreads tenants over shards and ids over directory slots: seeded
/// per instance (ids chosen to meet in one shard would only slow their
/// owner down, never change an answer); fixed under loom, whose models
/// must take the same path each time they are replayed.
#[cfg(not(loom))]
type Spread = foldhash::fast::RandomState;
#[cfg(loom)]
type Spread = foldhash::fast::FixedState;

/// The most shards a [`SharedBudget`] has.
pub const MAX_SHARDS: usize = 1_024;

/// The shards a [`SharedBudget`] gets from [`SharedBudget::new`].
pub const DEFAULT_SHARDS: usize = 64;

/// Calybris's budget API, thread-safe (`Send + Sync`, `&self` methods),
/// sharded by tenant, with linearizable conservation snapshots.
#[derive(Debug)]
pub struct SharedBudget {
    shards: Locks<Shard>,
    /// Client-chosen transfer id → the shard that holds it.
    ids: Locks<HashMap<u128, usize>>,
    /// Σ funded over every shard, kept within `u128` (the operator's
    /// posted debits of one ledger could not pass it either).
    funded: Mutex<u128>,
    hasher: Spread,
    operator: u128,
    spend: u128,
    cap: Option<u128>,
}

/// Refuses a client id with its top byte set (as a reservation id is in
/// [`Budget::try_reserve`]).
fn client_id(id: u128) -> Result<(), BudgetError> {
    if id >> 120 != 0 {
        return Err(BudgetError::Transfer(TR::IdMustNotBeIntMax));
    }
    not_issued(id)
}

/// The bit that marks a reservation id the shared budget issued
/// ([`SharedBudget::reserve`]); client ids leave it 0.
const ISSUED: u128 = 1 << 119;
/// Where an issued id keeps its shard: bits 104 to 118.
const SHARD_SHIFT: u32 = 104;
/// The most reservations one shard issues: its counter fills bits 0 to 103.
const MAX_ISSUED: u128 = 1 << SHARD_SHIFT;

/// Refuses a client id with bit 119 set (the ids the shared budget issues).
fn not_issued(id: u128) -> Result<(), BudgetError> {
    if id & ISSUED != 0 {
        return Err(BudgetError::IssuedIdRange);
    }
    Ok(())
}

/// One shard: a budget, and the count of reservation ids it has issued.
#[derive(Debug)]
struct Shard {
    budget: Budget,
    issued: u128,
}

impl core::ops::Deref for Shard {
    type Target = Budget;
    fn deref(&self) -> &Budget {
        &self.budget
    }
}

impl core::ops::DerefMut for Shard {
    fn deref_mut(&mut self) -> &mut Budget {
        &mut self.budget
    }
}

impl SharedBudget {
    /// Budgets as [`Budget::new`], in [`DEFAULT_SHARDS`] shards.
    ///
    /// # Errors
    /// [`BudgetError::Account`] when an account cannot be created.
    pub fn new(
        ledger_id: u32,
        operator: u128,
        spend: u128,
        cap: Option<u128>,
        now: u64,
    ) -> Result<Self, BudgetError> {
        Self::with_shards(ledger_id, operator, spend, cap, now, DEFAULT_SHARDS)
    }

    /// Budgets as [`Budget::new`], in `shards` shards (1 to
    /// [`MAX_SHARDS`]: a number outside is taken to the nearest bound).
    ///
    /// # Errors
    /// [`BudgetError::Account`] when an account cannot be created.
    pub fn with_shards(
        ledger_id: u32,
        operator: u128,
        spend: u128,
        cap: Option<u128>,
        now: u64,
        shards: usize,
    ) -> Result<Self, BudgetError> {
        let n = shards.clamp(1, MAX_SHARDS);
        let first = Budget::new(ledger_id, operator, spend, cap, now)?;
        Ok(Self {
            shards: Locks::new(n, || Shard {
                budget: first.clone(),
                issued: 0,
            }),
            ids: Locks::new(n, HashMap::default),
            funded: Mutex::new(0),
            hasher: Spread::default(),
            operator,
            spend,
            cap,
        })
    }

    /// The number of shards.
    #[must_use]
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    fn index(&self, key: u128, n: usize) -> usize {
        let n = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.hasher.hash_one(key) % n).unwrap_or(0)
    }

    /// The shard that holds a tenant.
    #[must_use]
    pub fn shard_of(&self, tenant: u128) -> usize {
        self.index(tenant, self.shards.len())
    }

    fn id_slot(&self, id: u128) -> usize {
        self.index(id, self.ids.len())
    }

    /// Runs `op` on the shard that holds client id `id`, or, for an id not
    /// seen before, on `home`, which then holds it if `op` leaves it taken.
    /// The id's slot stays locked throughout, so two operations on one id
    /// are serialized and the directory never names a shard that does not
    /// hold the id.
    fn claimed<R>(
        &self,
        id: u128,
        home: usize,
        op: impl FnOnce(&mut Budget, bool) -> Result<R, BudgetError>,
    ) -> Result<R, BudgetError> {
        let mut ids = self.ids.lock(self.id_slot(id));
        if let Some(&owner) = ids.get(&id) {
            // The id is taken (stored or failed for good) in `owner`: the
            // ledger there answers `exists…` or `id_already_failed`.
            return op(&mut self.shards.lock(owner), true);
        }
        ids.insert(id, home);
        let mut shard = self.shards.lock(home);
        let result = op(&mut shard, false);
        if !shard.transfer_id_taken(id) {
            ids.remove(&id);
        }
        result
    }

    /// The shard holding the reservation a commit or release names (a
    /// derived id is found by its reservation).
    fn owner(&self, reservation: u128) -> Option<usize> {
        let key = reservation & (u128::MAX >> 8);
        if key & ISSUED != 0 {
            // Issued here: the shard is in the id, no directory to ask.
            let shard = usize::try_from((key & !ISSUED) >> SHARD_SHIFT).ok()?;
            return (shard < self.shards.len()).then_some(shard);
        }
        self.ids.lock(self.id_slot(key)).get(&key).copied()
    }

    /// Opens a tenant with `initial` units (funding transfer `funding_id`,
    /// top byte 0), as [`Budget::open_tenant`]: the account, then its
    /// funding.
    ///
    /// # Errors
    /// [`BudgetError::Account`], [`BudgetError::Transfer`].
    pub fn open_tenant(
        &self,
        tenant: u128,
        initial: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        if initial > 0 {
            client_id(funding_id)?;
        }
        self.shards
            .lock(self.shard_of(tenant))
            .open_tenant(tenant, 0, funding_id, now)?;
        if initial > 0 {
            self.top_up(tenant, initial, funding_id, now)?;
        }
        Ok(())
    }

    /// Adds `amount` to a tenant's budget (transfer `funding_id`, top byte
    /// 0 and bit 119 0), as [`Budget::top_up`]. A top-up that would take the funded total
    /// of all shards past `u128::MAX` is `overflows_debits_posted` (the
    /// operator's debits in one ledger), without recording the id as
    /// failed.
    ///
    /// # Errors
    /// [`BudgetError::Transfer`].
    pub fn top_up(
        &self,
        tenant: u128,
        amount: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        client_id(funding_id)?;
        self.claimed(funding_id, self.shard_of(tenant), |b, taken| {
            if taken {
                return b.top_up(tenant, amount, funding_id, now);
            }
            let mut funded = lock(&self.funded);
            let Some(total) = funded.checked_add(amount) else {
                return Err(BudgetError::Transfer(TR::OverflowsDebitsPosted));
            };
            b.top_up(tenant, amount, funding_id, now)?;
            *funded = total;
            Ok(())
        })
    }

    fn live_tenant(shard: &mut Budget, tenant: u128, now: u64) -> Option<TenantBudget> {
        shard.expire(now);
        shard.tenant(tenant)
    }

    /// Reserves as [`Budget::try_reserve`], under the client's id (top
    /// byte 0 and bit 119 0: [`BudgetError::IssuedIdRange`] otherwise).
    ///
    /// # Errors
    /// As [`Budget::try_reserve`].
    pub fn try_reserve(
        &self,
        tenant: u128,
        amount: u128,
        reservation: u128,
        timeout_seconds: u32,
        now: u64,
    ) -> Result<(), BudgetError> {
        client_id(reservation)?;
        let home = self.shard_of(tenant);
        let mut ids = self.ids.lock(self.id_slot(reservation));
        if let Some(&owner) = ids.get(&reservation) {
            if owner != home
                && let Some(cap) = self.cap
                && let Some(b) = Self::live_tenant(&mut self.shards.lock(home), tenant, now)
                && b.reserved.checked_add(amount).is_none_or(|r| r > cap)
            {
                // One budget checks the cap (on the holds live at `now`)
                // before the id: so here.
                return Err(BudgetError::OverCap {
                    cap,
                    reserved: b.reserved,
                });
            }
            return self.shards.lock(owner).try_reserve(
                tenant,
                amount,
                reservation,
                timeout_seconds,
                now,
            );
        }
        ids.insert(reservation, home);
        let mut shard = self.shards.lock(home);
        let result = shard.try_reserve(tenant, amount, reservation, timeout_seconds, now);
        if result.is_err() && !shard.transfer_id_taken(reservation) {
            ids.remove(&reservation);
        }
        result
    }

    /// Reserves `amount` of a tenant's budget under a reservation id the
    /// budget issues (Calybris's `try_reserve`, which returns the id), as
    /// [`Budget::try_reserve`] does under a client's id. The id names its
    /// shard (bit 119 set, the shard in bits 104–118, a count of the
    /// shard's issued ids below), so this reservation, its commit and its
    /// release touch no directory slot: only the tenant's shard. Ids are
    /// unique and never a client's (client ids leave bit 119 0), but they
    /// are not secret: a caller that must not commit another's reservation
    /// checks that it made it.
    ///
    /// # Errors
    /// As [`Budget::try_reserve`]; [`BudgetError::IssuedIdsExhausted`] once
    /// the tenant's shard has issued 2^104 ids.
    pub fn reserve(
        &self,
        tenant: u128,
        amount: u128,
        timeout_seconds: u32,
        now: u64,
    ) -> Result<u128, BudgetError> {
        let home = self.shard_of(tenant);
        let mut shard = self.shards.lock(home);
        let count = shard.issued;
        let place = u128::try_from(home).unwrap_or(u128::MAX);
        if count >= MAX_ISSUED || place >= (ISSUED >> SHARD_SHIFT) {
            return Err(BudgetError::IssuedIdsExhausted);
        }
        let id = ISSUED | (place << SHARD_SHIFT) | count;
        // Spent whatever happens: a refused id may be recorded as failed.
        shard.issued = count.saturating_add(1);
        shard
            .budget
            .try_reserve(tenant, amount, id, timeout_seconds, now)?;
        Ok(id)
    }

    /// Commits as [`Budget::commit`].
    ///
    /// # Errors
    /// As [`Budget::commit`].
    pub fn commit(
        &self,
        reservation: u128,
        actual: u128,
        now: u64,
    ) -> Result<Committed, BudgetError> {
        let owner = self
            .owner(reservation)
            .ok_or(BudgetError::UnknownReservation)?;
        self.shards.lock(owner).commit(reservation, actual, now)
    }

    /// Releases as [`Budget::release`].
    ///
    /// # Errors
    /// As [`Budget::release`].
    pub fn release(&self, reservation: u128, now: u64) -> Result<(), BudgetError> {
        let owner = self
            .owner(reservation)
            .ok_or(BudgetError::UnknownReservation)?;
        self.shards.lock(owner).release(reservation, now)
    }

    /// Releases every reservation whose timeout has passed at `now`, shard
    /// by shard (each expiry is its own shard's operation).
    pub fn expire(&self, now: u64) {
        for i in 0..self.shards.len() {
            self.shards.lock(i).expire(now);
        }
    }

    /// A tenant's budget.
    #[must_use]
    pub fn tenant(&self, tenant: u128) -> Option<TenantBudget> {
        self.shards.lock(self.shard_of(tenant)).tenant(tenant)
    }

    /// The rows of every account of the shards (the operator's and the
    /// spend account's summed), and whether every shard's double entry
    /// holds and the sums fit.
    fn rows<'a>(&self, shards: impl Iterator<Item = &'a Budget>) -> (Vec<Row>, bool) {
        let mut rows = Vec::new();
        let mut system = [[self.operator, 0, 0, 0, 0], [self.spend, 0, 0, 0, 0]];
        let mut holds = true;
        for shard in shards {
            let (operator, spend) = shard.system_accounts();
            holds &= operator == self.operator && spend == self.spend;
            holds &= shard.balanced();
            for a in shard.accounts() {
                let r = row(a);
                let Some(sum) = system.iter_mut().find(|s| s[0] == a.id) else {
                    rows.push(r);
                    continue;
                };
                for (total, v) in sum.iter_mut().zip(r).skip(1) {
                    match total.checked_add(v) {
                        Some(t) => *total = t,
                        None => holds = false,
                    }
                }
            }
        }
        rows.extend(system);
        (rows, holds)
    }

    /// Every tenant's budget and the conservation proof, from a
    /// linearizable snapshot: every shard locked at once (in index order),
    /// so the state is the one of a moment of the execution. Its digest is
    /// the one a single [`Budget`] with the same balances gives.
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        let guards = self.shards.lock_all();
        let (mut rows, holds) = self.rows(guards.iter().map(|g| &g.budget));
        drop(guards);
        let mut tenants = Vec::with_capacity(rows.len());
        let proof = prove(
            &mut rows,
            self.operator,
            self.spend,
            holds,
            Some(&mut tenants),
        );
        BudgetSnapshot { tenants, proof }
    }

    /// The conservation proof (as [`Budget::prove_conservation`]) from a
    /// linearizable snapshot ([`SharedBudget::snapshot`]).
    #[must_use]
    pub fn prove_conservation(&self) -> ConservationProof {
        let guards = self.shards.lock_all();
        let (mut rows, holds) = self.rows(guards.iter().map(|g| &g.budget));
        drop(guards);
        prove(&mut rows, self.operator, self.spend, holds, None)
    }

    /// A snapshot taken the wrong way, one shard at a time (for the loom
    /// model to show that it catches a torn snapshot).
    #[cfg(loom)]
    #[doc(hidden)]
    #[must_use]
    pub fn snapshot_one_shard_at_a_time(&self) -> BudgetSnapshot {
        let shards: Vec<Budget> = (0..self.shards.len())
            .map(|i| self.shards.lock(i).budget.clone())
            .collect();
        let (mut rows, holds) = self.rows(shards.iter());
        let mut tenants = Vec::new();
        let proof = prove(
            &mut rows,
            self.operator,
            self.spend,
            holds,
            Some(&mut tenants),
        );
        BudgetSnapshot { tenants, proof }
    }
}
