-- wrk script: POST a batch of 100 pattern applications per request, each batch one job's
-- (JOBS jobs in turn), spread over PATTERNS patterns named pattern-00, pattern-01, ...
-- (created beforehand). Serve with the rate limit off: wrk is one caller.
local jobs = tonumber(os.getenv("JOBS") or "100")
local patterns = tonumber(os.getenv("PATTERNS") or "20")
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
  local items = {}
  for i = 1, 100 do
    local pattern = string.format("pattern-%02d", (counter * 3 + i) % patterns)
    items[i] = '{"pattern_id": "' .. pattern .. '", "execution_id": "run-' .. counter ..
      '", "job_hash": "' .. job .. '", "pattern_led_to_success": true}'
  end
  return wrk.format(nil, "/v1/pattern-applications", nil,
    '{"applications": [' .. table.concat(items, ",") .. ']}')
end
