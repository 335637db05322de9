//! `prescribe` does not allocate: measured with a counting global allocator
//! (allocation-counter, linked into this test binary only).

use proptest::prelude::*;
use tally_decide::{Policy, Request};

use crate::common;

fn allocations(run: impl FnOnce()) -> u64 {
    allocation_counter::measure(run).count_total
}

#[test]
fn the_counter_counts() {
    // Without this, a broken counter would make the tests below pass vacuously.
    let count = allocations(|| {
        let v: Vec<u64> = std::hint::black_box(Vec::with_capacity(8));
        drop(v);
    });
    assert_eq!(count, 1);
}

fn prescribe_allocations(policy: &Policy, request: &Request) -> u64 {
    allocations(|| {
        std::hint::black_box(policy.prescribe(std::hint::black_box(request)));
    })
}

proptest! {
    #[test]
    fn prescribe_never_allocates(policy in common::policy(32), request in common::request()) {
        // Covers the selecting path, the rejecting path (with its counting
        // pass), the hard limits and both pricing paths.
        prop_assert_eq!(prescribe_allocations(&policy, &request), 0);
    }
}

#[test]
fn verify_and_batch_do_not_allocate_on_success() {
    let policy = common::example_policy();
    let requests = [
        common::example_request(),
        Request {
            sequence: 9,
            ..common::example_request()
        },
    ];
    let decision = policy.prescribe(&requests[0]);
    let mut sink = [decision; 2];
    let count = allocations(|| {
        for (slot, decision) in sink.iter_mut().zip(policy.prescribe_batch(&requests)) {
            *slot = decision;
        }
        assert!(tally_decide::verify_decision(&policy, &requests[0], &decision).is_ok());
        std::hint::black_box(tally_decide::request_digest(&requests[0]));
        std::hint::black_box(tally_decide::decision_digest(&decision));
        std::hint::black_box(tally_decide::policy_digest(&policy));
    });
    assert_eq!(count, 0);
    assert_eq!(sink[1], policy.prescribe(&requests[1]));
}
