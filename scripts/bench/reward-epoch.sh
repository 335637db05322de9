#!/usr/bin/env bash
# A large reward epoch end to end, through the CLI and through the service
# (docs/BENCHMARKS.md, issue 14 "Performance"). Usage:
#   scripts/bench/reward-epoch.sh INPUTS.json [path/to/tally ...]
# Makes a key, a trusted-keys file and a signed policy (the crate's example
# policy), then for each binary: `tally reward compute` under
# /usr/bin/time -v (wall, peak RSS), and `tally serve` (embedded storage):
# the inputs uploaded (POST /v1/blobs), the policy posted, and
# `POST /v1/rewarder/epochs/2026-w47/compute` timed by curl, with the
# server's peak RSS (VmHWM) before and after the compute.
set -euo pipefail
inputs=$1
shift
[ $# -gt 0 ] || set -- target/release/tally
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
first=$1
# shellcheck source=scripts/bench/reward-serve.sh
source "$here/scripts/bench/reward-serve.sh"
"$first" reward keygen --out "$dir/key" >"$dir/trusted.json"
"$first" reward sign-policy --policy "$here/crates/tally-reward/examples/policy.json" \
  --key-file "$dir/key" >"$dir/sp.json"
echo "inputs: $inputs, $(stat -c %s "$inputs") bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for tally in "$@"; do
  echo "== $tally: CLI"
  /usr/bin/time -v "$tally" reward compute --inputs "$inputs" --policy "$dir/sp.json" \
    --key-file "$dir/key" --trusted-keys "$dir/trusted.json" >"$dir/manifest.json" 2>"$dir/time.txt"
  grep -E 'Elapsed|Maximum resident' "$dir/time.txt"
  echo "manifest sha256: $(sha256sum <"$dir/manifest.json" | cut -c1-16)"
  echo "== $tally: service"
  rm -rf "$dir/data"
  start_reward_server
  icid=$(curl -sf "${auth[@]}" -H 'Idempotency-Key: b1' --data-binary "@$inputs" "http://$addr/v1/blobs" \
    | sed -n 's/.*"cid":"\([^"]*\)".*/\1/p')
  pcid=$(curl -sf "${auth[@]}" -H 'Idempotency-Key: p1' --data-binary "@$dir/sp.json" \
    "http://$addr/v1/rewarder/policies" | sed -n 's/.*"cid":"\([^"]*\)".*/\1/p')
  echo "peak RSS after upload: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
  curl -s "${auth[@]}" -H 'Idempotency-Key: c1' -o "$dir/run.json" \
    -w 'compute: HTTP %{http_code}, %{time_total} s\n' \
    -d "{\"inputs_cid\":\"$icid\",\"policy_cid\":\"$pcid\"}" \
    "http://$addr/v1/rewarder/epochs/2026-w47/compute"
  echo "peak RSS after compute: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
  head -c 300 "$dir/run.json"; echo
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
