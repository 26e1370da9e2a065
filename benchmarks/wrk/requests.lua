-- wrk script: cycles through pre-built requests read from a file (signing stays outside the run).
--
-- Usage: wrk -s requests.lua URL -- REQUESTS_FILE THREADS
-- One request per line, fields separated by TAB: METHOD, PATH, BODY, then "Name: value" headers.
-- Thread i of n cycles through its own slice of the file (from i/n to (i+1)/n), so no two threads
-- send the same line; when a file has fewer lines than threads, every thread uses all of it. done() prints one "BENCH_JSON {...}" line with the figures and how many requests wrapped
-- (a wrapped distinct IPN is a duplicate: the bench sizes files so that this stays at 0).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local position = 1
local first = 1
local last = 1
wraps = 0

function init(args)
  local path = args[1]
  local count = tonumber(args[2]) or 1
  local file = assert(io.open(path, "rb"))
  for line in file:lines() do
    if #line > 0 then
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        fields[#fields + 1] = field
      end
      local headers = {}
      for i = 4, #fields do
        local name, value = fields[i]:match("^([^:]+):%s*(.*)$")
        if name then
          headers[name] = value
        end
      end
      local body = fields[3]
      if body == "" then
        body = nil
      end
      requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
  end
  file:close()
  assert(#requests > 0, "no request in " .. path)
  first = math.floor(#requests * id / count) + 1
  last = math.floor(#requests * (id + 1) / count)
  if last < first then
    first, last = 1, #requests
  end
  position = first
end

function request()
  local chosen = requests[position]
  position = position + 1
  if position > last then
    position = first
    wraps = wraps + 1
  end
  return chosen
end

function done(summary, latency, requests_stats)
  local total_wraps = 0
  for _, thread in ipairs(threads) do
    total_wraps = total_wraps + (thread:get("wraps") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "wraps": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    total_wraps))
end
