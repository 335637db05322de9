//! Calybris Core's budget API, on the ledger.
//!
//! | `BudgetEngine` (Calybris) | one thread | many threads | on the ledger |
//! |---|---|---|---|
//! | `BudgetEngine::new()` | [`Budget::new`] | [`SharedBudget::new`], [`SharedBudget::with_shards`] | the operator's and the spend account (in every shard) |
//! | `ensure_tenant` / `open_tenant(initial)` | [`Budget::open_tenant`] | [`SharedBudget::open_tenant`] | an account that may not overdraw, funded from the operator's account |
//! | `top_up_tenant` | [`Budget::top_up`] | [`SharedBudget::top_up`] | another funding transfer |
//! | `try_reserve` (returns the id it issued) | [`Budget::try_reserve`] (the client's id: idempotent) | [`SharedBudget::reserve`] (issues an id naming its shard: no directory), [`SharedBudget::try_reserve`] (the client's id) | a pending transfer to the spend account, with a timeout |
//! | `commit(actual)` | [`Budget::commit`] | [`SharedBudget::commit`] | post (partially: the rest released); an overrun is a second transfer linked to the post, so both apply or neither |
//! | `release` | [`Budget::release`] | [`SharedBudget::release`] | void |
//! | (holds never expire) | [`Budget::expire`], a reservation's timeout | [`SharedBudget::expire`] | the pending transfer's timeout |
//! | `set_max_reserved_microcents` (per tenant) | the `cap` of [`Budget::new`] (one for every tenant) | the `cap` of [`SharedBudget::new`] | checked before the pending transfer |
//! | `remaining_` / `reserved_` / `committed_` / `initial_microcents` | [`Budget::tenant`] | [`SharedBudget::tenant`] | credits posted, debits pending and posted |
//! | `snapshot` | [`Budget::snapshot`] | [`SharedBudget::snapshot`] | every tenant's balances, with the proof |
//! | `prove_conservation` / `verify_conservation` | [`Budget::prove_conservation`] | [`SharedBudget::prove_conservation`] (a linearizable snapshot: every shard locked at once) | totals and a canonical digest, the same for the same balances in both |
//! | six global mutexes | `&mut self` | tenants hashed to locked shards, client reservation ids to locked directory slots (issued ids need none): threads on tenants of different shards do not wait for one shard's lock ([`crate::locks`]) | |
//!
//! [`SharedBudget`]: crate::shared::SharedBudget
//! [`SharedBudget::new`]: crate::shared::SharedBudget::new
//! [`SharedBudget::with_shards`]: crate::shared::SharedBudget::with_shards
//! [`SharedBudget::open_tenant`]: crate::shared::SharedBudget::open_tenant
//! [`SharedBudget::top_up`]: crate::shared::SharedBudget::top_up
//! [`SharedBudget::try_reserve`]: crate::shared::SharedBudget::try_reserve
//! [`SharedBudget::reserve`]: crate::shared::SharedBudget::reserve
//! [`SharedBudget::commit`]: crate::shared::SharedBudget::commit
//! [`SharedBudget::release`]: crate::shared::SharedBudget::release
//! [`SharedBudget::expire`]: crate::shared::SharedBudget::expire
//! [`SharedBudget::snapshot`]: crate::shared::SharedBudget::snapshot
//! [`SharedBudget::tenant`]: crate::shared::SharedBudget::tenant
//! [`SharedBudget::prove_conservation`]: crate::shared::SharedBudget::prove_conservation
//!
//! Per tenant, `remaining + reserved + committed == funded` (initial plus
//! top-ups) holds after every operation: `funded` is the account's posted
//! credits, `reserved` its held debits, `committed` its posted debits, and
//! the ledger refuses any transfer that would make `remaining` negative.
//! Commit and release are idempotent: their transfer ids derive from the
//! reservation id, so a resubmission is `exists` and changes nothing.
//! Reservation and funding ids are the client's and leave the top byte 0
//! (the derived ids use it).
//!
//! The budget keeps the semantics of those transfers, not their general
//! form: a reservation and what became of it is one 64-byte record, from
//! which the post, the void and the overrun are rebuilt field for field
//! ([`Budget::to_ledger`] builds the general ledger holding them). The test
//! suite checks every result and that ledger against the first version of
//! this budget, which made every transfer on a [`Ledger`](crate::Ledger)
//! (LED-21).

