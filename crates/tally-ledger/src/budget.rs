//! Calybris Core's budget API, on the ledger.
//!
//! | `BudgetEngine` (Calybris) | one thread | many threads | on the ledger |
//! |---|---|---|---|
//! | `BudgetEngine::new()` | [`Budget::new`] | [`SharedBudget::new`], [`SharedBudget::with_shards`] | the operator's and the spend account (in every shard) |
//! | `ensure_tenant` / `open_tenant(initial)` | [`Budget::open_tenant`] | [`SharedBudget::open_tenant`] | an account that may not overdraw, funded from the operator's account |
//! | `top_up_tenant` | [`Budget::top_up`] | [`SharedBudget::top_up`] | another funding transfer |
//! | `try_reserve` | [`Budget::try_reserve`] | [`SharedBudget::try_reserve`] | a pending transfer to the spend account, with a timeout |
//! | `commit(actual)` | [`Budget::commit`] | [`SharedBudget::commit`] | post (partially: the rest released); an overrun is a second transfer linked to the post, so both apply or neither |
//! | `release` | [`Budget::release`] | [`SharedBudget::release`] | void |
//! | (holds never expire) | [`Budget::expire`], a reservation's timeout | [`SharedBudget::expire`] | the pending transfer's timeout |
//! | `set_max_reserved_microcents` (per tenant) | the `cap` of [`Budget::new`] (one for every tenant) | the `cap` of [`SharedBudget::new`] | checked before the pending transfer |
//! | `remaining_` / `reserved_` / `committed_` / `initial_microcents` | [`Budget::tenant`] | [`SharedBudget::tenant`] | credits posted, debits pending and posted |
//! | `snapshot` | [`Budget::snapshot`] | [`SharedBudget::snapshot`] | every tenant's balances, with the proof |
//! | `prove_conservation` / `verify_conservation` | [`Budget::prove_conservation`] | [`SharedBudget::prove_conservation`] (a linearizable snapshot: every shard locked at once) | totals and a canonical digest, the same for the same balances in both |
//! | six global mutexes | `&mut self` | tenants hashed to locked shards, reservation ids to locked directory slots: threads on tenants of different shards do not wait for each other ([`crate::locks`]) | |
//!
//! [`SharedBudget`]: crate::shared::SharedBudget
//! [`SharedBudget::new`]: crate::shared::SharedBudget::new
//! [`SharedBudget::with_shards`]: crate::shared::SharedBudget::with_shards
//! [`SharedBudget::open_tenant`]: crate::shared::SharedBudget::open_tenant
//! [`SharedBudget::top_up`]: crate::shared::SharedBudget::top_up
//! [`SharedBudget::try_reserve`]: crate::shared::SharedBudget::try_reserve
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

use crate::result::{CreateAccountResult as AR, CreateTransferResult as TR};
use crate::state::{BatchError, Ledger, Sum};
use crate::types::{AccountFlags, NewAccount, NewTransfer, PendingState, TransferFlags};

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

/// Budgets of tenants on one ledger of a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Budget {
    ledger: Ledger,
    ledger_id: u32,
    operator: u128,
    spend: u128,
    cap: Option<u128>,
}

/// The id of a transfer derived from a reservation (so that a commit or a
/// release is idempotent): the reservation id with its top bits replaced by
/// `tag`, so that the ids of the three roles never meet. Reservation ids are
/// the client's and must leave the top byte 0.
fn derived(reservation: u128, tag: u8) -> u128 {
    (reservation & (u128::MAX >> 8)) | (u128::from(tag) << 120)
}

const TAG_COMMIT: u8 = 0xc1;
const TAG_OVERRUN: u8 = 0xc2;
const TAG_RELEASE: u8 = 0xc3;

