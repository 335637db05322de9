//! `/readyz`, truthfully: not ready under backpressure (in-flight permits
//! nearly gone, or the ledger writer's queue nearly full), when storage is
//! out (the journal or the decision log poisoned, SQLite or PostgreSQL not answering). Each
//! cause is in the body and in `readyz_degraded{cause}`.

use crate::AppState;
use crate::config::BACKPRESSURE_FREE_PERCENT_MIN;

/// Every cause `/readyz` can report.
pub const CAUSES: [&str; 3] = ["backpressure", "dep_outage", "journal_poisoned"];

/// The causes that hold now (empty: ready); updates the gauges.
pub async fn causes(s: &AppState) -> Vec<&'static str> {
    let mut found = Vec::new();
    let free = s.inflight.available_permits();
    let max = s.limits.max_inflight;
    if free.saturating_mul(100) < max.saturating_mul(BACKPRESSURE_FREE_PERCENT_MIN) || free == 0 {
        found.push("backpressure");
    }
    if let Some(cause) = s.backend.check().await
        && !found.contains(&cause)
    {
        found.push(cause);
    }
    // A poisoned decision log refuses every append: the journal's cause.
    if s.decisions.as_ref().is_ok_and(|d| d.is_poisoned()) && !found.contains(&"journal_poisoned") {
        found.push("journal_poisoned");
    }
    if !s.idem.ping().await && !found.contains(&"dep_outage") {
        found.push("dep_outage");
    }
    for cause in CAUSES {
        s.metrics.set_degraded(cause, found.contains(&cause));
    }
    found
}
