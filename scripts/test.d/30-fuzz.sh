# The cargo-fuzz targets (fuzz/, their own workspace and lock file): they
# must build against today's crates with the committed lock. Running them
# needs nightly and takes minutes per target: ./scripts/fuzz (see
# docs/BENCHMARKS.md for the recorded runs).
step "fuzz: targets build with the committed lock" \
  cargo check --locked --manifest-path fuzz/Cargo.toml --bins
