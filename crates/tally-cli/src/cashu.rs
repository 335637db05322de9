//! `tally cashu`: Cashu tokens on the command line.
//!
//! `tally cashu decode` reads a token (a `cashuA…`/`cashuB…` string, or raw
//! `crawB…` bytes) from a file or standard input (never from the command
//! line: a token is bearer money), prints it as JSON, and, given the mint's
//! keys (a `GET /v1/keys` response saved to a file), checks every proof's
//! keyset and DLEQ proof offline.
//!
//! Exit codes: `0` decoded (and, with `--keys`, every proof's DLEQ proof
//! verified); `1` with `--keys`, some proof could not be verified (invalid,
//! absent, or of an unknown keyset); `2` bad usage or an input that does not
//! parse.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::input::{read_file, read_text};

use serde_json::{Value, json};
use tally_cashu::Error;
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::KeysetIndex;
use tally_cashu::token::Token;

/// Cashu e-cash.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CashuCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CashuCommand {
    /// Decode a token and print it as JSON; with --keys, verify its DLEQ proofs.
    Decode {
        /// File holding the token; standard input if absent or `-`.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
        /// File holding the mint's keys (`GET /v1/keys` response JSON).
        #[arg(long, value_name = "PATH")]
        keys: Option<PathBuf>,
    },
}

/// Runs `tally cashu …`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        CashuCommand::Decode { token_file, keys } => match decode(token_file, keys) {
            Ok((report, verified)) => {
                println!("{report:#}");
                if verified {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(message) => {
                eprintln!("tally cashu decode: {message}");
                ExitCode::from(2)
            }
        },
    }
}

pub(crate) fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    let limit = tally_cashu::limits::MAX_TOKEN_LEN_BYTES as u64;
    match path {
        Some(p) if p.as_os_str() != "-" => read_file(p, limit).map_err(|e| e.to_string()),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(limit.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(|e| format!("stdin: {e}"))?;
            if bytes.len() as u64 > limit {
                return Err(format!("stdin: larger than {limit} bytes"));
            }
            Ok(bytes)
        }
    }
}

fn parse_token(bytes: &[u8]) -> Result<Token, String> {
    let decoded = if bytes.starts_with(tally_cashu::token::PREFIX_RAW_V4) {
        Token::from_raw_bytes(bytes)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| "the token is not UTF-8".to_owned())?;
        Token::decode(text)
    };
    decoded.map_err(|e| format!("invalid token ({}): {e}", e.code()))
}

fn load_keysets(path: &std::path::Path) -> Result<Vec<Keyset>, String> {
    let limit = tally_cashu::limits::MAX_JSON_LEN_BYTES as u64;
    let json = read_text(path, limit).map_err(|e| e.to_string())?;
    Keyset::from_keys_response(&json).map_err(|e| format!("invalid keys ({}): {e}", e.code()))
}

/// The token as JSON, and whether every requested check passed.
fn decode(token_file: Option<PathBuf>, keys: Option<PathBuf>) -> Result<(Value, bool), String> {
    let token = parse_token(&read_input(token_file.as_ref())?)?;
    let mut report = json!({
        "mint": token.mint().as_str(),
        "unit": token.unit().map(|u| u.as_str()),
        "memo": token.memo(),
        "value": token.value().value(),
        "proofs": serde_json::to_value(token.proofs()).map_err(|e| e.to_string())?,
    });
    let Some(path) = keys else {
        return Ok((report, true));
    };
    let keysets = load_keysets(&path)?;
    let (checks, verified) = verify(&token, &keysets)?;
    if let Some(object) = report.as_object_mut() {
        object.insert("dleq".to_owned(), Value::Array(checks));
    }
    Ok((report, verified))
}

/// One verdict per proof: `valid`, `absent` (no DLEQ proof to check),
/// `invalid`, or `unknown_keyset`; only `valid` counts as verified.
fn verify(token: &Token, keysets: &[Keyset]) -> Result<(Vec<Value>, bool), String> {
    let mut index = KeysetIndex::new();
    for keyset in keysets {
        index
            .insert(keyset.info().clone())
            .map_err(|e| format!("invalid keys ({}): {e}", e.code()))?;
    }
    let checks: Vec<(u64, &str)> = token
        .proofs()
        .iter()
        .map(|proof| {
            let verdict = match proof.resolve(&index) {
                Err(Error::UnknownKeyset | Error::AmbiguousShortKeysetId) => "unknown_keyset",
                Err(_) => "invalid",
                Ok(resolved) if resolved.dleq.is_none() => "absent",
                Ok(resolved) => match keysets.iter().find(|k| k.id() == resolved.keyset_id) {
                    Some(keyset) if resolved.verify_dleq(keyset).is_ok() => "valid",
                    Some(_) => "invalid",
                    None => "unknown_keyset",
                },
            };
            (proof.amount.value(), verdict)
        })
        .collect();
    let verified = checks.iter().all(|(_, verdict)| *verdict == "valid");
    let report = checks
        .into_iter()
        .map(|(amount, verdict)| json!({ "amount": amount, "dleq": verdict }))
        .collect();
    Ok((report, verified))
}
