-- wrk script for bench/soak.py: bench/score.lua paced to a target rate (wrk itself is closed-loop).
-- usage: wrk ... -s bench/soak.lua URL -- BODIES.jsonl API_KEY NONCE DELAY_MS
-- Each connection waits DELAY_MS before each request, so C connections send about
-- C / (latency + DELAY_MS) requests per second.
-- BODIES.jsonl holds one JSON object per line, without "id"; the id is prepended here.

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local bodies = {}
local n = 0
local nonce = "x"
local pause = 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  nonce = args[3] or nonce
  pause = tonumber(args[4] or "0")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  local id = nonce .. "-" .. tostring(tid) .. "-" .. tostring(n)
  return wrk.format(nil, "/score", nil, '{"id":"' .. id .. '",' .. string.sub(body, 2))
end

function delay()
  return pause
end
