-- wrk script of bench_load: one request, described by the environment, and one JSON line of figures.
-- WRK_METHOD (GET), WRK_HEADERS ("Name: value" lines), WRK_BODY_FILE (the request body, if any).
-- Every answer but a 2xx counts as a failure: wrk's own count lets redirects through, and a
-- redirect to the login page is exactly the failure a lost session would show.

local method = os.getenv("WRK_METHOD") or "GET"
local headers = {}
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
local body = nil
local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  request_bytes = wrk.format(method, nil, headers, body)
  non2xx = 0
end

function request()
  return request_bytes
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad, e.connect + e.read + e.write + e.timeout))
end
