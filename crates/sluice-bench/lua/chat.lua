-- wrk script: POST an OpenAI chat completion and print a JSON summary line.
-- A copy of ../shared/bench/wrk/chat.lua (same request body) that also prints p99.9, so that
-- `cargo xtask bench` works without shared/ and its rows compare with the shared bench's.
-- Env knobs (all optional):
--   WRK_MODEL     model name in the body            (default gpt-4o-mini)
--   WRK_API_KEY   bearer token                      (default sk-bench)
--   WRK_HEADERS   extra headers, "Name: value|Name2: value2"
--   WRK_STREAM    "1" -> "stream": true (wrk then measures time to the full SSE body)
--   WRK_LABEL     label copied into the JSON summary line
local model  = os.getenv("WRK_MODEL") or "gpt-4o-mini"
local key    = os.getenv("WRK_API_KEY") or "sk-bench"
local stream = os.getenv("WRK_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
local extra = os.getenv("WRK_HEADERS")
if extra and extra ~= "" then
  for item in string.gmatch(extra, "[^|]+") do
    local name, value = string.match(item, "^%s*([^:]+):%s*(.-)%s*$")
    if name then wrk.headers[name] = value end
  end
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are a helpful assistant."},' ..
           '{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32,"temperature":0' ..
           (stream and ',"stream":true' or '') .. '}'

done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"label":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"lat_mean_ms":%.3f,"lat_p50_ms":%.3f,"lat_p90_ms":%.3f,"lat_p99_ms":%.3f,"lat_p999_ms":%.3f,"lat_max_ms":%.3f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    os.getenv("WRK_LABEL") or "", summary.requests, secs, summary.requests / secs,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
