//! An LLM-agent loop capped on tokens, wall time and tool calls.
//!
//! ```sh
//! cargo run -p tally-meter --example agent_loop
//! ```
//!
//! Each step reserves the model call's estimated tokens before making it
//! (admission control: a call the budget cannot cover is never made), commits
//! the actual tokens afterwards (refunding the difference), admits each tool
//! call, and records the wall time the step took. The meter never reads a
//! clock: the loop receives `now_ms` from its caller. `main` passes a clock
//! made of the real elapsed time plus the simulated model latency; the test
//! suite (`tests/it/example.rs`) runs the same loop with a fake clock.

use std::cell::Cell;
use std::time::Instant;

use tally_meter::{Dim, DimSpec, Error, Meter, Policy, Verdict};

/// The agent's budget: 20k tokens, one minute, eight tool calls.
#[allow(
    clippy::panic,
    reason = "checked at compile time: a bad policy fails the build"
)]
pub const POLICY: Policy<3> = match Policy::new([
    DimSpec::new("tokens", 20_000).warn_at(16_000),
    DimSpec::new("millis", 60_000).warn_at(45_000),
    DimSpec::new("tool_calls", 8).warn_at(6),
]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid agent policy"),
};

#[allow(
    clippy::panic,
    reason = "checked at compile time: a bad name fails the build"
)]
const fn dim(name: &str) -> Dim {
    match POLICY.dim(name) {
        Some(dim) => dim,
        None => panic!("no such dimension"),
    }
}

/// The dimensions, resolved once at compile time.
pub const TOKENS: Dim = dim("tokens");
/// Wall time in milliseconds.
pub const MILLIS: Dim = dim("millis");
/// Tool calls.
pub const TOOL_CALLS: Dim = dim("tool_calls");

/// One step of the (scripted) agent.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// What the step does.
    pub name: &'static str,
    /// The tokens reserved before the model call (prompt + max output).
    pub estimated_tokens: u64,
    /// The tokens the call actually used.
    pub actual_tokens: u64,
    /// The tool calls the model asks for.
    pub tool_calls: u64,
    /// How long the step takes (simulated model and tool latency).
    pub latency_ms: u64,
}

/// What happened at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The step ran; `warnings` names the dimensions that crossed a warn level.
    Ran {
        /// The step.
        step: &'static str,
        /// Dimensions whose warn level this step crossed (warn exactly once).
        warnings: Vec<&'static str>,
    },
    /// The step was not started: its estimate does not fit in the budget.
    Refused {
        /// The step.
        step: &'static str,
        /// The dimension that does not fit.
        dim: &'static str,
        /// By how much.
        shortfall: u64,
    },
    /// A tool call was refused: the step ran without it.
    ToolCallRefused {
        /// The step.
        step: &'static str,
    },
    /// The step ran but exhausted a dimension: the loop stops.
    Exhausted {
        /// The step.
        step: &'static str,
        /// The exhausted dimension.
        dim: &'static str,
    },
}

