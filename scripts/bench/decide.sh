#!/usr/bin/env bash
# Load on `tally serve`'s decision route from a second process on loopback
# (wrk, Debian's package): `POST /v1/decisions` under a stored policy, each
# decision appended durably to the signed decision log, with and without a
# budget hold in the same step; the budget reserve route as the peer in the
# same run. Usage: scripts/bench/decide.sh [path/to/tally] [seconds]
set -euo pipefail
tally=${1:-target/release/tally}
secs=${2:-10}
conns=${CONNS:-64}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
# Rate limits out of the way: the bench measures the service, not its caps.
MAX_RPS=1000000 RPS_BURST=1000000 TENANT_RPS=1000000 TENANT_BURST=1000000 MAX_INFLIGHT=4096 \
  "$tally" serve --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/.*http:\/\///p' "$dir/out" | head -1)
admin=$(cat "$dir/data/admin.token")
here=$(dirname "$0")
post() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -H "Idempotency-Key: $1" --data-binary "$3" "http://$addr$2"; }
post setup-1 /v1/budget/tenants/bench '{"initial":1000000000000000,"funding_id":1}' >/dev/null
digest=$(post setup-2 /v1/decide/policies "@$here/../../crates/tally-decide/examples/policy.json" \
  | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/\1/p')
token=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"tenant":"bench","scopes":["budget.reserve","decide.run"]}' "http://$addr/v1/tokens" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
echo "== memory (RSS) idle, after set-up: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
echo "== decide + audit + hold (POST /v1/decisions with reserve), 2 threads, $conns connections"
MODE=hold TOKEN=$token DIGEST=$digest wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/decide.lua" "http://$addr"
echo "== decide + audit, no hold (POST /v1/decisions), 2 threads, $conns connections"
MODE=plain TOKEN=$token DIGEST=$digest wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/decide.lua" "http://$addr"
echo "== peer: reserve alone (POST /v1/budget/tenants/bench/reservations), 2 threads, $conns connections"
MODE=reserve TOKEN=$token TARGET=/v1/budget/tenants/bench/reservations \
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/serve.lua" "http://$addr"
echo "== memory (RSS) after the load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
echo "== decision log: $(wc -l <"$dir/data/decisions.jsonl") records"
