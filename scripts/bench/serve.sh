#!/usr/bin/env bash
# Load on `tally serve` from a second process on loopback (wrk, Debian's
# package): durable, authenticated budget reservations and single-transfer
# batches, and a read. Usage: scripts/bench/serve.sh [path/to/tally] [seconds]
set -euo pipefail
tally=${1:-target/release/tally}
secs=${2:-10}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
# Rate limits out of the way: the bench measures the service, not its caps.
MAX_RPS=1000000 RPS_BURST=1000000 TENANT_RPS=1000000 TENANT_BURST=1000000 MAX_INFLIGHT=4096 \
  "$tally" serve --listen 127.0.0.1:0 --data-dir "$dir/data" ${DATABASE:+--database "$DATABASE"} >"$dir/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/.*http:\/\///p' "$dir/out" | head -1)
admin=$(cat "$dir/data/admin.token")
post() { curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -H "Idempotency-Key: $1" -d "$3" "http://$addr$2" >/dev/null; }
post setup-1 /v1/budget/tenants/bench '{"initial":1000000000000,"funding_id":1}'
token=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"tenant":"bench","scopes":["budget.reserve","ledger.read","ledger.write"]}' "http://$addr/v1/tokens" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
# The accounts the transfer and read scenarios use belong to the bench
# tenant (created with its token): another tenant's are refused (403/404).
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "Idempotency-Key: setup-2" \
  -d '{"accounts":[{"id":1,"ledger":1,"code":1},{"id":2,"ledger":1,"code":1}]}' "http://$addr/v1/ledger/accounts" >/dev/null
here=$(dirname "$0")
echo "== memory (RSS) idle, after set-up: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
echo "== reserve (POST /v1/budget/tenants/bench/reservations), 2 threads, ${CONNS:-64} connections"
MODE=reserve TOKEN=$token TARGET=/v1/budget/tenants/bench/reservations \
  wrk -t2 -c"${CONNS:-64}" -d"${secs}s" --latency -s "$here/serve.lua" "http://$addr"
echo "== reserve + commit (half the requests each), 2 threads, ${CONNS:-64} connections"
MODE=pair TOKEN=$token TARGET=/v1/budget/tenants/bench/reservations \
  wrk -t2 -c"${CONNS:-64}" -d"${secs}s" --latency -s "$here/serve.lua" "http://$addr"
echo "== one transfer per batch (POST /v1/ledger/transfers), 2 threads, ${CONNS:-64} connections"
MODE=transfer TOKEN=$token TARGET=/v1/ledger/transfers \
  wrk -t2 -c"${CONNS:-64}" -d"${secs}s" --latency -s "$here/serve.lua" "http://$addr"
echo "== read (GET /v1/ledger/accounts/2), 2 threads, ${CONNS:-64} connections"
wrk -t2 -c"${CONNS:-64}" -d"${secs}s" --latency -H "Authorization: Bearer $token" "http://$addr/v1/ledger/accounts/2"
echo "== memory (RSS) after the load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
