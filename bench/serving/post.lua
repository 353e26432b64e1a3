-- wrk script: POST one JSON body (the file named by $BENCH_BODY) with every request, and print
-- one machine-readable line at the end: requests, duration, latency percentiles (microseconds),
-- and the error counts (a run with any error is refused by bench/serving.py).
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.stdout:write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
