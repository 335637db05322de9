//! `tally ledger <command> postgres://… …`: the same commands on the ledger
//! in PostgreSQL (tally-ledger's `pg` module), DIR given as the database's
//! URL. Each command is one connection pool, one batch or query, and exits;
//! any number of processes may run them against one database at once.

/// The database URL a command names in place of its data directory.
pub(super) fn database(command: &super::LedgerCommand) -> Option<String> {
    use super::LedgerCommand as C;
    let dir = match command {
        C::Init { dir, .. }
        | C::Accounts { dir }
        | C::Transfers { dir }
        | C::Lookup { dir, .. }
        | C::Balance { dir, .. }
        | C::Snapshot { dir, .. }
        | C::History { dir, .. }
        | C::Verify { dir, .. }
        | C::Checkpoint { dir, .. }
        | C::Prove { dir, .. } => dir,
        _ => return None,
    };
    let text = dir.to_str()?;
    (text.starts_with("postgres://") || text.starts_with("postgresql://")).then(|| text.to_owned())
}

/// Runs one ledger command against the database at `url`.
#[cfg(not(feature = "postgres"))]
pub(super) fn run(_url: &str, _command: super::LedgerCommand) -> Result<(), super::Failure> {
    Err(super::Failure::usage(
        "a postgres:// ledger needs a `tally` built with the `postgres` feature",
    ))
}

#[cfg(feature = "postgres")]
pub(super) use with_postgres::run;

#[cfg(feature = "postgres")]
mod with_postgres {
    use std::path::Path;

    use tally_audit::NoteVerifier;
    use tally_ledger::pg::PgLedger;
    use tally_ledger::{Account, Transfer};

    use super::super::{
        AccountLine, Failure, LedgerCommand, TransferLine, account_flags, now, print_results,
        read_events, signer, transfer_flags,
    };

    fn failed(e: impl std::fmt::Display) -> Failure {
        Failure::failed(e.to_string())
    }

