//! Helpers shared by the test modules.

use tally_audit::storage::{Faults, SimLog};
use tally_audit::*;

pub const LOG_ID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

pub fn fixed_key() -> AuditKey {
    AuditKey::from_bytes(vec![0x42; 32]).unwrap()
}

pub fn signer() -> CheckpointSigner {
    CheckpointSigner::from_seed("example.org/audit", &[7; 32]).unwrap()
}

/// A log in memory with `n` data records `{"n":i}` and a checkpoint every
/// `every` records; returns its bytes.
pub fn sim_log(n: u64, key: Option<AuditKey>, every: u64) -> Vec<u8> {
    let sim = SimLog::new(Vec::new(), Faults::default(), 1);
    let mut opts = LogOptions::new()
        .log_id(LogId::from_bytes(LOG_ID))
        .signer(signer())
        .checkpoint_every(every)
        .checkpoint_on_close(false)
        .durability(Durability::None);
    if let Some(k) = key {
        opts = opts.key(k);
    }
    let log = AuditLog::create_with(Box::new(sim.clone()), opts).unwrap();
    for i in 0..n {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    sim.contents()
}

pub fn verify_opts(key: Option<AuditKey>) -> VerifyOptions {
    let mut opts = VerifyOptions::new().checkpoint_key(signer().verifier());
    if let Some(k) = key {
        opts = opts.keys(Keyring::new().with(k));
    }
    opts
}

pub fn verify_bytes(bytes: &[u8], opts: &VerifyOptions) -> Result<VerifySummary> {
    VerifiedReader::new(bytes, opts).verify_all()
}

pub fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}
