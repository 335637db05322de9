//! The mint client's resilience: retries with exponential backoff and full
//! jitter, only where a retry is safe, and a circuit breaker per mint.
//!
//! # What is retried
//!
//! A call is a [`Call::Read`] (every `GET`, and the `POST`s that change
//! nothing at the mint: `/v1/checkstate`, `/v1/restore`) or a
//! [`Call::Write`] (quotes, mint, swap, melt). A failure is retried only if
//! the error type says a retry cannot do harm:
//!
//! * [`Error::Unreachable`] (the connection was never made, so nothing was
//!   sent; [`Error::retry`] says [`Retry::Safe`]): any call;
//! * [`Error::Ambiguous`] (a timeout, a connection lost after sending, a
//!   5xx): reads only. A write stays ambiguous and goes back to its saga,
//!   which keeps the operation `Sent` for `recover` (re-sending a swap the
//!   mint did process would be refused, and read as "never happened");
//! * nothing else: a refusal, an invalid answer, an open circuit.
//!
//! The delay before retry `n` (from 0) is uniform in
//! `0..=min(cap, base · 2ⁿ)` ("full jitter"), so clients that failed
//! together do not retry together.
//!
//! # The circuit breaker
//!
//! One per mint (clones of a [`crate::client::MintClient`] share it).
//! Closed, it counts consecutive transport failures ([`Error::Unreachable`]
//! and [`Error::Ambiguous`]); any answer from the mint, even a refusal,
//! resets the count. At [`BreakerPolicy::failures_to_open`] it opens: calls
//! fail at once with [`Error::Unreachable`] (definitive: nothing is sent)
//! for [`BreakerPolicy::open_ms`]. Then it is half-open: one call goes
//! through as a probe (others still fail at once); its success closes the
//! breaker, its transport failure opens it again. A probe that never reports
//! (its future was dropped) frees the slot after `open_ms`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Retry};

/// Attempts per call by default (the first and two retries).
pub const ATTEMPTS_DEFAULT: u32 = 3;
/// The most attempts per call a policy may ask for.
pub const ATTEMPTS_MAX: u32 = 10;
/// First backoff bound by default, ms.
pub const BACKOFF_BASE_MS_DEFAULT: u64 = 100;
/// Backoff cap by default, ms.
pub const BACKOFF_CAP_MS_DEFAULT: u64 = 2_000;
/// The largest backoff cap a policy may ask for, ms.
pub const BACKOFF_CAP_MS_MAX: u64 = 60_000;
/// Consecutive transport failures that open the breaker, by default.
pub const FAILURES_TO_OPEN_DEFAULT: u32 = 5;
/// How long the breaker stays open by default, ms.
pub const OPEN_MS_DEFAULT: u64 = 5_000;
/// The longest open period a policy may ask for, ms.
pub const OPEN_MS_MAX: u64 = 600_000;

/// Whether a call may change the mint's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Changes nothing at the mint: retried after any transport failure.
    Read,
    /// May change the mint's state: retried only if the request never left.
    Write,
}

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, 1..=[`ATTEMPTS_MAX`] (1: no retry).
    pub attempts: u32,
    /// The first delay's upper bound, ms (at most `cap_ms`).
    pub base_ms: u64,
    /// No delay's upper bound exceeds this, ms (at most
    /// [`BACKOFF_CAP_MS_MAX`]).
    pub cap_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: ATTEMPTS_DEFAULT,
            base_ms: BACKOFF_BASE_MS_DEFAULT,
            cap_ms: BACKOFF_CAP_MS_DEFAULT,
        }
    }
}

impl RetryPolicy {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field out of bounds.
    pub fn validate(&self) -> Result<()> {
        if !(1..=ATTEMPTS_MAX).contains(&self.attempts) {
            return Err(Error::InvalidArgument("retry attempts out of bounds"));
        }
        if self.cap_ms > BACKOFF_CAP_MS_MAX {
            return Err(Error::InvalidArgument("retry cap_ms out of bounds"));
        }
        if self.base_ms > self.cap_ms {
            return Err(Error::InvalidArgument("retry base_ms above cap_ms"));
        }
        Ok(())
    }

