//! `tally`: the command-line shell over the Tally crates.
//!
//! The binary is thin on purpose: it parses arguments, reads files, calls one
//! library function and prints the result. Every rule lives in a library crate
//! where it is tested; nothing here decides anything about value.
//!
//! Exit codes: `0` success, `1` the operation ran and reported a failure
//! (a refused charge, a failed verification), `2` bad usage or bad input,
//! `3` a forensic check (`tally reward diff`, `duplicate-intents`) found
//! what it looks for.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod audit;
mod cashu;
mod decide;
mod input;
mod keys;
mod ledger;
mod meter;
mod reward;
mod serve;
mod token;
mod wallet;

/// Tally: a conservation-first value engine.
///
/// Meters budgets, makes deterministic and replayable decisions, keeps a
/// tamper-evident audit log, computes reward epochs and carries e-cash.
#[derive(Debug, Parser)]
#[command(name = "tally", version, long_about = None)]
#[command(arg_required_else_help = true, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands, one per component, in the order a reader meets them.
#[derive(Debug, Subcommand)]
enum Command {
    /// The HTTP service: the ledger behind capability checks, limits and idempotency.
    Serve(Box<serve::Args>),
    /// Budget meters: enforce limits on a stream of charges.
    Meter(meter::Args),
    /// Tamper-evident audit logs: init, append, verify, checkpoint, rotate keys, prove.
    Audit(audit::Args),
    /// Decide a request under a policy; verify a recorded decision.
    Decide(decide::Args),
    /// Cashu e-cash: decode and check tokens.
    Cashu(cashu::Args),
    /// Reward epochs: sign policies, compute and seal manifests, verify, prove.
    Reward(reward::Args),
    /// Signing keys for reward manifests and audit checkpoints: generate, trust.
    Keys(keys::Args),
    /// A durable double-entry ledger: accounts, transfers, proofs.
    Ledger(ledger::Args),
    /// Capability tokens: mint, attenuate, inspect; root keys.
    Token(token::Args),
    /// A Cashu wallet in a directory: init, add-mint, mint, balance, check, restore, history.
    Wallet(wallet::Args),
}

/// The exit codes, shown at the end of every command's `--help`.
const EXIT_CODES: &str = "Exit status: 0 success; 1 the operation ran and failed (a verification \
that did not check, a refused charge); 2 bad usage or bad input (a missing or malformed file, a \
value out of range, a missing key); 3 a forensic check found something (`reward diff`: a \
difference; `reward duplicate-intents`: an intent paid twice).";

/// `command` and all its subcommands, each with the exit codes in its help.
fn with_exit_codes(command: clap::Command) -> clap::Command {
    command
        .after_help(EXIT_CODES)
        .mut_subcommands(with_exit_codes)
}

fn main() -> ExitCode {
    let matches = with_exit_codes(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Meter(args) => meter::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Decide(args) => decide::run(args),
        Command::Cashu(args) => cashu::run(args),
        Command::Reward(args) => reward::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Token(args) => token::run(args),
        Command::Wallet(args) => wallet::run(args),
    }
}
