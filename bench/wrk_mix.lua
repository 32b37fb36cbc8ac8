-- wrk's side of bench_scenario.py: the scenario's 3-request mix (weights 80/15/5) with the
-- same body check on POST /api/orders.
--
--   wrk -t2 -c50 -d10s -s bench/wrk_mix.lua http://127.0.0.1:PORT
--
-- request() walks a fixed 20-slot cycle built by smooth weighted round robin, so the mix is
-- interleaved as evenly as the built-in engine's. A Lua state belongs to a thread, not to a
-- connection, so response() cannot know which request it answers: only /api/orders answers
-- 201, and those bodies are the ones checked. done() prints the checks and the share of each.

local mix = {
  {name = "home", weight = 80, method = "GET", path = "/"},
  {name = "items", weight = 15, method = "GET", path = "/api/items"},
  {name = "orders", weight = 5, method = "POST", path = "/api/orders",
   headers = {["Content-Type"] = "application/json"}, body = '{"item":1,"quantity":2}'},
}
local expect_status = 201
local expect_body = '"status":"ok"'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local total = 0
  for _, r in ipairs(mix) do
    r.raw = wrk.format(r.method, r.path, r.headers, r.body)
    total = total + r.weight
  end
  -- smooth weighted round robin over one period (the weights' sum over their gcd: 20 slots)
  local period = total / 5
  cycle, current = {}, {}
  for i = 1, #mix do current[i] = 0 end
  for _ = 1, period do
    local best = 1
    for i, r in ipairs(mix) do
      current[i] = current[i] + r.weight
      if current[i] > current[best] then best = i end
    end
    current[best] = current[best] - total
    table.insert(cycle, best)
  end
  sent = {0, 0, 0}
  position = 0
  checked = 0
  failed = 0
end

function request()
  position = position % #cycle + 1
  local i = cycle[position]
  sent[i] = sent[i] + 1
  return mix[i].raw
end

function response(status, headers, body)
  if status == expect_status then
    checked = checked + 1
    if not string.find(body, expect_body, 1, true) then
      failed = failed + 1
    end
  end
end

function done(summary, latency, requests)
  local c, f = 0, 0
  local per = {0, 0, 0}
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    f = f + t:get("failed")
    local s = t:get("sent")
    for i = 1, #mix do per[i] = per[i] + s[i] end
  end
  io.write(string.format("mix checked %d failed %d sent %d %d %d\n", c, f, per[1], per[2],
                         per[3]))
end
