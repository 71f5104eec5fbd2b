-- wrk driver for GET benchmarks. STORM_FILE (optional): line 1 auction ids, as bidstorm.py --setup-only or
-- bare_bid_server.py write them; with it, GET_PATH's "{auction}" is replaced by each id in turn.
-- Prints one JSON line: requests, rps, non-2xx answers, p50/p99 in ms.
local ids, n = {}, 0
local file = os.getenv("STORM_FILE")
if file and file ~= "" then
  local f = assert(io.open(file))
  for a in f:read("*l"):gmatch("[^,]+") do ids[#ids + 1] = a end
  f:close()
end
local path = os.getenv("GET_PATH") or "/healthz"

function request()
  n = n + 1
  local p = path
  if #ids > 0 then p = path:gsub("{auction}", ids[n % #ids + 1]) end
  return wrk.format("GET", p)
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format('{"requests": %d, "rps": %.1f, "non2xx": %d, "errors": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.requests / s, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
