# tally-ledger: the loom models of SharedBudget's locking protocol (every
# interleaving of reserve/commit/top-up on two shards against a snapshot: it
# balances, it is a state that existed, nothing deadlocks; a snapshot taken
# one shard at a time is caught). Only the models and the library's own
# dependencies are built under --cfg loom (the heavy dev-dependencies are
# not), in the dev profile, in target/loom.
step "ledger: loom" env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p tally-ledger --locked --test it loom
