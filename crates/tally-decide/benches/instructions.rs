//! A fixed-work driver for instruction counts under callgrind, which are
//! stable on a loaded machine where wall-clock figures are not:
//!
//! ```sh
//! cargo bench -p tally-decide --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/instructions-<hash> tally 22 100000
//! ```
//!
//! Arguments: `tally|calybris|none`, catalog size, iterations, and
//! optionally `open` for the stream without a quality floor. `none` does the
//! loop without deciding (the baseline to subtract).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::hint::black_box;

use common::{REQUESTS, calybris_input, calybris_policy, open_requests, requests, tally_policy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs every bench target with `--bench`: do nothing then.
    if args.len() != 4 && args.len() != 5 {
        return;
    }
    let count: u32 = args[2].parse().unwrap();
    let iterations: usize = args[3].parse().unwrap();
    let requests: Vec<_> = match args.get(4).map(String::as_str) {
        Some("open") => open_requests(),
        _ => requests(),
    };
    let inputs: Vec<_> = requests.iter().map(calybris_input).collect();
    let policy = tally_policy(count);
    let snapshot = calybris_policy(&policy);
    match args[1].as_str() {
        "tally" => (0..iterations).for_each(|i| {
            black_box(policy.prescribe(black_box(&requests[i % REQUESTS])));
        }),
        "calybris" => (0..iterations).for_each(|i| {
            black_box(snapshot.prescribe(black_box(inputs[i % REQUESTS])));
        }),
        _ => (0..iterations).for_each(|i| {
            black_box((
                black_box(&requests[i % REQUESTS]),
                black_box(inputs[i % REQUESTS]),
            ));
        }),
    }
}
