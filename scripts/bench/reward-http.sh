#!/usr/bin/env bash
# Epochs from upload to sealed manifest over HTTP, many times, for the p95
# (docs/BENCHMARKS.md, issue 14 "Performance": a 50,000-account epoch,
# upload to sealed manifest, p95 under 100 ms). Usage:
#   scripts/bench/reward-http.sh ACCOUNTS RUNS [path/to/tally]
# One `tally serve` (embedded storage, a fresh data directory); RUNS inputs
# files made first by scripts/bench/reward-inputs.py (weeks 1..RUNS: a chain
# of epochs with distinct measurements); the signed example policy posted
# once; then for each epoch, one after the other: `POST /v1/blobs` (the
# inputs) and `POST /v1/rewarder/epochs/bench-K/compute`, each timed by curl
# (time_total). Prints each run and the p50 / p95 / max of the sum.
set -euo pipefail
accounts=$1
runs=$2
tally=${3:-target/release/tally}
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for k in $(seq "$runs"); do
  python3 "$here/scripts/bench/reward-inputs.py" "$accounts" "$k" >"$dir/in-$k.json"
done
"$tally" reward keygen --out "$dir/key" >"$dir/trusted.json"
"$tally" reward sign-policy --policy "$here/crates/tally-reward/examples/policy.json" \
  --key-file "$dir/key" >"$dir/sp.json"
# shellcheck source=scripts/bench/reward-serve.sh
source "$here/scripts/bench/reward-serve.sh"
start_reward_server
pcid=$(curl -sf "${auth[@]}" -H 'Idempotency-Key: p1' --data-binary "@$dir/sp.json" \
  "http://$addr/v1/rewarder/policies" | sed -n 's/.*"cid":"\([^"]*\)".*/\1/p')
echo "inputs: $accounts accounts, $(stat -c %s "$dir/in-1.json") bytes each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$dir/totals"
for k in $(seq "$runs"); do
  up=$(curl -sf "${auth[@]}" -H "Idempotency-Key: b$k" --data-binary "@$dir/in-$k.json" \
    -o "$dir/blob.json" -w '%{time_total}' "http://$addr/v1/blobs")
  icid=$(sed -n 's/.*"cid":"\([^"]*\)".*/\1/p' "$dir/blob.json")
  comp=$(curl -s "${auth[@]}" -H "Idempotency-Key: c$k" -o "$dir/run.json" \
    -w '%{http_code} %{time_total}' \
    -d "{\"inputs_cid\":\"$icid\",\"policy_cid\":\"$pcid\"}" \
    "http://$addr/v1/rewarder/epochs/bench-$k/compute")
  code=${comp% *}
  [ "$code" = 200 ] || { echo "run $k: compute answered $code: $(head -c 300 "$dir/run.json")"; exit 1; }
  total=$(echo "$up ${comp#* }" | awk '{printf "%.4f", $1 + $2}')
  echo "run $k: upload ${up} s, compute ${comp#* } s, total ${total} s"
  echo "$total" >>"$dir/totals"
done
sort -n "$dir/totals" | awk '{v[NR] = $1} END {
  p95 = int((NR * 95 + 99) / 100); p50 = int((NR + 1) / 2);
  printf "upload + compute over %d runs: p50 %.4f s, p95 %.4f s, max %.4f s\n", NR, v[p50], v[p95], v[NR] }'
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