    /// The upper bound of the delay before retry `n` (from 0):
    /// `min(cap, base · 2ⁿ)`, ms.
    #[must_use]
    pub fn bound_ms(&self, retry: u32) -> u64 {
        let factor = 1u64.checked_shl(retry).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.cap_ms)
    }

    /// The delay before retry `n`, from a random word: uniform in
    /// `0..=bound_ms(n)` (full jitter).
    #[must_use]
    pub fn delay_ms(&self, retry: u32, random: u64) -> u64 {
        let bound = self.bound_ms(retry);
        match bound.checked_add(1) {
            Some(span) => random % span,
            None => random,
        }
    }

    /// Whether `error`, from a call of kind `call`, may be retried.
    #[must_use]
    pub fn may_retry(call: Call, error: &Error) -> bool {
        match error {
            Error::Unreachable(_) => error.retry() == Retry::Safe,
            Error::Ambiguous(_) => call == Call::Read,
            _ => false,
        }
    }
}

/// When the breaker opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive transport failures that open it (at least 1).
    pub failures_to_open: u32,
    /// How long it stays open before a probe, ms (1..=[`OPEN_MS_MAX`]).
    pub open_ms: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures_to_open: FAILURES_TO_OPEN_DEFAULT,
            open_ms: OPEN_MS_DEFAULT,
        }
    }
}

impl BreakerPolicy {
    /// Checks the bounds.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field out of bounds.
    pub fn validate(&self) -> Result<()> {
        if self.failures_to_open == 0 {
            return Err(Error::InvalidArgument(
                "breaker failures_to_open must be at least 1",
            ));
        }
        if !(1..=OPEN_MS_MAX).contains(&self.open_ms) {
            return Err(Error::InvalidArgument("breaker open_ms out of bounds"));
        }
        Ok(())
    }
}

/// Where a breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; this many consecutive transport failures so far.
    Closed(u32),
    /// Calls fail at once until the instant.
    Open(Instant),
    /// One probe is out since the instant; other calls fail at once.
    HalfOpen(Instant),
}

/// A circuit breaker for one mint (see the module documentation).
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<BreakerState>,
}

/// What a call's outcome tells the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The mint answered (success, or a refusal, or an answer that did not
    /// parse: the mint is up).
    Answered,
    /// The transport failed (unreachable, timeout, reset, 5xx).
    TransportFailed,
}

impl Outcome {
    /// The outcome a call's result reports.
    #[must_use]
    pub fn of<T>(result: &Result<T>) -> Self {
        match result {
            Err(Error::Unreachable(_) | Error::Ambiguous(_)) => Self::TransportFailed,
            _ => Self::Answered,
        }
    }
}

impl Breaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(BreakerState::Closed(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open_for(&self) -> Duration {
        Duration::from_millis(self.policy.open_ms)
    }

    /// Where it stands now.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    /// Admits a call, or refuses it with [`Error::Unreachable`] (nothing
    /// is sent) while open or while a probe is out.
    ///
    /// # Errors
    /// As said.
    pub fn admit(&self) -> Result<()> {
        let now = Instant::now();
        let mut state = self.lock();
        match *state {
            BreakerState::Closed(_) => Ok(()),
            BreakerState::Open(until) if now < until => Err(open_error()),
            BreakerState::Open(_) => {
                *state = BreakerState::HalfOpen(now);
                Ok(())
            }
            BreakerState::HalfOpen(since)
                if now.saturating_duration_since(since) >= self.open_for() =>
            {
                // The probe never reported: this call probes instead.
                *state = BreakerState::HalfOpen(now);
                Ok(())
            }
            BreakerState::HalfOpen(_) => Err(open_error()),
        }
    }

    /// Records an admitted call's outcome.
    pub fn record(&self, outcome: Outcome) {
        let now = Instant::now();
        let mut state = self.lock();
        *state = match (outcome, *state) {
            (Outcome::Answered, _) => BreakerState::Closed(0),
            (Outcome::TransportFailed, BreakerState::Closed(n)) => {
                let n = n.saturating_add(1);
                if n >= self.policy.failures_to_open {
                    BreakerState::Open(now.checked_add(self.open_for()).unwrap_or(now))
                } else {
                    BreakerState::Closed(n)
                }
            }
            (Outcome::TransportFailed, BreakerState::HalfOpen(_) | BreakerState::Open(_)) => {
                BreakerState::Open(now.checked_add(self.open_for()).unwrap_or(now))
            }
        };
    }
}

fn open_error() -> Error {
    Error::Unreachable("circuit open: the mint failed repeatedly; nothing was sent".into())
}

/// A random word for the jitter (0 if the OS RNG fails: no jitter, still
/// bounded).
pub(crate) fn jitter_word() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => 0,
    }
}