use crate::result::{CreateAccountResult as AR, CreateTransferResult as TR};
use crate::state::{BatchError, Sum};

/// The account code of tenants, the operator's funding account and the
/// spend account.
pub const TENANT_CODE: u16 = 1;
/// The transfer codes: funding, reservation, overrun.
pub const FUND_CODE: u16 = 1;
/// The code of a reservation (and its post or void).
pub const RESERVE_CODE: u16 = 2;
/// The code of the part of a commit beyond its reservation.
pub const OVERRUN_CODE: u16 = 3;

/// Why a budget operation did not happen; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetError {
    /// The batch was refused whole.
    Batch(BatchError),
    /// The ledger refused the account.
    Account(AR),
    /// The ledger refused the transfer.
    Transfer(TR),
    /// The reservation would take the tenant's reserved total past its cap.
    OverCap {
        /// The cap.
        cap: u128,
        /// Reserved now.
        reserved: u128,
    },
    /// The commit's amount beyond the reservation is more than the tenant
    /// has: nothing was posted.
    Overrun {
        /// The amount beyond the reservation.
        overrun: u128,
    },
    /// No such reservation.
    UnknownReservation,
    /// A client id with bit 119 set: those are the ids a
    /// [`SharedBudget`](crate::shared::SharedBudget) issues.
    IssuedIdRange,
    /// A shard of a [`SharedBudget`](crate::shared::SharedBudget) has
    /// issued all 2^104 of its reservation ids.
    IssuedIdsExhausted,
}

impl core::fmt::Display for BudgetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Batch(e) => e.fmt(f),
            Self::Account(r) => write!(f, "account refused: {r}"),
            Self::Transfer(r) => write!(f, "transfer refused: {r}"),
            Self::OverCap { cap, reserved } => {
                write!(f, "reserved {reserved} of a cap of {cap}")
            }
            Self::Overrun { overrun } => {
                write!(
                    f,
                    "the commit overruns its reservation by {overrun}, more than remains"
                )
            }
            Self::UnknownReservation => f.write_str("no such reservation"),
            Self::IssuedIdRange => {
                f.write_str("ids with bit 119 set are the ones a shared budget issues")
            }
            Self::IssuedIdsExhausted => f.write_str("this shard has issued all its ids"),
        }
    }
}

impl std::error::Error for BudgetError {}

/// A tenant's budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TenantBudget {
    /// Initial plus top-ups.
    pub funded: u128,
    /// Held by live reservations.
    pub reserved: u128,
    /// Committed (spent).
    pub committed: u128,
    /// What can still be reserved: `funded - reserved - committed`.
    pub remaining: u128,
}

/// The outcome of a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Posted now: this much was spent.
    Now(u128),
    /// The same commit was applied before (idempotent): nothing changed.
    Already,
}

/// The id of a transfer derived from a reservation (so that a commit or a
/// release is idempotent): the reservation id with its top bits replaced by
/// `tag`, so that the ids of the three roles never meet. Reservation ids are
/// the client's and must leave the top byte 0.
pub(crate) fn derived(reservation: u128, tag: u8) -> u128 {
    (reservation & (u128::MAX >> 8)) | (u128::from(tag) << 120)
}

pub(crate) const TAG_COMMIT: u8 = 0xc1;
pub(crate) const TAG_OVERRUN: u8 = 0xc2;
pub(crate) const TAG_RELEASE: u8 = 0xc3;

mod engine;
pub use engine::Budget;

