//! The budget as it was first written: every operation a transfer on a
//! [`Ledger`] (a pending transfer per reservation, a post or a void per
//! commit or release, a linked overrun). Kept here, unchanged but for the
//! rule that funding ids leave the top byte 0 (as reservation ids always
//! did), as the reference the compact [`Budget`](tally_ledger::budget::Budget)
//! is checked against operation by operation (`budget.rs`).

use tally_ledger::budget::{
    BudgetError, Committed, FUND_CODE, OVERRUN_CODE, RESERVE_CODE, TENANT_CODE, TenantBudget,
};
use tally_ledger::{
    AccountFlags, CreateAccountResult as AR, CreateTransferResult as TR, Ledger, NewAccount,
    NewTransfer, PendingState, TransferFlags,
};

/// The reference budget.
#[derive(Debug, Clone)]
pub struct RefBudget {
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

impl RefBudget {
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
        // The one change from the first version: funding ids are the
        // client's, like reservation ids, and leave the top byte 0.
        if funding_id >> 120 != 0 {
            return Err(BudgetError::Transfer(TR::IdMustNotBeIntMax));
        }
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
        let Some(held) = self.ledger.transfer(reservation) else {
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
        self.ledger.account(tenant).map(|a| {
            let used = a.debits_pending.saturating_add(a.debits_posted);
            TenantBudget {
                funded: a.credits_posted,
                reserved: a.debits_pending,
                committed: a.debits_posted,
                remaining: a.credits_posted.saturating_sub(used),
            }
        })
    }
}
