-- wrk script of bench/run.sh: requests on /users/{id} with random ids, and
-- one tab-separated result line at the end for the results file.
--
--   wrk ... -s bench/wrk/users.lua URL -- MODE LO HI NONCE
--
-- MODE get:   GET /users/{id}, id uniform in [LO, HI].
-- MODE patch: PATCH /users/{id} with {"email": ...}, a fresh address per
--             request (NONCE, thread and counter keep it unique across the
--             run, since emails are unique in the demo's schema).
-- Every run, the hello-world ceiling included, builds its requests here, so
-- wrk spends the same CPU per request whatever the server.
--
-- Output: BENCH <req/s> <p50 ms> <p99 ms> <requests> <socket errors> <non-2xx/3xx>

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local mode, lo, hi, nonce
local counter = 0
local json = { ["Content-Type"] = "application/json" }

function init(args)
  mode = args[1] or "get"
  lo = tonumber(args[2] or "1")
  hi = tonumber(args[3] or "1000")
  nonce = args[4] or tostring(os.time())
  math.randomseed(os.time() * 7919 + (tid or 0))
end

function request()
  local id = math.random(lo, hi)
  if mode == "patch" then
    counter = counter + 1
    local body = string.format('{"email":"b%s-%d-%d@bench.example"}', nonce, tid or 0, counter)
    return wrk.format("PATCH", "/users/" .. id, json, body)
  end
  return wrk.format("GET", "/users/" .. id)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("BENCH\t%.1f\t%.3f\t%.3f\t%d\t%d\t%d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
