//! Who owns what on the ledger routes.
//!
//! Every ledger account created through the API belongs to the tenant of
//! the token that created it: the service stamps the account's
//! `user_data_128` with the tenant's [`Owner`] tag (SHA-256 of the tenant's
//! name, tagged; never 0), and a request cannot set that field. The owner
//! is part of the account record itself, so it is journaled and
//! snapshotted with the account (embedded) or stored in its row
//! (PostgreSQL): it survives restart and replay, is the same in both
//! backends, and there is no second store to keep in step with the ledger.
//!
//! | route | a token of tenant T reaches |
//! |---|---|
//! | create accounts | always; every account is stamped T's |
//! | create transfers | a batch whose every event debits T: its debit account exists and is T's, or, for a post or void, the pending transfer exists and debits an account of T; else the whole batch is refused (403 naming the first such event) |
//! | account, history | T's accounts |
//! | transfer, proof | transfers that debit or credit an account of T |
//!
//! Crediting another tenant's account is a payment: allowed (the ledger
//! still requires both accounts on one ledger). A token with the `admin`
//! scope reaches everything (and stamps its own tenant, `admin` unless it
//! names one). A record out of reach answers 404 exactly as an id that does
//! not exist, and an unknown debit account is refused exactly as another
//! tenant's, so that a tenant cannot probe another's ids through these
//! routes.
//!
//! The checks read facts that never change once they exist (an account's
//! owner, a transfer's debit account), so a check made before the batch is
//! applied holds when it is applied, whatever other requests (on this
//! process or another over the same PostgreSQL) do in between. For the
//! same reason a post or void of a pending transfer created in the same
//! batch is refused: when the batch is checked that transfer does not exist
//! yet, and if its creation then failed (its id taken), the post would
//! reach whatever transfer holds the id.

use tally_ledger::{Account, NewTransfer, PendingState, Transfer, TransferFlags};

use crate::auth::{Principal, Scope, Tenant};
use crate::backend::{Backend, LedgerFail};

/// The owner tag of a tenant's ledger accounts (their `user_data_128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner(u128);

impl Owner {
    /// The tag of `tenant`.
    #[must_use]
    pub fn of(tenant: &Tenant) -> Self {
        Self(crate::budget::owner_tag(tenant.as_str()))
    }

    /// The value stored in an account's `user_data_128`.
    #[must_use]
    pub const fn tag(self) -> u128 {
        self.0
    }

    /// Whether `account` is this owner's.
    #[must_use]
    pub fn owns(self, account: &Account) -> bool {
        account.user_data_128 == self.0
    }
}

/// What a principal reaches on the ledger routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Everything (a token with the `admin` scope).
    Everything,
    /// The accounts of one owner and the transfers touching them.
    Own(Owner),
}

impl Reach {
    /// The reach of `principal`.
    #[must_use]
    pub fn of(principal: &Principal) -> Self {
        if principal.scopes.contains(&Scope::Admin) {
            Self::Everything
        } else {
            Self::Own(Owner::of(&principal.tenant))
        }
    }

    /// Whether `account` is in reach.
    #[must_use]
    pub fn account(self, account: &Account) -> bool {
        match self {
            Self::Everything => true,
            Self::Own(owner) => owner.owns(account),
        }
    }
}

/// Account `id` if it exists and is in reach.
///
/// # Errors
/// [`LedgerFail`].
pub async fn account(
    backend: &Backend,
    reach: Reach,
    id: u128,
) -> Result<Option<Account>, LedgerFail> {
    Ok(backend.account(id).await?.filter(|a| reach.account(a)))
}

/// Transfer `id` (and where it stands if pending) if it exists and debits
/// or credits an account in reach.
///
/// # Errors
/// [`LedgerFail`].
pub async fn transfer(
    backend: &Backend,
    reach: Reach,
    id: u128,
) -> Result<Option<(Transfer, Option<PendingState>)>, LedgerFail> {
    let Some((t, state)) = backend.transfer(id).await? else {
        return Ok(None);
    };
    if reach == Reach::Everything {
        return Ok(Some((t, state)));
    }
    let sides = backend
        .accounts(vec![t.debit_account_id, t.credit_account_id])
        .await?;
    Ok(sides.iter().any(|a| reach.account(a)).then_some((t, state)))
}

fn posts_or_voids(e: &NewTransfer) -> bool {
    e.flags.contains(TransferFlags::POST_PENDING_TRANSFER)
        || e.flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
}

/// The index of the first event of `events` whose debit side is out of
/// reach (see the module documentation), `None` when every event's is in
/// reach.
///
/// # Errors
/// [`LedgerFail`].
pub async fn first_foreign_debit(
    backend: &Backend,
    reach: Reach,
    events: &[NewTransfer],
) -> Result<Option<usize>, LedgerFail> {
    if reach == Reach::Everything {
        return Ok(None);
    }
    // The account each event debits: its own, or its pending transfer's.
    let mut debits: Vec<Option<u128>> = Vec::with_capacity(events.len());
    for e in events {
        if posts_or_voids(e) {
            let pending = backend.transfer(e.pending_id).await?;
            debits.push(pending.map(|(p, _)| p.debit_account_id));
        } else {
            debits.push(Some(e.debit_account_id));
        }
    }
    let mut ids: Vec<u128> = debits.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut owned: Vec<u128> = backend
        .accounts(ids)
        .await?
        .iter()
        .filter(|a| reach.account(a))
        .map(|a| a.id)
        .collect();
    owned.sort_unstable();
    Ok(debits
        .iter()
        .position(|d| d.is_none_or(|id| owned.binary_search(&id).is_err())))
}
