--[[
claim_slot: the placing task of an order takes the slot the scheduler reserved for it, just
before it calls Place Order. Only an on-time claim may call: a stale or duplicate task finds
no slot, an early one is told to wait, and a late one gives the slot up (the order is parked
again) because calling late could land too close to the next slot.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME
ARGV[2]  RequestId       ARGV[3]  the slot (ms) it was given
ARGV[4]  max_late_ms: how late after the slot a call may still start

Returns {1, late_ms}  claimed: call now
        {2, wait_ms}  early: come back after wait_ms
        {3, late_ms}  too late: slot given up, the order is parked again
        {0}           no such slot (already claimed, or never reserved)
]]
local p = KEYS[1]
local now
if ARGV[1] ~= "" then
  now = tonumber(ARGV[1])
else
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local rid, slot, max_late = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local reserved = redis.call("ZSCORE", p .. ":scheduled", rid)
if not reserved or tonumber(reserved) ~= slot then
  return {0}
end
if now < slot then
  return {2, slot - now}
end
redis.call("ZREM", p .. ":scheduled", rid)
if now - slot > max_late then
  return {3, now - slot}
end
return {1, now - slot}
