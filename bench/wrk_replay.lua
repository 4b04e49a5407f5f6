-- Replays pre-signed webhook requests, each at most once, and counts statuses.
--
--   wrk -t2 -c32 -d15s --latency -s bench/wrk_replay.lua URL -- REQUEST_FILE THREADS
--
-- REQUEST_FILE has one request per line, tab-separated:
--   path <TAB> name: value <TAB> ... <TAB> body
-- (bench/bridge_ingest.py writes it; JSON bodies contain no tab or newline).
-- Thread k of THREADS replays lines k+1, k+1+THREADS, ... so no two threads
-- share a request. A thread that runs out starts again from its first line and
-- counts every reused request in `wrapped`: against the bridge those are
-- duplicates (200), never new events.
--
-- done() prints one line `WRK_RESULT {json}` that bridge_ingest.py parses.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function split_tabs(line)
   local fields = {}
   for field in string.gmatch(line, "[^\t]+") do
      fields[#fields + 1] = field
   end
   return fields
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   local me = id or 0
   requests = {}
   local file = assert(io.open(path, "r"))
   local index = 0
   for line in file:lines() do
      if index % nthreads == me then
         local f = split_tabs(line)
         local headers = {}
         for i = 2, #f - 1 do
            local name, value = string.match(f[i], "^([^:]+): (.*)$")
            headers[name] = value
         end
         requests[#requests + 1] = wrk.format("POST", f[1], headers, f[#f])
      end
      index = index + 1
   end
   file:close()
   loaded = #requests
   issued = 0
   wrapped = 0
   counts = {}
end

function request()
   issued = issued + 1
   if issued > loaded then
      wrapped = wrapped + 1
   end
   return requests[(issued - 1) % loaded + 1]
end

function response(status, headers, body)
   local key = tostring(status)
   counts[key] = (counts[key] or 0) + 1
end

local function json_counts(t)
   local parts = {}
   for k, v in pairs(t) do
      parts[#parts + 1] = string.format('"%s":%d', k, v)
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local total, wraps, per_thread = {}, 0, {}
   for i, thread in ipairs(threads) do
      local c = thread:get("counts") or {}
      for k, v in pairs(c) do
         total[k] = (total[k] or 0) + v
      end
      local w = thread:get("wrapped") or 0
      wraps = wraps + w
      per_thread[#per_thread + 1] = string.format(
         '{"id":%d,"counts":%s,"wrapped":%d,"loaded":%d,"issued":%d}',
         thread:get("id"), json_counts(c), w, thread:get("loaded") or 0,
         thread:get("issued") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,' ..
      '"p95":%d,"p99":%d,"p999":%d},"counts":%s,"wrapped":%d,"threads":[%s]}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(95), latency:percentile(99), latency:percentile(99.9),
      json_counts(total), wraps, table.concat(per_thread, ",")))
end
