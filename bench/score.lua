-- wrk script for bench/serve_load.py: POST /score with real comment bodies, each with a fresh id.
-- usage: wrk ... -s bench/score.lua URL -- BODIES.jsonl API_KEY NONCE
-- BODIES.jsonl holds one JSON object per line, without "id"; the id is prepended here.

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local bodies = {}
local n = 0
local nonce = "x"

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  nonce = args[3] or nonce
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
