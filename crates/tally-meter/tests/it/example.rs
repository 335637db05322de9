//! The `agent_loop` example, compiled into the test suite and run with a fake
//! clock, so that the example cannot rot.

#[path = "../../examples/agent_loop.rs"]
mod agent_loop;

use agent_loop::{Event, MILLIS, POLICY, SCRIPT, Step, TOKENS, TOOL_CALLS, run_agent};
use tally_meter::Meter;

/// Runs the script with a clock that advances exactly by each step's latency.
fn run(steps: &[Step]) -> (Vec<Event>, Meter<'static, 3>) {
    let mut meter = Meter::new(&POLICY);
    let now = std::cell::Cell::new(1_000_000u64);
    let events = run_agent(
        &mut meter,
        steps,
        |step| now.set(now.get() + step.latency_ms),
        || now.get(),
    )
    .unwrap();
    (events, meter)
}

#[test]
fn the_agent_loop_stops_before_a_call_the_budget_cannot_cover() {
    let (events, meter) = run(&SCRIPT);
    let ran = |step, warnings: &[&'static str]| Event::Ran {
        step,
        warnings: warnings.to_vec(),
    };
    assert_eq!(
        events,
        [
            ran("plan", &[]),
            ran("research", &[]),
            ran("draft", &[]),
            ran("check", &["tokens", "millis", "tool_calls"]),
            Event::Refused {
                step: "revise",
                dim: "tokens",
                shortfall: 2_400
            },
        ]
    );
    assert_eq!(meter.spent(TOKENS), Some(16_400));
    assert_eq!(meter.spent(MILLIS), Some(48_000));
    assert_eq!(meter.spent(TOOL_CALLS), Some(7));
    assert_eq!(meter.reserved(TOKENS), Some(0));
}

#[test]
fn the_agent_loop_stops_when_time_runs_out() {
    let slow = [Step {
        name: "stuck",
        estimated_tokens: 10,
        actual_tokens: 10,
        tool_calls: 0,
        latency_ms: 61_000,
    }];
    let (events, meter) = run(&slow);
    assert_eq!(
        events,
        [Event::Exhausted {
            step: "stuck",
            dim: "millis"
        }]
    );
    assert_eq!(meter.overrun(MILLIS), Some(1_000));
}

#[test]
fn the_agent_loop_records_a_token_overrun_and_stops() {
    let greedy = [Step {
        name: "greedy",
        estimated_tokens: 1_000,
        actual_tokens: 25_000,
        tool_calls: 0,
        latency_ms: 1,
    }];
    let (events, meter) = run(&greedy);
    assert_eq!(
        events,
        [Event::Exhausted {
            step: "greedy",
            dim: "tokens"
        }]
    );
    assert_eq!(meter.spent(TOKENS), Some(25_000));
    assert_eq!(meter.overrun(TOKENS), Some(5_000));
}

#[test]
fn the_agent_loop_refuses_tool_calls_past_the_cap() {
    let tools = [Step {
        name: "tools",
        estimated_tokens: 10,
        actual_tokens: 10,
        tool_calls: 9,
        latency_ms: 1,
    }];
    let (events, meter) = run(&tools);
    assert_eq!(
        events,
        [
            Event::ToolCallRefused { step: "tools" },
            Event::Ran {
                step: "tools",
                warnings: vec!["tool_calls"]
            }
        ]
    );
    assert_eq!(meter.spent(TOOL_CALLS), Some(8));
}
