//! One interface over the ledger's homes, so that one conformance suite
//! runs against each: [`MemoryStore`] (the in-process state machine behind
//! a mutex) and, with the `postgres` feature, [`crate::pg::PgLedger`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use crate::result::{CreateAccountResult, CreateTransferResult};
use crate::state::{BatchError, Ledger, Totals};
use crate::types::{Account, AccountBalance, NewAccount, NewTransfer, PendingState, Transfer};

/// Why a store refused a batch or failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The batch was refused whole (nothing applied).
    Batch(BatchError),
    /// The store failed (nothing applied by this call).
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Batch(e) => e.fmt(f),
            Self::Backend(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// The batch error, when the batch was refused whole.
    #[must_use]
    pub fn batch(&self) -> Option<BatchError> {
        match self {
            Self::Batch(e) => Some(*e),
            Self::Backend(_) => None,
        }
    }
}

/// A ledger store: the state machine's operations and queries, async so a
/// database can sit behind them. Every implementation gives the same
/// results for the same calls (the conformance suite checks it).
pub trait LedgerStore: Send + Sync {
    /// [`Ledger::create_accounts`].
    fn create_accounts(
        &self,
        events: &[NewAccount],
        now: u64,
    ) -> impl Future<Output = Result<Vec<CreateAccountResult>, StoreError>> + Send;
    /// [`Ledger::create_transfers`] (with no events: expires what is due).
    fn create_transfers(
        &self,
        events: &[NewTransfer],
        now: u64,
    ) -> impl Future<Output = Result<Vec<CreateTransferResult>, StoreError>> + Send;
    /// [`Ledger::account`].
    fn account(&self, id: u128)
    -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
    /// [`Ledger::transfer`].
    fn transfer(
        &self,
        id: u128,
    ) -> impl Future<Output = Result<Option<Transfer>, StoreError>> + Send;
    /// [`Ledger::pending_state`].
    fn pending_state(
        &self,
        id: u128,
    ) -> impl Future<Output = Result<Option<PendingState>, StoreError>> + Send;
    /// [`Ledger::account_transfers`].
    fn account_transfers(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Transfer>, StoreError>> + Send;
    /// [`Ledger::account_balances`].
    fn account_balances(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AccountBalance>, StoreError>> + Send;
    /// [`Ledger::totals`].
    fn totals(&self) -> impl Future<Output = Result<BTreeMap<u32, Totals>, StoreError>> + Send;
    /// [`Ledger::clock`].
    fn clock(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The number of accounts and transfers ([`Ledger::len`]).
    fn counts(&self) -> impl Future<Output = Result<(usize, usize), StoreError>> + Send;
}

/// The in-process state machine as a [`LedgerStore`].
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Ledger>);

impl MemoryStore {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Result<T, StoreError> {
        let mut ledger = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("the ledger's lock is poisoned".into()))?;
        Ok(f(&mut ledger))
    }
}

impl LedgerStore for MemoryStore {
    async fn create_accounts(
        &self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, StoreError> {
        self.with(|l| l.create_accounts(events, now))?
            .map_err(StoreError::Batch)
    }

    async fn create_transfers(
        &self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, StoreError> {
        self.with(|l| l.create_transfers(events, now))?
            .map_err(StoreError::Batch)
    }

    async fn account(&self, id: u128) -> Result<Option<Account>, StoreError> {
        self.with(|l| l.account(id).copied())
    }

    async fn transfer(&self, id: u128) -> Result<Option<Transfer>, StoreError> {
        self.with(|l| l.transfer(id))
    }

    async fn pending_state(&self, id: u128) -> Result<Option<PendingState>, StoreError> {
        self.with(|l| l.pending_state(id))
    }

    async fn account_transfers(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Transfer>, StoreError> {
        self.with(|l| l.account_transfers(account, after, limit))
    }

    async fn account_balances(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        self.with(|l| l.account_balances(account, after, limit))
    }

    async fn totals(&self) -> Result<BTreeMap<u32, Totals>, StoreError> {
        self.with(|l| l.totals())
    }

    async fn clock(&self) -> Result<u64, StoreError> {
        self.with(|l| l.clock())
    }

    async fn counts(&self) -> Result<(usize, usize), StoreError> {
        self.with(|l| l.len())
    }
}

#[cfg(feature = "postgres")]
mod pg_store {
    use super::{
        Account, AccountBalance, BTreeMap, CreateAccountResult, CreateTransferResult, LedgerStore,
        NewAccount, NewTransfer, PendingState, StoreError, Totals, Transfer,
    };
    use crate::pg::{PgError, PgLedger};

    impl From<PgError> for StoreError {
        fn from(e: PgError) -> Self {
            match e {
                PgError::Batch(b) => Self::Batch(b),
                other => Self::Backend(Box::new(other)),
            }
        }
    }

    impl LedgerStore for PgLedger {
        async fn create_accounts(
            &self,
            events: &[NewAccount],
            now: u64,
        ) -> Result<Vec<CreateAccountResult>, StoreError> {
            Ok(PgLedger::create_accounts(self, events, now).await?)
        }

        async fn create_transfers(
            &self,
            events: &[NewTransfer],
            now: u64,
        ) -> Result<Vec<CreateTransferResult>, StoreError> {
            Ok(PgLedger::create_transfers(self, events, now).await?)
        }

        async fn account(&self, id: u128) -> Result<Option<Account>, StoreError> {
            Ok(PgLedger::account(self, id).await?)
        }

        async fn transfer(&self, id: u128) -> Result<Option<Transfer>, StoreError> {
            Ok(PgLedger::transfer(self, id).await?)
        }

        async fn pending_state(&self, id: u128) -> Result<Option<PendingState>, StoreError> {
            Ok(PgLedger::pending_state(self, id).await?)
        }

        async fn account_transfers(
            &self,
            account: u128,
            after: u64,
            limit: usize,
        ) -> Result<Vec<Transfer>, StoreError> {
            Ok(PgLedger::account_transfers(self, account, after, limit).await?)
        }

        async fn account_balances(
            &self,
            account: u128,
            after: u64,
            limit: usize,
        ) -> Result<Vec<AccountBalance>, StoreError> {
            Ok(PgLedger::account_balances(self, account, after, limit).await?)
        }

        async fn totals(&self) -> Result<BTreeMap<u32, Totals>, StoreError> {
            Ok(PgLedger::totals(self).await?)
        }

        async fn clock(&self) -> Result<u64, StoreError> {
            Ok(PgLedger::clock(self).await?)
        }

        async fn counts(&self) -> Result<(usize, usize), StoreError> {
            Ok(PgLedger::counts(self).await?)
        }
    }
}
