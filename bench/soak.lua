-- wrk script for bench/soak.py: bench/score.lua sent at a fixed rate (wrk itself is closed-loop).
-- usage: wrk -tT ... -s bench/soak.lua URL -- BODIES.jsonl API_KEY NONCE INTERVAL_MS
-- Each wrk thread sends one request every INTERVAL_MS (T threads: T * 1000 / INTERVAL_MS requests/s),
-- on a schedule of its own, as wrk2 does: a connection whose answer comes back waits for the next free
-- slot, so the rate does not fall when the latency rises. Slots missed because every connection was
-- busy are sent at once when one frees, up to a second's worth; older ones are dropped (a client would
-- have given up). INTERVAL_MS 0: no pacing (closed loop, like score.lua).
-- The requests are score.lua's, loaded from this script's own directory (wrk runs it from any cwd).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "score.lua")

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec *tp);
]])
local ts = ffi.new("soak_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval = 0
local next_slot = nil
local score_init = init

function init(args)
  score_init(args)
  interval = tonumber(args[4] or "0")
end

-- Only this script defines delay(): wrk schedules every request through a timer when it is defined.
function delay()
  if interval <= 0 then
    return 0
  end
  local now = now_ms()
  if next_slot == nil then
    next_slot = now
  elseif next_slot < now - 1000 then -- more than a second behind: forget the older slots
    next_slot = now - 1000
  end
  local slot = next_slot
  next_slot = next_slot + interval
  -- wrk's timers count whole milliseconds: round, so the schedule (next_slot) keeps the average exact.
  return math.max(0, math.floor(slot - now + 0.5))
end
