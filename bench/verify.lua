-- wrk script for `make bench-verify` (bench/verify.py): every request GETs a path picked at random
-- from a file (one URL-encoded path per line), with an organisation API key.
--
--   wrk -t2 -c16 -d30s --latency -s bench/verify.lua http://127.0.0.1:8000 -- <paths file> <API key>
--
-- At the end it prints one line bench/verify.py parses (latencies in microseconds):
--   WRK requests <n> duration_us <d> p50_us <..> p90_us <..> p99_us <..> max_us <..>
--       connect <n> read <n> write <n> timeout <n> statuses <code>:<n>,...
--   WRK tail_us <latency at 90.0%>,<at 90.1%>,...,<at 99.9%>
-- (the tail lets bench/verify.py find the 99th percentile of several runs together)

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

local paths = {}

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the paths file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  file:close()
  assert(#paths > 0, "the paths file is empty")
  wrk.headers["Authorization"] = "Bearer " .. assert(args[2], "no API key given")
  math.randomseed(os.time() * 1000 + thread_number)
  statuses = {}  -- global: done() reads it with thread:get
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    parts[#parts + 1] = status .. ":" .. n
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    "WRK requests %d duration_us %d p50_us %d p90_us %d p99_us %d max_us %d connect %d read %d write %d timeout %d statuses %s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, table.concat(parts, ",")))
  local tail = {}
  for tenth = 900, 999 do
    tail[#tail + 1] = string.format("%d", latency:percentile(tenth / 10))
  end
  io.write("WRK tail_us " .. table.concat(tail, ",") .. "\n")
end
