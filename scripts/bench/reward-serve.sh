# Sourced by scripts/bench/reward-epoch.sh and reward-http.sh: starts
# `"$tally" serve` (embedded storage in "$dir/data", caps raised for large
# epochs, "$dir/trusted.json" as the trusted keys) on a free loopback port
# and sets pid, addr and auth (the admin token's headers).
start_reward_server() {
  BLOB_MAX=536870912 MAX_EPOCH_COST_MS=100000 REQUEST_TIMEOUT_MS=120000 \
    REWARD_TRUSTED_KEYS="$dir/trusted.json" \
    "$tally" serve --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
  addr=$(sed -n 's/.*http:\/\///p' "$dir/out" | head -1)
  auth=(-H "Authorization: Bearer $(cat "$dir/data/admin.token")" -H 'Content-Type: application/json')
}
