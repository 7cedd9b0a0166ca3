-- wrk script: POST one entropy reading per request, spread over JOBS jobs.
-- Serve with a RATE_LIMIT above the load (or RATE_LIMIT_ENABLED=false): wrk is one caller,
-- which the default limit holds to 6000 requests a minute per worker. An API key, when the
-- service needs one, comes from wrk's -H "Authorization: Bearer ..." (kept by wrk.format).
-- WITHOUT_ENTROPY=1 sends no entropy: the service measures the job's policy scope instead.
local jobs = tonumber(os.getenv("JOBS") or "100")
local without_entropy = os.getenv("WITHOUT_ENTROPY") == "1"
local counter = 0
local thread_id = 0
local next_thread = 0

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local job = "bench-" .. ((counter * 7 + thread_id * 13) % jobs)
  local entropy = ((counter * 37) % 100) / 100
  local body = without_entropy and '{}' or ('{"entropy": ' .. entropy .. '}')
  return wrk.format(nil, "/v1/jobs/" .. job .. "/entropy-readings", nil, body)
end