/// The conservation proof of a budget: per-tenant identity, ledger-wide
/// double entry, the totals, and a canonical digest of every balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConservationProof {
    /// The digest's layout version.
    pub version: u32,
    /// Tenants counted.
    pub tenants: u64,
    /// Σ funded (initial plus top-ups).
    pub funded: Sum,
    /// Σ reserved.
    pub reserved: Sum,
    /// Σ committed.
    pub committed: Sum,
    /// Σ remaining.
    pub remaining: Sum,
    /// Whether `remaining + reserved + committed == funded` for every
    /// tenant, and double entry for the ledger.
    pub holds: bool,
    /// SHA-256 over `"tally/ledger/conservation/v1" 0x00`, then for every
    /// account in id order: id, debits pending, debits posted, credits
    /// pending, credits posted (16 little-endian bytes each).
    pub digest: [u8; 32],
}

/// The version of [`ConservationProof::digest`]'s layout.
pub const CONSERVATION_VERSION: u32 = 1;

/// One account's row of the digest: id, debits pending, debits posted,
/// credits pending, credits posted.
pub(crate) type Row = [u128; 5];

/// The row of an account.
pub(crate) fn row(a: &crate::types::Account) -> Row {
    [
        a.id,
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    ]
}

/// A tenant's budget from its row.
pub(crate) fn tenant_of(r: &Row) -> TenantBudget {
    let [_, debits_pending, debits_posted, _, credits_posted] = *r;
    let used = debits_pending.saturating_add(debits_posted);
    TenantBudget {
        funded: credits_posted,
        reserved: debits_pending,
        committed: debits_posted,
        remaining: credits_posted.saturating_sub(used),
    }
}

/// The proof over every account's row (any order: sorted here), the
/// operator's and the spend account's among them; `double_entry` says
/// whether the ledger's totals balance. With `tenants`, also every
/// tenant's budget, in id order.
pub(crate) fn prove(
    rows: &mut [Row],
    operator: u128,
    spend: u128,
    double_entry: bool,
    mut tenants: Option<&mut Vec<(u128, TenantBudget)>>,
) -> ConservationProof {
    use sha2::Digest as _;
    rows.sort_unstable_by_key(|r| r[0]);
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"tally/ledger/conservation/v1\0");
    let mut proof = ConservationProof {
        version: CONSERVATION_VERSION,
        tenants: 0,
        funded: Sum::default(),
        reserved: Sum::default(),
        committed: Sum::default(),
        remaining: Sum::default(),
        holds: double_entry,
        digest: [0; 32],
    };
    for r in rows.iter() {
        for v in r {
            hasher.update(v.to_le_bytes());
        }
        if r[0] == operator || r[0] == spend {
            continue;
        }
        let b = tenant_of(r);
        if let Some(list) = tenants.as_deref_mut() {
            list.push((r[0], b));
        }
        proof.tenants = proof.tenants.saturating_add(1);
        proof.funded.add(b.funded);
        proof.reserved.add(b.reserved);
        proof.committed.add(b.committed);
        proof.remaining.add(b.remaining);
        let sum = b
            .remaining
            .checked_add(b.reserved)
            .and_then(|x| x.checked_add(b.committed));
        if sum != Some(b.funded) {
            proof.holds = false;
        }
    }
    proof.digest = hasher.finalize().into();
    proof
}

/// Every tenant's budget and the conservation proof, from one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSnapshot {
    /// Every tenant with its budget, in id order.
    pub tenants: Vec<(u128, TenantBudget)>,
    /// The proof over the same state.
    pub proof: ConservationProof,
}

impl Budget {
    fn rows(&self) -> (Vec<Row>, bool) {
        (self.accounts().map(row).collect(), self.balanced())
    }

    /// Proves conservation from the current state (a consistent snapshot:
    /// the state machine is only changed by `&mut self`).
    #[must_use]
    pub fn prove_conservation(&self) -> ConservationProof {
        let (mut rows, balanced) = self.rows();
        let (operator, spend) = self.system_accounts();
        prove(&mut rows, operator, spend, balanced, None)
    }

    /// Every tenant's budget and the conservation proof (Calybris's
    /// `snapshot`).
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        let (mut rows, balanced) = self.rows();
        let mut tenants = Vec::with_capacity(rows.len());
        let (operator, spend) = self.system_accounts();
        let proof = prove(&mut rows, operator, spend, balanced, Some(&mut tenants));
        BudgetSnapshot { tenants, proof }
    }
}
