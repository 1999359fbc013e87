-- wrk script for the list-query benchmark: POSTs the GraphQL body in $BENCH_BODY_FILE
-- and, when done, prints one machine-readable line for ops/bench-graphql.sh.
-- The body is left unread (no response() hook) so that wrk costs the same for every server.
local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "r"), "BENCH_BODY_FILE unreadable")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_TOKEN") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") end
wrk.body = file:read("*a")
file:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d graphql_errors=-1\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect, e.read, e.write, e.timeout))
end
