# tally-meter: the no_std builds and the loom models of AtomicMeter.
#
# The library is `#![no_std]` and does not link `alloc`: it must build with no
# features and with `serde` alone (serde without its default features).
step "meter: no_std build" cargo check -p tally-meter --no-default-features --locked
step "meter: no_std build with serde" cargo check -p tally-meter --no-default-features --features serde --locked
# Every interleaving of the loom models (no preemption bound; the models are
# small: about a second of model checking, plus the build in target/loom).
step "meter: loom" env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p tally-meter --release --locked --test it loom
