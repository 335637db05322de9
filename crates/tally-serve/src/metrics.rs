//! The Prometheus exposition at `/metrics` (prometheus-client): request
//! latency per route and status, `rejected_total{reason}`,
//! `auth_failures_total{scope}`, `readyz_degraded{cause}`, the ledger's
//! batch sizes and group-commit latency, storage errors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `route` and `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The matched route template (`/v1/ledger/accounts/{id}`).
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: String,
}

/// `scope`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// The scope the route needed (`none` before one was known).
    pub scope: String,
}

/// `cause`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CauseLabels {
    /// The cause.
    pub cause: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `http_request_duration_seconds{route,status}`.
    pub requests: HistogramFamily<RouteLabels>,
    /// `rejected_total{reason}`.
    pub rejected: Family<ReasonLabels, Counter>,
    /// `auth_failures_total{scope}`.
    pub auth_failures: Family<ScopeLabels, Counter>,
    /// `readyz_degraded{cause}` (1 while degraded for that cause).
    pub degraded: Family<CauseLabels, Gauge>,
    /// `ledger_batch_events` (events per batch).
    pub batch_events: Histogram,
    /// `ledger_group_commit_seconds` (one durable group commit).
    pub group_commit: Histogram,
    /// `ledger_group_commit_requests` (requests per group commit).
    pub group_requests: Histogram,
    /// `storage_errors_total`.
    pub storage_errors: Counter,
    /// The rewarder's (`reward_runs_total`, …).
    pub reward: crate::rewarder::RewardMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Request latency by route and status",
            requests.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register("rejected", "Requests rejected, by reason", rejected.clone());
        for reason in crate::error::Reason::ALL {
            rejected
                .get_or_create(&ReasonLabels {
                    reason: reason.as_str().to_owned(),
                })
                .inc_by(0);
        }
        let auth_failures = Family::<ScopeLabels, Counter>::default();
        for scope in tally_token::Scope::ALL {
            auth_failures
                .get_or_create(&ScopeLabels {
                    scope: scope.name().to_owned(),
                })
                .inc_by(0);
        }
        registry.register(
            "auth_failures",
            "Authentication and authorization failures, by scope",
            auth_failures.clone(),
        );
        let degraded = Family::<CauseLabels, Gauge>::default();
        registry.register(
            "readyz_degraded",
            "1 while /readyz reports the cause",
            degraded.clone(),
        );
        for cause in crate::health::CAUSES {
            degraded
                .get_or_create(&CauseLabels {
                    cause: cause.to_owned(),
                })
                .set(0);
        }
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "ledger_batch_events",
            "Events per ledger batch",
            batch_events.clone(),
        );
        let group_commit = latency_histogram();
        registry.register(
            "ledger_group_commit_seconds",
            "Latency of one durable group commit of the embedded journal",
            group_commit.clone(),
        );
        let group_requests = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "ledger_group_commit_requests",
            "Requests sharing one group commit",
            group_requests.clone(),
        );
        let storage_errors = Counter::default();
        registry.register(
            "storage_errors",
            "Storage errors (journal, SQLite, PostgreSQL)",
            storage_errors.clone(),
        );
        let reward = crate::rewarder::RewardMetrics::register(&mut registry);
        Self {
            reward,
            registry,
            requests,
            rejected,
            auth_failures,
            degraded,
            batch_events,
            group_commit,
            group_requests,
            storage_errors,
        }
    }

    /// Counts a rejection.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts an authentication or authorization failure.
    pub fn auth_failure(&self, scope: &str) {
        self.auth_failures
            .get_or_create(&ScopeLabels {
                scope: scope.to_owned(),
            })
            .inc();
    }

    /// Sets `readyz_degraded{cause}`.
    pub fn set_degraded(&self, cause: &str, on: bool) {
        self.degraded
            .get_or_create(&CauseLabels {
                cause: cause.to_owned(),
            })
            .set(i64::from(on));
    }

    /// The text exposition.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
