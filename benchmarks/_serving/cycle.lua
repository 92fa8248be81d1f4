-- wrk script of bench_serving: POST real cases in turn, count every HTTP status, report as one JSON line.
--
--   wrk -t1 -c8 -d15s -s cycle.lua http://host:port/score -- bodies.jsonl
--
-- bodies.jsonl holds one prepared request body a line (written by benchmarks/_serving/cases.py from the
-- generator's cases). Each thread starts at its own offset and cycles through them. done() prints
-- "WRK-RESULT {json}": the summary, socket errors, latency percentiles (microseconds) and the status counts.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  if #bodies == 0 then
    error("no request bodies in " .. args[1])
  end
  cursor = (id * 7919) % #bodies
  statuses = {}
end

function request()
  cursor = cursor % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[cursor])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ' ..
    '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
    '"statuses": {%s}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    table.concat(parts, ", ")))
end
