-- wrk script of benchmarks/refund_apply.py (the load generator in C, so that the clients leave the server's
-- cores alone). Every wrk thread replays its own file of prepared requests, <prefix>.<thread number>, one request
-- a line: method, path, API token and JSON body (may be empty), separated by tabs. The requests go out in file
-- order; past the end the file starts again, and the restarts are counted (an application sent twice is
-- refused, so the Python side reports it). done() prints one line, "BENCH <json>", with the figures and how far
-- each thread got in its file (the next round of applications starts after that).

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_number", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  prepared = {}
  for line in io.lines(args[1] .. "." .. thread_number) do
    local method, path, token, body = line:match("^(%u+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    local headers = { ["Authorization"] = "Token " .. token }
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    prepared[#prepared + 1] = wrk.format(method, path, headers, body)
  end
  position = 0
  restarts = 0
  statuses = {}
end

function request()
  position = position + 1
  if position > #prepared then
    position = 1
    restarts = restarts + 1
  end
  return prepared[position]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local function json_object(values)
  local parts = {}
  for key, value in pairs(values) do
    parts[#parts + 1] = string.format("%q: %s", tostring(key), tostring(value))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local counts = {}
  local total_restarts = 0
  local positions = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
    total_restarts = total_restarts + thread:get("restarts")
    positions[tostring(thread:get("thread_number"))] = thread:get("position")
  end
  local errors = summary.errors
  io.write("BENCH " .. json_object({
    requests = summary.requests,
    duration_us = summary.duration,
    p50_us = latency:percentile(50),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    restarts = total_restarts,
    positions = json_object(positions),
    statuses = json_object(counts),
    socket_errors = json_object({
      connect = errors.connect, read = errors.read, write = errors.write, timeout = errors.timeout,
    }),
  }) .. "\n")
end
