--[[
_clock: prepended to every script when it is loaded (worker/scripts.py), never run alone.

now_ms(given): the time in milliseconds: `given` when a test passes one, else Redis's own clock
(TIME), so every host agrees whatever its own clock says.
]]
local function now_ms(given)
  if given ~= nil and given ~= "" then
    return tonumber(given)
  end
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
