-- wrk script for bench/soak.py: bench/score.lua paced to a target rate (wrk itself is closed-loop).
-- usage: wrk ... -s bench/soak.lua URL -- BODIES.jsonl API_KEY NONCE DELAY_MS
-- Each connection waits DELAY_MS before each request, so C connections send about
-- C / (latency + DELAY_MS) requests per second.
-- The requests are score.lua's, loaded from this script's own directory (wrk runs it from any cwd).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "score.lua")

local pause = 0
local score_init = init

function init(args)
  score_init(args)
  pause = tonumber(args[4] or "0")
end

-- Only this script defines delay(): wrk schedules every request through a timer when it is defined.
function delay()
  return pause
end
