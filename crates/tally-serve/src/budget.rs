//! Budgets (Calybris's API: tenants, top-up, reserve, commit, release, a
//! tenant's view) as ledger transfers through the store, so they are as
//! durable as the ledger (journal or PostgreSQL) and shared by every
//! process; the mapping is `tally_ledger::budget`'s:
//!
//! | operation | on the ledger (ledger [`BUDGET_LEDGER`]) |
//! |---|---|
//! | open a tenant | an account that may not overdraw, funded from the operator's |
//! | top-up | a funding transfer from the operator's account |
//! | reserve | a pending transfer to the spend account, with a timeout |
//! | commit (actual) | post (partially: the rest released); an overrun is a second transfer linked to the post |
//! | release | void |
//! | view | credits posted (funded), debits pending (reserved), debits posted (committed) |
//!
//! Ids are the service's (top bit set; the ledger routes refuse such ids,
//! so nothing there can touch a budget): a tenant's account and its
//! funding and reservation transfers are SHA-256 of the tenant and the
//! client's id, tagged by role in the top byte; a commit, overrun and
//! release derive from the reservation's id (its top byte replaced), so
//! each is idempotent on its own, and a tenant can only name its own
//! reservations.

use sha2::{Digest, Sha256};
use tally_ledger::{
    AccountFlags, CreateAccountResult as AR, CreateTransferResult as TR, NewAccount, NewTransfer,
    PendingState, TransferFlags,
};

use crate::backend::{Backend, LedgerFail};

/// The ledger budgets live on.
pub const BUDGET_LEDGER: u32 = 0x4255_4447;
/// The account code of budget accounts.
pub const ACCOUNT_CODE: u16 = 1;
/// Transfer codes: funding, reservation, overrun (as `tally_ledger::budget`).
pub const FUND_CODE: u16 = 1;
/// A reservation (and its post or void).
pub const RESERVE_CODE: u16 = 2;
/// The part of a commit beyond its reservation.
pub const OVERRUN_CODE: u16 = 3;

const TAG_RESERVATION: u8 = 0x80;
const TAG_TENANT: u8 = 0x81;
const TAG_FUNDING: u8 = 0x82;
const TAG_SERVICE: u8 = 0x83;
const TAG_OWNER: u8 = 0x84;
const TAG_COMMIT: u8 = 0xc1;
const TAG_OVERRUN: u8 = 0xc2;
const TAG_RELEASE: u8 = 0xc3;

/// The first id of the service's range: ledger routes take ids below it.
pub const SERVICE_IDS_FROM: u128 = 1 << 127;

/// The operator's account (funds every tenant; may go negative).
pub const OPERATOR: u128 = (TAG_SERVICE as u128) << 120 | 1;
/// The spend account (receives every commit).
pub const SPEND: u128 = (TAG_SERVICE as u128) << 120 | 2;

