--[[
release_slot: record that a Place Order call of the credential has ended (end-to-start spacing
counts from here). A call never released counts as ended lease_ms after its start.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME

Returns the recorded end time (ms).
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local last_end = tonumber(redis.call("GET", p .. ":last_end") or "-1")
if now > last_end then
  redis.call("SET", p .. ":last_end", now)
end
return now
