-- wrk script for the mutation benchmark: each request is an updateServer on a random
-- server id from $BENCH_IDS_FILE (one UUID a line) with a cpu value no server had
-- before and no other request sends, so that every mutation appends exactly one event.
-- Responses that carry GraphQL errors are counted and reported by done().
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local ids = {}
for line in assert(io.open(os.getenv("BENCH_IDS_FILE"), "r"), "BENCH_IDS_FILE unreadable"):lines() do
  if #line > 0 then ids[#ids + 1] = line end
end

local counter = 0
local stride = 64 -- more than wrk threads
graphql_errors = 0
samples = ""

function init(args)
  math.randomseed(os.time() * 1000 + thread_no)
  counter = 1000 * stride + thread_no -- starting values are 1..16
end

function request()
  counter = counter + stride
  local id = ids[math.random(#ids)]
  local body = '{"query":"mutation { updateServer(id: \\"' .. id .. '\\", input: {cpu: ' .. counter ..
      '}) { id version cpu } }"}'
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")}, body)
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
    if #samples < 600 then samples = samples .. body:sub(1, 300) .. "\n" end
  end
end

function done(summary, latency, requests)
  local errors, first = 0, ""
  for _, thread in ipairs(threads) do
    errors = errors + (thread:get("graphql_errors") or 0)
    if first == "" then first = thread:get("samples") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d graphql_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect, e.read, e.write, e.timeout, errors))
  if first ~= "" then io.write("BENCH_ERROR_SAMPLES\n" .. first) end
end