fn tagged(tag: u8, tenant: &str, client_id: Option<u128>) -> u128 {
    let mut h = Sha256::new();
    h.update(b"tally/serve/budget/v1");
    h.update([tag]);
    h.update(
        u64::try_from(tenant.len())
            .unwrap_or(u64::MAX)
            .to_be_bytes(),
    );
    h.update(tenant.as_bytes());
    if let Some(id) = client_id {
        h.update(id.to_be_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    (u128::from_be_bytes(first) & (u128::MAX >> 8)) | (u128::from(tag) << 120)
}

fn derived(reservation: u128, tag: u8) -> u128 {
    (reservation & (u128::MAX >> 8)) | (u128::from(tag) << 120)
}

/// A tenant's account id.
#[must_use]
pub fn tenant_account(tenant: &str) -> u128 {
    tagged(TAG_TENANT, tenant, None)
}

/// The owner tag a tenant's ledger accounts carry (see [`crate::tenancy`]):
/// never 0 (the tag is in the top byte).
#[must_use]
pub fn owner_tag(tenant: &str) -> u128 {
    tagged(TAG_OWNER, tenant, None)
}

/// A tenant's reservation's transfer id.
#[must_use]
pub fn reservation_id(tenant: &str, client_id: u128) -> u128 {
    tagged(TAG_RESERVATION, tenant, Some(client_id))
}

/// A budget operation's outcome: a ledger result name (`ok`, `exists`,
/// `exceeds_credits`, …) or one of the budget's own (`already_committed`,
/// `unknown_reservation`, `overrun_exceeds_credits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The name.
    pub result: &'static str,
    /// Whether the operation took effect (now or before).
    pub done: bool,
}

fn outcome(r: TR) -> Outcome {
    Outcome {
        result: r.as_str(),
        done: matches!(r, TR::Ok | TR::Exists),
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128, code: u16) -> NewTransfer {
    NewTransfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: BUDGET_LEDGER,
        code,
        ..NewTransfer::default()
    }
}

fn account(id: u128, flags: AccountFlags) -> NewAccount {
    NewAccount {
        id,
        ledger: BUDGET_LEDGER,
        code: ACCOUNT_CODE,
        flags,
        ..NewAccount::default()
    }
}

async fn one(backend: &Backend, t: NewTransfer, now: u64) -> Result<TR, LedgerFail> {
    let results = backend.create_transfers(vec![t], now).await?;
    results.first().copied().ok_or(LedgerFail::Unavailable)
}

/// Creates the operator's and the spend account (once; `exists` after).
///
/// # Errors
/// [`LedgerFail`].
pub async fn init(backend: &Backend, now: u64) -> Result<(), LedgerFail> {
    let accounts = vec![
        account(OPERATOR, AccountFlags::empty()),
        account(SPEND, AccountFlags::empty()),
    ];
    let results = backend.create_accounts(accounts, now).await?;
    if results.iter().all(|r| matches!(r, AR::Ok | AR::Exists)) {
        Ok(())
    } else {
        Err(LedgerFail::Unavailable)
    }
}

/// Opens a tenant (idempotent), funded with `initial` by transfer `funding_id`.
///
/// # Errors
/// [`LedgerFail`].
pub async fn open(
    backend: &Backend,
    tenant: &str,
    initial: u128,
    funding_id: u128,
    now: u64,
) -> Result<Outcome, LedgerFail> {
    let a = account(
        tenant_account(tenant),
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    let r = backend.create_accounts(vec![a], now).await?;
    match r.first() {
        Some(AR::Ok | AR::Exists) => {}
        Some(other) => {
            return Ok(Outcome {
                result: other.as_str(),
                done: false,
            });
        }
        None => return Err(LedgerFail::Unavailable),
    }
    if initial == 0 {
        return Ok(Outcome {
            result: "ok",
            done: true,
        });
    }
    top_up(backend, tenant, initial, funding_id, now).await
}

/// Adds `amount` to a tenant's budget (transfer `funding_id`, idempotent).
///
/// # Errors
/// [`LedgerFail`].
pub async fn top_up(
    backend: &Backend,
    tenant: &str,
    amount: u128,
    funding_id: u128,
    now: u64,
) -> Result<Outcome, LedgerFail> {
    let t = transfer(
        tagged(TAG_FUNDING, tenant, Some(funding_id)),
        OPERATOR,
        tenant_account(tenant),
        amount,
        FUND_CODE,
    );
    Ok(outcome(one(backend, t, now).await?))
}

/// Reserves `amount` under the client's `reservation` id, released after
/// `timeout_s` (0: never) unless committed or released first.
///
/// # Errors
/// [`LedgerFail`].
pub async fn reserve(
    backend: &Backend,
    tenant: &str,
    reservation: u128,
    amount: u128,
    timeout_s: u32,
    now: u64,
) -> Result<Outcome, LedgerFail> {
    let t = NewTransfer {
        flags: TransferFlags::PENDING,
        timeout: timeout_s,
        ..transfer(
            reservation_id(tenant, reservation),
            tenant_account(tenant),
            SPEND,
            amount,
            RESERVE_CODE,
        )
    };
    Ok(outcome(one(backend, t, now).await?))
}

/// Commits a reservation for `actual` (idempotent): at most the reserved
/// amount posts `actual` and releases the rest (0 releases all); more
/// posts the reservation and the overrun as one linked chain, only if the
/// tenant has the overrun.
///
/// # Errors
/// [`LedgerFail`].
pub async fn commit(
    backend: &Backend,
    tenant: &str,
    reservation: u128,
    actual: u128,
    now: u64,
) -> Result<Outcome, LedgerFail> {
    let id = reservation_id(tenant, reservation);
    // Not waiting for durability: every answer below either follows a
    // write journaled after what this read saw (durable only once that
    // is), or reads again with the durable read first.
    let Some((held, state)) = backend.transfer_unsynced(id).await? else {
        return Ok(Outcome {
            result: "unknown_reservation",
            done: false,
        });
    };
    let post_id = derived(id, TAG_COMMIT);
    if matches!(state, Some(PendingState::Posted(_))) && backend.transfer(post_id).await?.is_some()
    {
        return Ok(Outcome {
            result: "already_committed",
            done: true,
        });
    }
    let post = |amount, flags| NewTransfer {
        id: post_id,
        pending_id: id,
        amount,
        flags,
        ..NewTransfer::default()
    };
    if actual == 0 {
        return void(backend, id, now).await;
    }
    if actual <= held.amount {
        let r = one(
            backend,
            post(actual, TransferFlags::POST_PENDING_TRANSFER),
            now,
        )
        .await?;
        return Ok(outcome(r));
    }
    let overrun = actual.saturating_sub(held.amount);
    // Checked first so that a refused overrun leaves no failed id behind
    // (the linked chain still applies both or neither).
    let remaining = view(backend, tenant).await?.map_or(0, |v| v.remaining);
    if overrun > remaining {
        return Ok(Outcome {
            result: "overrun_exceeds_credits",
            done: false,
        });
    }
    let events = vec![
        post(
            held.amount,
            TransferFlags::POST_PENDING_TRANSFER | TransferFlags::LINKED,
        ),
        transfer(
            derived(id, TAG_OVERRUN),
            held.debit_account_id,
            SPEND,
            overrun,
            OVERRUN_CODE,
        ),
    ];
    let results = backend.create_transfers(events, now).await?;
    Ok(match results.as_slice() {
        [TR::Ok, TR::Ok] => outcome(TR::Ok),
        [_, TR::ExceedsCredits] => Outcome {
            result: "overrun_exceeds_credits",
            done: false,
        },
        [TR::LinkedEventFailed, r] | [r, _] => outcome(*r),
        _ => outcome(TR::LinkedEventFailed),
    })
}

/// Releases a reservation (all of it; idempotent).
///
/// # Errors
/// [`LedgerFail`].
pub async fn release(
    backend: &Backend,
    tenant: &str,
    reservation: u128,
    now: u64,
) -> Result<Outcome, LedgerFail> {
    let id = reservation_id(tenant, reservation);
    // Absent: an acknowledged reservation is durable, so visible to this
    // read; present: the void below is journaled after it.
    if backend.transfer_unsynced(id).await?.is_none() {
        return Ok(Outcome {
            result: "unknown_reservation",
            done: false,
        });
    }
    void(backend, id, now).await
}

/// Voids reservation `id` (idempotent: its void's id is derived).
async fn void(backend: &Backend, id: u128, now: u64) -> Result<Outcome, LedgerFail> {
    let t = NewTransfer {
        id: derived(id, TAG_RELEASE),
        pending_id: id,
        flags: TransferFlags::VOID_PENDING_TRANSFER,
        ..NewTransfer::default()
    };
    Ok(outcome(one(backend, t, now).await?))
}

/// A tenant's budget: `remaining + reserved + committed == funded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Initial plus top-ups.
    pub funded: u128,
    /// Held by live reservations (expired ones are released by the next write).
    pub reserved: u128,
    /// Committed (spent).
    pub committed: u128,
    /// What can still be reserved.
    pub remaining: u128,
}

/// A tenant's budget, `None` for a tenant never opened.
///
/// # Errors
/// [`LedgerFail`].
pub async fn view(backend: &Backend, tenant: &str) -> Result<Option<View>, LedgerFail> {
    let Some(a) = backend.account(tenant_account(tenant)).await? else {
        return Ok(None);
    };
    let spent = a
        .debits_pending
        .checked_add(a.debits_posted)
        .ok_or(LedgerFail::Unavailable)?;
    Ok(Some(View {
        funded: a.credits_posted,
        reserved: a.debits_pending,
        committed: a.debits_posted,
        // The account may not overdraw: the ledger keeps spent ≤ funded.
        remaining: a
            .credits_posted
            .checked_sub(spent)
            .ok_or(LedgerFail::Unavailable)?,
    }))
}
