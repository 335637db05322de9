-- wrk script for scripts/bench/decide.sh: one durable, authenticated
-- decision per request under the stored example policy (candidate 20 wins
-- at a cost of 7,000), each with its own sequence, reservation id (a range of its own, apart
-- from serve.lua's) and
-- Idempotency-Key (threads take disjoint ranges). MODE=hold (the cost held
-- on the tenant's budget in the same step) | plain; TOKEN, DIGEST from the
-- environment. Non-2xx answers are counted by wrk.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = tid * 1000000000 + 700000000
  counter = 0
  token = os.getenv("TOKEN")
  digest = os.getenv("DIGEST")
  mode = os.getenv("MODE")
end

function request()
  counter = counter + 1
  local n = prefix + counter
  local hold = ""
  if mode == "hold" then
    hold = string.format(',"reserve":{"id":%d}', n)
  end
  local body = string.format(
    '{"policy":"%s","request":{"sequence":%d,"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}%s}',
    digest, n, hold)
  return wrk.format("POST", "/v1/decisions", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = mode .. "-" .. n,
  }, body)
end
