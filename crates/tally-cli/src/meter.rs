//! `tally meter run`: enforce a budget policy on a stream of charges.
//!
//! The policy is a JSON file:
//!
//! ```json
//! {"dims": [{"name": "tokens", "limit": 20000, "warn": [16000]},
//!           {"name": "tool_calls", "limit": 8}]}
//! ```
//!
//! Charges are JSON lines on stdin (or `--input FILE`), one object per charge
//! naming the dimensions it uses: `{"tokens": 1800, "tool_calls": 1}`. Each
//! charge is all-or-nothing. One JSON line is printed per charge, then a
//! summary line with every dimension's limit, spent, reserved, remaining and
//! overrun, and the meter's snapshot (which `--resume` accepts to continue).
//!
//! Modes: `admit` (default) refuses a charge that does not fit and records
//! nothing for it; `record` records every charge (consumption that already
//! happened) and reports exhaustion, with budgetkernel's semantics.
//!
//! Exit: 0 when every charge was admitted (and, in `record` mode, nothing is
//! exhausted); 1 when a charge was refused or a dimension exhausted; 2 on bad
//! usage or bad input (the policy, the snapshot, or a charge line, which stops
//! the run at that line).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};

use crate::input::{Failure, Lines, finish, read_text};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tally_encoding::json::decode;

use clap::{Subcommand, ValueEnum};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Value, json};
use tally_meter::{
    DimDecl, Error, MAX_DIMS, Meter, OwnedMeter, OwnedPolicy, OwnedSnapshot, Report, Verdict,
};

/// The most dimensions a policy may have on the command line: the documented
/// bound of `tally meter run`, below the library's `tally_meter::MAX_DIMS`
/// (32) that the owned policy could hold.
pub const MAX_CLI_DIMS: usize = 16;
/// The largest policy or snapshot file, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// The longest charge line, in bytes (the newline excluded).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// The most charge input read in one run (1 GiB): a bound, not a buffer;
/// lines are applied as they are read.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Budget meters: enforce limits on a stream of charges.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: MeterCommand,
}

#[derive(Debug, Subcommand)]
enum MeterCommand {
    /// Read charges as JSON lines, print one verdict line per charge and a
    /// summary; exit 1 if a charge was refused (or exhausted a dimension).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The policy: a JSON file `{"dims": [{"name", "limit", "warn": [..]}]}`.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Read charges from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Start from a snapshot printed by an earlier run's summary.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// `admit`: refuse charges that do not fit. `record`: record every charge.
    #[arg(long, value_enum, default_value_t = Mode::Admit)]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Admit,
    Record,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::usage(message)
}

