-- wrk script for scripts/bench/serve.sh: one durable, authenticated POST
-- per request, each with its own id and Idempotency-Key (threads take
-- disjoint id ranges). MODE=reserve | transfer; TOKEN, TARGET from the
-- environment.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = tid * 1000000000
  counter = 0
  token = os.getenv("TOKEN")
  mode = os.getenv("MODE")
  target = os.getenv("TARGET")
end

function request()
  counter = counter + 1
  local n = prefix + counter
  local body
  if mode == "reserve" then
    body = string.format('{"id":%d,"amount":1}', n)
  else
    body = string.format('{"transfers":[{"id":%d,"debit_account_id":1,"credit_account_id":2,"amount":1,"ledger":1,"code":1}]}', n)
  end
  return wrk.format("POST", target, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = mode .. "-" .. n,
  }, body)
end
