-- wrk script for scripts/bench/serve.sh: one durable, authenticated POST
-- per request, each with its own id and Idempotency-Key (threads take
-- disjoint id ranges). MODE=reserve | transfer | pair (reserve + commit:
-- after LAG reserves, every other request commits the oldest reservation
-- not yet committed, LAG requests behind, so its reserve has completed);
-- TOKEN, TARGET from the environment.
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
  lag = 256
  next_reserve = 1
  next_commit = 1
end

local function post(path, key, body)
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
  }, body)
end

-- Pairs take their own id range (the reserve scenario's ids are taken).
local function pair()
  if counter > lag and counter % 2 == 0 then
    local id = prefix + 500000000 + next_commit
    next_commit = next_commit + 1
    return post(target .. "/" .. id .. "/commit", "c-" .. id, '{"actual":1}')
  end
  local id = prefix + 500000000 + next_reserve
  next_reserve = next_reserve + 1
  return post(target, "p-" .. id, string.format('{"id":%d,"amount":2}', id))
end

function request()
  counter = counter + 1
  if mode == "pair" then
    return pair()
  end
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
