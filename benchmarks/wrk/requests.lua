-- wrk script: cycles through pre-built requests read from a file (signing stays outside the run).
--
-- Usage: wrk -s requests.lua URL -- REQUESTS_FILE THREADS [RATE]
-- One request per line, fields separated by TAB: METHOD, PATH, BODY, then "Name: value" headers.
-- Thread i of n cycles through its own slice of the file (from i/n to (i+1)/n), so no two threads
-- send the same line; when a file has fewer lines than threads, every thread uses all of it. done() prints one "BENCH_JSON {...}" line with the figures and how many requests wrapped
-- (a wrapped distinct IPN is a duplicate: the bench sizes files so that this stays at 0).
--
-- Without RATE (the default) every connection sends its next request as soon as the answer
-- arrives: as fast as the server goes. With RATE (requests per second, in total over all
-- threads), init() defines wrk's delay() hook and each thread sends on its own schedule of
-- slots THREADS × 1000 / RATE ms apart: wrk 4.1 calls delay() on a connection before each of
-- its requests (the first one too) and sends when that many milliseconds have passed, so the
-- connection waits for the next free slot of its thread. A slot that passed while every
-- connection of the thread was busy is sent as soon as one is free (the schedule does not slip),
-- so the rate holds as long as the connections suffice. wrk times a request from the moment it
-- is written, not from its slot: the waiting of a late request is not in the latency figures.
-- (wrk 4.1's only correction, stats_correct, adds samples from the mean interval it saw per
-- connection, not from this schedule: there is no coordinated-omission correction as in wrk2.)

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
  local rate = tonumber(args[3])
  if rate and rate > 0 then
    -- Milliseconds between two slots of this thread: the threads share the rate evenly.
    local interval = count * 1000 / rate
    local ffi = require("ffi")
    ffi.cdef [[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clock_id, bench_timespec *now);
    ]]
    local now = ffi.new("bench_timespec")
    local function now_ms()
      ffi.C.clock_gettime(1, now) -- CLOCK_MONOTONIC
      return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
    end
    local next_slot = nil
    -- A global, looked up by wrk after init(): without RATE it stays undefined (no delay).
    delay = function()
      local at = now_ms()
      if next_slot == nil then
        -- Threads start their schedules a fraction of a slot apart.
        next_slot = at + interval * id / count
      end
      local slot = next_slot
      next_slot = next_slot + interval
      if slot <= at then
        return 0
      end
      return math.floor(slot - at)
    end
  end
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