/// Runs `steps` under `meter` and returns what happened; stops at the first
/// refusal or exhaustion. `execute` performs a step (here: simulates it);
/// `now_ms` is the caller's clock.
///
/// # Errors
///
/// Only on a broken invariant (an unknown dimension or an overflow), which
/// this policy rules out.
pub fn run_agent(
    meter: &mut Meter<'_, 3>,
    steps: &[Step],
    mut execute: impl FnMut(&Step),
    mut now_ms: impl FnMut() -> u64,
) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    for step in steps {
        let started_ms = now_ms();
        // Reserve the model call's estimate: never start a call we cannot pay.
        let held = match meter.reserve(&[step.estimated_tokens, 0, 0]) {
            Ok(held) => held,
            Err(Error::Refused { dim, shortfall, .. }) => {
                let dim = POLICY.name(dim).unwrap_or("?");
                events.push(Event::Refused {
                    step: step.name,
                    dim,
                    shortfall,
                });
                return Ok(events);
            }
            Err(other) => return Err(other),
        };
        let mut crossed = held.report().crossed();
        execute(step); // the model call and its tools; it reports its actual tokens
        let report = match meter.commit(held, &[step.actual_tokens, 0, 0]) {
            Ok(report) => report,
            Err(rejected) => {
                // The call overran more than remains: settle what was held and
                // record the rest, which exhausts the budget.
                let held = rejected.reservation.amounts().first().copied().unwrap_or(0);
                meter
                    .commit(rejected.reservation, &[held, 0, 0])
                    .map_err(|r| r.error)?;
                meter.charge(TOKENS, step.actual_tokens.saturating_sub(held))?;
                events.push(Event::Exhausted {
                    step: step.name,
                    dim: "tokens",
                });
                return Ok(events);
            }
        };
        for dim in report.crossed().iter() {
            crossed = crossed.with(dim);
        }
        for _ in 0..step.tool_calls {
            match meter.try_charge(TOOL_CALLS, 1) {
                Ok(Verdict::Warn(w)) if w.crossed() => crossed = crossed.with(TOOL_CALLS),
                Ok(_) => {}
                Err(Error::Refused { .. }) => {
                    events.push(Event::ToolCallRefused { step: step.name });
                    break;
                }
                Err(other) => return Err(other),
            }
        }
        // Wall time already passed: record it (it cannot be refused).
        let elapsed_ms = now_ms().saturating_sub(started_ms);
        match meter.charge(MILLIS, elapsed_ms)? {
            Verdict::Exhausted(_) => {
                events.push(Event::Exhausted {
                    step: step.name,
                    dim: "millis",
                });
                return Ok(events);
            }
            Verdict::Warn(w) if w.crossed() => crossed = crossed.with(MILLIS),
            Verdict::Warn(_) | Verdict::Continue => {}
        }
        let warnings = crossed.iter().filter_map(|d| POLICY.name(d)).collect();
        events.push(Event::Ran {
            step: step.name,
            warnings,
        });
    }
    Ok(events)
}

/// The scripted agent: plan, research with tools, draft, revise, polish.
pub const SCRIPT: [Step; 6] = [
    Step {
        name: "plan",
        estimated_tokens: 3_000,
        actual_tokens: 1_800,
        tool_calls: 0,
        latency_ms: 4_000,
    },
    Step {
        name: "research",
        estimated_tokens: 6_000,
        actual_tokens: 5_200,
        tool_calls: 4,
        latency_ms: 15_000,
    },
    Step {
        name: "draft",
        estimated_tokens: 8_000,
        actual_tokens: 7_900,
        tool_calls: 1,
        latency_ms: 20_000,
    },
    Step {
        name: "check",
        estimated_tokens: 2_000,
        actual_tokens: 1_500,
        tool_calls: 2,
        latency_ms: 9_000,
    },
    Step {
        name: "revise",
        estimated_tokens: 6_000,
        actual_tokens: 3_000,
        tool_calls: 1,
        latency_ms: 8_000,
    },
    Step {
        name: "polish",
        estimated_tokens: 2_000,
        actual_tokens: 900,
        tool_calls: 0,
        latency_ms: 3_000,
    },
];

#[allow(dead_code)] // the test suite includes this file as a module
fn main() {
    let start = Instant::now();
    // The caller's clock: real elapsed time plus the simulated latency of the
    // steps run so far (the model and tools are simulated).
    let simulated_ms = Cell::new(0u64);
    let execute =
        |step: &Step| simulated_ms.set(simulated_ms.get().saturating_add(step.latency_ms));
    let now_ms = || {
        let real_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        real_ms.saturating_add(simulated_ms.get())
    };
    let mut meter = Meter::new(&POLICY);
    match run_agent(&mut meter, &SCRIPT, execute, now_ms) {
        Ok(events) => events.iter().for_each(|event| println!("{event:?}")),
        Err(error) => eprintln!("agent loop failed: {error}"),
    }
    for (dim, spec) in POLICY.dims() {
        println!(
            "{}: spent {} of {}, {} remaining",
            spec.name(),
            meter.spent(dim).unwrap_or(0),
            spec.limit(),
            meter.remaining(dim).unwrap_or(0),
        );
    }
}