impl Budget {
    /// Budgets on ledger `ledger_id`, funded by the operator account
    /// `operator`, spending into `spend` (both created here), with an
    /// optional cap on each tenant's total reserved.
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
        let mut ledger = Ledger::new();
        let account = |id| NewAccount {
            id,
            ledger: ledger_id,
            code: TENANT_CODE,
            ..NewAccount::default()
        };
        let results = ledger
            .create_accounts(&[account(operator), account(spend)], now)
            .map_err(BudgetError::Batch)?;
        if let Some(r) = results.into_iter().find(|r| *r != AR::Ok) {
            return Err(BudgetError::Account(r));
        }
        Ok(Self {
            ledger,
            ledger_id,
            operator,
            spend,
            cap,
        })
    }

    /// The ledger underneath (for queries and proofs).
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn one(&mut self, t: NewTransfer, now: u64) -> Result<TR, BudgetError> {
        self.ledger
            .create_transfer_one(&t, now)
            .map_err(BudgetError::Batch)
    }

    fn transfer(
        &self,
        id: u128,
        debit: u128,
        credit: u128,
        amount: u128,
        code: u16,
    ) -> NewTransfer {
        NewTransfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            ledger: self.ledger_id,
            code,
            ..NewTransfer::default()
        }
    }

    /// Opens a tenant with `initial` units (funding transfer `funding_id`).
    ///
    /// # Errors
    /// [`BudgetError::Account`], [`BudgetError::Transfer`].
    pub fn open_tenant(
        &mut self,
        tenant: u128,
        initial: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        let account = NewAccount {
            id: tenant,
            ledger: self.ledger_id,
            code: TENANT_CODE,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::LINKED,
            ..NewAccount::default()
        };
        // The account and its funding in one linked step of two batches is
        // not possible (two kinds of event): the account first, then the
        // funding; a failed funding leaves an empty tenant, never a funded
        // one without its account.
        let results = self
            .ledger
            .create_accounts(
                &[NewAccount {
                    flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    ..account
                }],
                now,
            )
            .map_err(BudgetError::Batch)?;
        match results.first() {
            Some(AR::Ok) => {}
            Some(r) => return Err(BudgetError::Account(*r)),
            None => {}
        }
        if initial > 0 {
            self.top_up(tenant, initial, funding_id, now)?;
        }
        Ok(())
    }

    /// Adds `amount` to a tenant's budget (transfer `funding_id`).
    ///
    /// # Errors
    /// [`BudgetError::Transfer`].
    pub fn top_up(
        &mut self,
        tenant: u128,
        amount: u128,
        funding_id: u128,
        now: u64,
    ) -> Result<(), BudgetError> {
        let t = self.transfer(funding_id, self.operator, tenant, amount, FUND_CODE);
        match self.one(t, now)? {
            TR::Ok => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Reserves `amount` of a tenant's budget under `reservation` (the
    /// client's id: top byte 0), released at `timeout_seconds` (0: never)
    /// unless committed or released first.
    ///
    /// # Errors
    /// [`BudgetError::OverCap`], [`BudgetError::Transfer`] (`exceeds_credits`
    /// when the tenant lacks it, `exists` for a reservation made before).
    pub fn try_reserve(
        &mut self,
        tenant: u128,
        amount: u128,
        reservation: u128,
        timeout_seconds: u32,
        now: u64,
    ) -> Result<(), BudgetError> {
        if reservation >> 120 != 0 {
            return Err(BudgetError::Transfer(TR::IdMustNotBeIntMax));
        }
        // The cap is checked against the holds live at `now`.
        self.ledger.expire(now);
        if let Some(cap) = self.cap
            && let Some(b) = self.tenant(tenant)
            && b.reserved.checked_add(amount).is_none_or(|r| r > cap)
        {
            return Err(BudgetError::OverCap {
                cap,
                reserved: b.reserved,
            });
        }
        let t = NewTransfer {
            flags: TransferFlags::PENDING,
            timeout: timeout_seconds,
            ..self.transfer(reservation, tenant, self.spend, amount, RESERVE_CODE)
        };
        match self.one(t, now)? {
            TR::Ok => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Commits a reservation for `actual`: less than reserved posts `actual`
    /// and releases the rest; more posts the reservation and the overrun
    /// together, only if the tenant has the overrun (else nothing changes).
    /// Idempotent.
    ///
    /// # Errors
    /// [`BudgetError::Overrun`], [`BudgetError::UnknownReservation`],
    /// [`BudgetError::Transfer`] (`pending_transfer_expired`, `…_voided`).
    pub fn commit(
        &mut self,
        reservation: u128,
        actual: u128,
        now: u64,
    ) -> Result<Committed, BudgetError> {
        // An overrun is checked against the holds live at `now`.
        self.ledger.expire(now);
        let Some(held) = self.ledger.transfer(reservation).copied() else {
            return Err(BudgetError::UnknownReservation);
        };
        let post_id = derived(reservation, TAG_COMMIT);
        if let Some(PendingState::Posted(_)) = self.ledger.pending_state(reservation)
            && self.ledger.transfer(post_id).is_some()
        {
            return Ok(Committed::Already);
        }
        let post = |amount| NewTransfer {
            id: post_id,
            pending_id: reservation,
            amount,
            flags: TransferFlags::POST_PENDING_TRANSFER,
            ..NewTransfer::default()
        };
        if actual <= held.amount {
            // 0 would mean "all of it" to the ledger: commit 0 is a release.
            if actual == 0 {
                self.release(reservation, now)?;
                return Ok(Committed::Now(0));
            }
            return match self.one(post(actual), now)? {
                TR::Ok => Ok(Committed::Now(actual)),
                r => Err(BudgetError::Transfer(r)),
            };
        }
        let overrun = actual - held.amount;
        // Checked before submitting, so that a refused overrun leaves no
        // failed id behind (a later commit within means must not meet
        // `id_already_failed`); the linked chain still applies both
        // transfers or neither.
        let remaining = self
            .tenant(held.debit_account_id)
            .map_or(0, |t| t.remaining);
        if overrun > remaining {
            return Err(BudgetError::Overrun { overrun });
        }
        let events = [
            NewTransfer {
                flags: TransferFlags::POST_PENDING_TRANSFER | TransferFlags::LINKED,
                ..post(held.amount)
            },
            self.transfer(
                derived(reservation, TAG_OVERRUN),
                held.debit_account_id,
                self.spend,
                overrun,
                OVERRUN_CODE,
            ),
        ];
        let results = self
            .ledger
            .create_transfers(&events, now)
            .map_err(BudgetError::Batch)?;
        match results.as_slice() {
            [TR::Ok, TR::Ok] => Ok(Committed::Now(actual)),
            [_, TR::ExceedsCredits] => Err(BudgetError::Overrun { overrun }),
            [TR::LinkedEventFailed, r] | [r, _] => Err(BudgetError::Transfer(*r)),
            _ => Err(BudgetError::Transfer(TR::LinkedEventFailed)),
        }
    }

    /// Releases a reservation (all of it). Idempotent.
    ///
    /// # Errors
    /// [`BudgetError::UnknownReservation`], [`BudgetError::Transfer`]
    /// (`pending_transfer_already_posted`, `…_expired`).
    pub fn release(&mut self, reservation: u128, now: u64) -> Result<(), BudgetError> {
        if self.ledger.transfer(reservation).is_none() {
            return Err(BudgetError::UnknownReservation);
        }
        let t = NewTransfer {
            id: derived(reservation, TAG_RELEASE),
            pending_id: reservation,
            flags: TransferFlags::VOID_PENDING_TRANSFER,
            ..NewTransfer::default()
        };
        match self.one(t, now)? {
            TR::Ok | TR::Exists => Ok(()),
            r => Err(BudgetError::Transfer(r)),
        }
    }

    /// Releases every reservation whose timeout has passed at `now`.
    pub fn expire(&mut self, now: u64) {
        self.ledger.expire(now);
    }

    /// A tenant's budget.
    #[must_use]
    pub fn tenant(&self, tenant: u128) -> Option<TenantBudget> {
        self.ledger.account(tenant).map(|a| tenant_of(&row(a)))
    }
}

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
        let rows = self.ledger.accounts().map(row).collect();
        let balanced = self
            .ledger
            .totals()
            .values()
            .all(crate::state::Totals::balanced);
        (rows, balanced)
    }

    /// Proves conservation from the current state (a consistent snapshot:
    /// the state machine is only changed by `&mut self`).
    #[must_use]
    pub fn prove_conservation(&self) -> ConservationProof {
        let (mut rows, balanced) = self.rows();
        prove(&mut rows, self.operator, self.spend, balanced, None)
    }

    /// Every tenant's budget and the conservation proof (Calybris's
    /// `snapshot`).
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        let (mut rows, balanced) = self.rows();
        let mut tenants = Vec::with_capacity(rows.len());
        let proof = prove(
            &mut rows,
            self.operator,
            self.spend,
            balanced,
            Some(&mut tenants),
        );
        BudgetSnapshot { tenants, proof }
    }

    /// The operator's and the spend account's ids.
    pub(crate) fn system_accounts(&self) -> (u128, u128) {
        (self.operator, self.spend)
    }
}