/// Runs `tally meter …`.
pub fn run(args: Args) -> ExitCode {
    let MeterCommand::Run(args) = args.command;
    match run_charges(&args) {
        Ok(code) => code,
        Err(failure) => finish("tally meter", Err(failure)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    dims: Vec<DimFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DimFile {
    name: String,
    limit: u64,
    #[serde(default)]
    warn: Vec<u64>,
}

fn read_file(path: &Path, what: &str) -> Result<String, Failure> {
    read_text(path, MAX_FILE_BYTES).map_err(|e| bad(format!("{what} {e}")))
}

/// The policy file, read and decoded (not yet validated).
fn read_policy_file(path: &Path) -> Result<PolicyFile, Failure> {
    let text = read_file(path, "policy")?;
    let file: PolicyFile =
        decode(text.as_bytes()).map_err(|e| bad(format!("policy {}: {e}", path.display())))?;
    if file.dims.len() > MAX_CLI_DIMS {
        return Err(bad(format!(
            "policy: at most {MAX_CLI_DIMS} dimensions on the command line"
        )));
    }
    Ok(file)
}

/// The validated policy: the library copies the names in, so nothing is
/// leaked and the file's strings are dropped with it.
fn read_policy(path: &Path) -> Result<OwnedPolicy, Failure> {
    let file = read_policy_file(path)?;
    let decls: Vec<DimDecl<'_>> = file
        .dims
        .iter()
        .map(|dim| {
            dim.warn
                .iter()
                .fold(DimDecl::new(&dim.name, dim.limit), |d, w| d.warn_at(*w))
        })
        .collect();
    OwnedPolicy::new(&decls).map_err(|e| policy_error(e, &decls))
}

/// A policy error, naming the dimension as the file does.
fn policy_error(e: Error, decls: &[DimDecl<'_>]) -> Failure {
    let dim = match e {
        Error::InvalidName { dim }
        | Error::DuplicateName { dim }
        | Error::ZeroLimit { dim }
        | Error::WarnNotBelowLimit { dim }
        | Error::WarnNotIncreasing { dim }
        | Error::TooManyWarnLevels { dim } => decls.get(dim.index()).map(DimDecl::name),
        _ => None,
    };
    match dim {
        Some(name) => bad(format!("policy: {e} (dimension {name:?}; {})", e.code())),
        None => bad(format!("policy: {e} ({})", e.code())),
    }
}

fn run_charges(args: &RunArgs) -> Result<ExitCode, Failure> {
    let policy = read_policy(&args.policy)?;
    let mut meter = match &args.resume {
        None => Meter::new(&policy),
        Some(path) => {
            let text = read_file(path, "snapshot")?;
            let snapshot: OwnedSnapshot = decode(text.as_bytes())
                .map_err(|e| bad(format!("snapshot {}: {e}", path.display())))?;
            let (held, declared) = (snapshot.snapshot().dim_count(), policy.dim_count());
            if held != declared {
                return Err(bad(format!(
                    "snapshot {}: {held} amounts per array, the policy has {declared} dimensions",
                    path.display()
                )));
            }
            let mut meter = Meter::restore(&policy, snapshot.snapshot())
                .map_err(|e| bad(format!("snapshot {}: {e} ({})", path.display(), e.code())))?;
            // Reservations do not outlive the process that made them.
            meter.release_all();
            meter
        }
    };
    let input: Box<dyn BufRead> = match &args.input {
        None => Box::new(BufReader::new(io::stdin().lock())),
        Some(path) => Box::new(BufReader::new(
            File::open(path).map_err(|e| bad(format!("input {}: {e}", path.display())))?,
        )),
    };
    let source = args
        .input
        .as_ref()
        .map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let lines = Lines::new(input, source, MAX_LINE_BYTES, MAX_INPUT_BYTES);
    let mut out = io::BufWriter::new(io::stdout().lock());
    // A bad line stops the run, but the charges applied before it stay
    // applied: the summary and its snapshot are printed either way.
    let (tally, stopped) = process(&mut meter, lines, &mut out, args.mode)?;
    writeln!(out, "{}", summary(&meter, &tally)).map_err(io_error)?;
    out.flush().map_err(io_error)?;
    if let Some(failure) = stopped {
        return Err(failure);
    }
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn io_error(e: io::Error) -> Failure {
    bad(format!("output: {e}"))
}

/// Counts of the run.
#[derive(Default)]
struct Tally {
    charges: u64,
    failed: u64,
}

/// Reads every charge line, applies it and prints its verdict line. A bad
/// line stops the reading: it is returned beside the counts so far.
fn process<R: BufRead>(
    meter: &mut OwnedMeter<'_>,
    mut input: Lines<R>,
    out: &mut impl Write,
    mode: Mode,
) -> Result<(Tally, Option<Failure>), Failure> {
    let mut tally = Tally::default();
    loop {
        let (number, text) = match input.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok((tally, None)),
            Err(failure) => return Ok((tally, Some(failure.into()))),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (amounts, named) = match parse_charge(meter.policy(), text) {
            Ok(parsed) => parsed,
            Err(e) => {
                let failure = bad(format!("{} line {number}: {e}", input.source().display()));
                return Ok((tally, Some(failure)));
            }
        };
        let (verdict, failed) = apply(meter, &amounts, &named, mode);
        tally.charges += 1;
        tally.failed += u64::from(failed);
        let mut record = json!({ "line": number });
        if let (Value::Object(record), Value::Object(verdict)) = (&mut record, verdict) {
            record.extend(verdict);
        }
        writeln!(out, "{record}").map_err(io_error)?;
    }
}

/// One charge line: a JSON object of dimension name to amount. Repeated or
/// unknown names are refused. Returns the amounts and which dimensions the
/// line named.
fn parse_charge(
    policy: &OwnedPolicy,
    text: &[u8],
) -> Result<([u64; MAX_DIMS], [bool; MAX_DIMS]), String> {
    let Charge(pairs) = decode(text).map_err(|e| e.to_string())?;
    let mut amounts = [0u64; MAX_DIMS];
    let mut seen = [false; MAX_DIMS];
    for (name, amount) in pairs {
        let unknown = || format!("unknown dimension {name:?}");
        let dim = policy.dim(&name).ok_or_else(unknown)?;
        let (Some(seen), Some(slot)) = (seen.get_mut(dim.index()), amounts.get_mut(dim.index()))
        else {
            return Err(unknown());
        };
        if std::mem::replace(seen, true) {
            return Err(format!("dimension {name:?} given twice"));
        }
        *slot = amount;
    }
    Ok((amounts, seen))
}

/// A charge object in input order, duplicates kept (and refused later).
struct Charge(Vec<(String, u64)>);

impl<'de> Deserialize<'de> for Charge {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChargeVisitor;
        impl<'de> Visitor<'de> for ChargeVisitor {
            type Value = Charge;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of dimension names to unsigned integer amounts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Charge, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, u64>()? {
                    if pairs.len() >= MAX_CLI_DIMS {
                        return Err(de::Error::custom("more entries than dimensions"));
                    }
                    pairs.push(pair);
                }
                Ok(Charge(pairs))
            }
        }
        deserializer.deserialize_map(ChargeVisitor)
    }
}

/// Applies one charge; returns its JSON fields and whether it failed.
fn apply(
    meter: &mut OwnedMeter<'_>,
    amounts: &[u64; MAX_DIMS],
    named: &[bool; MAX_DIMS],
    mode: Mode,
) -> (Value, bool) {
    let policy = meter.policy();
    let result = match mode {
        Mode::Admit => meter.try_charge_many(amounts),
        Mode::Record => meter.charge_many(amounts),
    };
    match result {
        Ok(report) => {
            let exhausted: Vec<&str> = report
                .exhausted()
                .iter()
                .filter_map(|dim| policy.name(dim))
                .collect();
            let verdicts = verdicts(policy, &report, named);
            if exhausted.is_empty() {
                (json!({ "status": "ok", "verdicts": verdicts }), false)
            } else {
                // Every dimension exhausted so far is named, also on lines
                // that did not charge it: the run stays over budget there.
                let value = json!({
                    "status": "exhausted",
                    "exhausted": exhausted,
                    "verdicts": verdicts,
                });
                (value, true)
            }
        }
        Err(Error::Refused { dims, .. }) => {
            let refused: BTreeMap<_, _> = dims
                .iter()
                .filter_map(|dim| {
                    let name = policy.name(dim)?;
                    let remaining = meter.remaining(dim)?;
                    let amount = amounts.get(dim.index())?;
                    let shortfall = amount.saturating_sub(remaining);
                    Some((
                        name,
                        json!({ "shortfall": shortfall, "remaining": remaining }),
                    ))
                })
                .collect();
            (json!({ "status": "refused", "refused": refused }), true)
        }
        Err(e) => (
            json!({ "status": "error", "error": e.code(), "message": e.to_string() }),
            true,
        ),
    }
}

/// The verdicts of the dimensions a charge named.
fn verdicts(policy: &OwnedPolicy, report: &Report<MAX_DIMS>, named: &[bool; MAX_DIMS]) -> Value {
    let mut map = serde_json::Map::new();
    let dims = policy.dims().zip(report.verdicts()).zip(named);
    for (((_, spec), verdict), _) in dims.filter(|(_, named)| **named) {
        let value = match verdict {
            Verdict::Continue => json!("continue"),
            Verdict::Exhausted(_) => json!("exhausted"),
            Verdict::Warn(w) => json!({ "warn": {
                "level": w.level(),
                "threshold": spec.warn_levels().get(w.level()),
                "crossed": w.crossed(),
            }}),
        };
        map.insert(spec.name().to_owned(), value);
    }
    Value::Object(map)
}

fn summary(meter: &OwnedMeter<'_>, tally: &Tally) -> Value {
    let mut dims = serde_json::Map::new();
    for (dim, spec) in meter.policy().dims() {
        dims.insert(
            spec.name().to_owned(),
            json!({
                "limit": spec.limit(),
                "spent": meter.spent(dim),
                "reserved": meter.reserved(dim),
                "remaining": meter.remaining(dim),
                "overrun": meter.overrun(dim),
            }),
        );
    }
    json!({ "summary": {
        "charges": tally.charges,
        "failed": tally.failed,
        "dims": dims,
        "snapshot": meter.snapshot(),
    }})
}
