//! The ledger behind the routes: embedded (the journaled ledger of the
//! data directory, one writer) or PostgreSQL (`PgLedger`, shared by any
//! number of processes).

use std::collections::BTreeMap;

use tally_ledger::{
    Account, AccountBalance, CreateAccountResult, CreateTransferResult, NewAccount, NewTransfer,
    PendingState, Totals, Transfer,
};

use crate::embedded::Embedded;
pub use crate::embedded::LedgerFail;

/// Where the ledger lives.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The data directory's journal, one writer thread.
    Embedded(Box<Embedded>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(std::sync::Arc<PgBackend>),
}

/// The PostgreSQL ledger and the key that signs its journal's checkpoints
/// for proofs (`ledger-checkpoint.skey` in the keys directory, shared by
/// every process).
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub struct PgBackend {
    /// The ledger.
    pub ledger: tally_ledger::pg::PgLedger,
    /// The checkpoint signer.
    pub signer: tally_audit::CheckpointSigner,
}

#[cfg(feature = "postgres")]
impl std::ops::Deref for PgBackend {
    type Target = tally_ledger::pg::PgLedger;

    fn deref(&self) -> &Self::Target {
        &self.ledger
    }
}

#[cfg(feature = "postgres")]
fn pg_fail(e: &tally_ledger::pg::PgError) -> LedgerFail {
    match e {
        tally_ledger::pg::PgError::Batch(b) => LedgerFail::Batch(*b),
        _ => LedgerFail::Unavailable,
    }
}

impl Backend {
    /// Creates accounts.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn create_accounts(
        &self,
        events: Vec<NewAccount>,
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.create_accounts(events, now).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p
                .create_accounts(&events, now)
                .await
                .map_err(|e| pg_fail(&e)),
        }
    }

    /// Creates transfers.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn create_transfers(
        &self,
        events: Vec<NewTransfer>,
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.create_transfers(events, now).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p
                .create_transfers(&events, now)
                .await
                .map_err(|e| pg_fail(&e)),
        }
    }

    /// An account.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn account(&self, id: u128) -> Result<Option<Account>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.account(id).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p.account(id).await.map_err(|e| pg_fail(&e)),
        }
    }

    /// The accounts of `ids` that exist (at most a batch's worth of ids).
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn accounts(&self, ids: Vec<u128>) -> Result<Vec<Account>, LedgerFail> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Embedded(e) => e.accounts(ids).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p.accounts(&ids).await.map_err(|e| pg_fail(&e)),
        }
    }

    /// A transfer, with where it stands if pending.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn transfer(
        &self,
        id: u128,
    ) -> Result<Option<(Transfer, Option<PendingState>)>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.transfer(id).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => {
                let Some(t) = p.transfer(id).await.map_err(|e| pg_fail(&e))? else {
                    return Ok(None);
                };
                let state = p.pending_state(id).await.map_err(|e| pg_fail(&e))?;
                Ok(Some((t, state)))
            }
        }
    }

    /// [`Backend::transfer`] without waiting for durability (embedded; see
    /// [`crate::embedded::Embedded::transfer_unsynced`] for when that is
    /// right); on PostgreSQL a read is of committed rows anyway.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn transfer_unsynced(
        &self,
        id: u128,
    ) -> Result<Option<(Transfer, Option<PendingState>)>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.transfer_unsynced(id).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => self.transfer(id).await,
        }
    }

    /// An account's transfers and balances after each (oldest first).
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn history(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Transfer>, Vec<AccountBalance>), LedgerFail> {
        match self {
            Self::Embedded(e) => e.history(account, after, limit).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => {
                let t = p
                    .account_transfers(account, after, limit)
                    .await
                    .map_err(|e| pg_fail(&e))?;
                let b = p
                    .account_balances(account, after, limit)
                    .await
                    .map_err(|e| pg_fail(&e))?;
                Ok((t, b))
            }
        }
    }

    /// The double-entry totals per ledger.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn totals(&self) -> Result<BTreeMap<u32, Totals>, LedgerFail> {
        match self {
            Self::Embedded(e) => e.totals().await,
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => p.totals().await.map_err(|e| pg_fail(&e)),
        }
    }

    /// A transfer's inclusion proof as JSON: embedded, a tally-audit
    /// proof of the journal line (`tally ledger verify-proof`); on
    /// PostgreSQL, a [`tally_ledger::pg::PgInclusionProof`] of the journal
    /// row under a checkpoint signed by the keys directory's ledger
    /// checkpoint key. `Ok(None)` when no journal record created it.
    ///
    /// # Errors
    /// [`LedgerFail::Indexing`] while the embedded index is built;
    /// [`LedgerFail::Unavailable`] when the journal cannot prove.
    pub async fn prove(&self, id: u128) -> Result<Option<String>, LedgerFail> {
        match self {
            Self::Embedded(e) => Ok(e.prove(id).await?.map(|p| p.to_json())),
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => match p.ledger.prove(id, &p.signer).await {
                Ok(proof) => Ok(proof.map(|p| p.to_json())),
                Err(e) => {
                    tracing::error!(error = %e, "a PostgreSQL journal proof failed");
                    Err(pg_fail(&e))
                }
            },
        }
    }

    /// Whether storage is healthy (a cause for `/readyz` when not).
    pub async fn check(&self) -> Option<&'static str> {
        match self {
            Self::Embedded(e) => {
                if e.is_poisoned() {
                    Some("journal_poisoned")
                } else if e.queue_used_percent() >= 90 {
                    Some("backpressure")
                } else {
                    None
                }
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(p) => {
                let ping = sqlx::query("SELECT 1").execute(p.pool());
                match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
                    Ok(Ok(_)) => None,
                    _ => Some("dep_outage"),
                }
            }
        }
    }
}