    /// Runs one ledger command against the database at `url`.
    pub(in super::super) fn run(url: &str, command: LedgerCommand) -> Result<(), Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(failed)?;
        runtime.block_on(dispatch(url, command))
    }

    async fn dispatch(url: &str, command: LedgerCommand) -> Result<(), Failure> {
        // Bad input is refused before the database is reached.
        let work = match command {
            LedgerCommand::Init { .. } => Work::Init,
            LedgerCommand::Accounts { .. } => Work::Accounts(accounts()?),
            LedgerCommand::Transfers { .. } => Work::Transfers(transfers()?),
            LedgerCommand::Lookup {
                id, transfer: true, ..
            } => Work::LookupTransfer(id),
            LedgerCommand::Lookup { id, .. } => Work::Lookup(id),
            LedgerCommand::Balance { id, .. } => Work::Balance(id),
            LedgerCommand::History { id, limit, .. } => Work::History(id, limit),
            LedgerCommand::Verify { vkey, .. } => Work::Verify(
                vkey.map(|v| {
                    NoteVerifier::parse(&v)
                        .map(Box::new)
                        .map_err(|e| Failure::usage(format!("--vkey: {e}")))
                })
                .transpose()?,
            ),
            LedgerCommand::Checkpoint {
                signer_key_file, ..
            } => Work::Checkpoint(signer_key_file),
            _ => {
                return Err(Failure::usage(
                    "this command works on a data directory only, not on a database",
                ));
            }
        };
        let ledger = PgLedger::connect(url).await.map_err(failed)?;
        match work {
            Work::Init => {
                println!("ledger ready in the database");
                Ok(())
            }
            Work::Accounts(events) => {
                let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
                let results = ledger
                    .create_accounts(&events, now())
                    .await
                    .map_err(failed)?;
                print_results(&ids, &results)
            }
            Work::Transfers(events) => {
                let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
                let results = ledger
                    .create_transfers(&events, now())
                    .await
                    .map_err(failed)?;
                print_results(&ids, &results)
            }
            Work::Lookup(id) => {
                let a = ledger.account(id).await.map_err(failed)?;
                let a = a.ok_or_else(|| Failure::failed(format!("no account {id}")))?;
                println!("{}", account_json(&a));
                Ok(())
            }
            Work::LookupTransfer(id) => {
                let t = ledger.transfer(id).await.map_err(failed)?;
                let t = t.ok_or_else(|| Failure::failed(format!("no transfer {id}")))?;
                let state = ledger.pending_state(id).await.map_err(failed)?;
                println!("{}", super::super::transfer_line(&t, state));
                Ok(())
            }
            Work::Balance(id) => {
                let a = ledger.account(id).await.map_err(failed)?;
                let a = a.ok_or_else(|| Failure::failed(format!("no account {id}")))?;
                println!("{}", super::super::balance_line(&a));
                Ok(())
            }
            Work::History(id, limit) => {
                for t in ledger
                    .account_transfers(id, 0, limit)
                    .await
                    .map_err(failed)?
                {
                    println!("{}", transfer_json(&t));
                }
                Ok(())
            }
            Work::Verify(vkey) => verify(&ledger, vkey.as_deref()).await,
            Work::Checkpoint(path) => checkpoint(&ledger, &path).await,
        }
    }

    /// A command's work, its input read and checked.
    enum Work {
        Init,
        LookupTransfer(u128),
        Balance(u128),
        Accounts(Vec<tally_ledger::NewAccount>),
        Transfers(Vec<tally_ledger::NewTransfer>),
        Lookup(u128),
        History(u128, usize),
        Verify(Option<Box<NoteVerifier>>),
        Checkpoint(std::path::PathBuf),
    }

    fn accounts() -> Result<Vec<tally_ledger::NewAccount>, Failure> {
        let lines: Vec<(u64, AccountLine)> = read_events()?;
        lines
            .iter()
            .map(|(n, a)| {
                Ok(tally_ledger::NewAccount {
                    id: a.id,
                    ledger: a.ledger,
                    code: a.code,
                    flags: account_flags(&a.flags, *n)?,
                    user_data_128: a.user_data_128,
                    user_data_64: a.user_data_64,
                    user_data_32: a.user_data_32,
                })
            })
            .collect()
    }

    fn transfers() -> Result<Vec<tally_ledger::NewTransfer>, Failure> {
        let lines: Vec<(u64, TransferLine)> = read_events()?;
        lines
            .iter()
            .map(|(n, t)| {
                Ok(tally_ledger::NewTransfer {
                    id: t.id,
                    debit_account_id: t.debit_account_id,
                    credit_account_id: t.credit_account_id,
                    amount: t.amount,
                    pending_id: t.pending_id,
                    ledger: t.ledger,
                    code: t.code,
                    timeout: t.timeout,
                    flags: transfer_flags(&t.flags, *n)?,
                    user_data_128: t.user_data_128,
                    user_data_64: t.user_data_64,
                    user_data_32: t.user_data_32,
                })
            })
            .collect()
    }

    /// The account as `tally ledger lookup` prints it (128-bit values in
    /// full: JSON numbers are as long as they need).
    fn account_json(a: &Account) -> String {
        format!(
            "{{\"id\":{},\"ledger\":{},\"code\":{},\"debits_pending\":{},\"debits_posted\":{},\"credits_pending\":{},\"credits_posted\":{},\"timestamp\":{}}}",
            a.id,
            a.ledger,
            a.code,
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
            a.timestamp
        )
    }

    /// The transfer as `tally ledger history` prints it.
    fn transfer_json(t: &Transfer) -> String {
        format!(
            "{{\"id\":{},\"debit_account_id\":{},\"credit_account_id\":{},\"amount\":{},\"pending_id\":{},\"timestamp\":{}}}",
            t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.timestamp
        )
    }

    async fn verify(ledger: &PgLedger, vkey: Option<&NoteVerifier>) -> Result<(), Failure> {
        let report = ledger.verify(vkey).await.map_err(failed)?;
        let mut balanced = true;
        for (id, t) in &report.totals {
            balanced &= t.balanced();
            println!(
                "ledger {id}: debits pending {} posted {}, credits pending {} posted {}",
                t.debits_pending.lo, t.debits_posted.lo, t.credits_pending.lo, t.credits_posted.lo
            );
        }
        if !balanced {
            return Err(Failure::failed("double entry does not hold"));
        }
        println!(
            "ok: {} accounts, {} transfers, {} journal records, {} signed checkpoints, double entry holds",
            report.accounts, report.transfers, report.batches, report.checkpoints
        );
        Ok(())
    }

    async fn checkpoint(ledger: &PgLedger, signer_file: &Path) -> Result<(), Failure> {
        let signer = signer(signer_file)?;
        let note = ledger.checkpoint(&signer).await.map_err(failed)?;
        print!("{note}");
        Ok(())
    }
}
