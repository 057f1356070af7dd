--[[
claim_slot: the placing task of an order takes the slot the scheduler reserved for it, just
before it calls Place Order. A stale or duplicate task finds no slot; an early one is told to
wait. A late one still calls, and the schedule moves with it: the credential's last start and
the order's product-window entries become the actual start, so the next slot (reserved after
this claim, by the task the schedule is handed on to) keeps every limit from where the call
really began. Past the lease the chain may have been restarted by another driver, so a task
that late gives the slot up and the order is parked again. So does a task whose credential
was put on hold (the provider answered 429) after its slot was reserved. A slot given up
stays counted, as a call that started and ended at its slot: with end-to-start spacing the next
slot counts from there, not from lease_ms later as for a call never released.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME
ARGV[2]  RequestId       ARGV[3]  the slot (ms) it was given
ARGV[4]  lease_ms: how late after the slot a call may still start

Returns {1, late_ms}  claimed: call now
        {2, wait_ms}  early: come back after wait_ms
        {3, late_ms}  too late: slot given up, park the order again
        {4, wait_ms}  the credential is on hold for wait_ms: slot given up, park the order again
        {0}           no such slot (already claimed, or never reserved)
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local rid, slot, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local reserved = redis.call("ZSCORE", p .. ":scheduled", rid)
if not reserved or tonumber(reserved) ~= slot then
  return {0}
end
if now < slot then
  return {2, slot - now}
end
redis.call("ZREM", p .. ":scheduled", rid)
local products = redis.call("HGET", p .. ":slot_products", rid) or ""
redis.call("HDEL", p .. ":slot_products", rid)
local function give_up(code, ms)
  -- Only the credential's latest slot: an earlier one given up this late must not end a later call in flight.
  local last_end = tonumber(redis.call("GET", p .. ":last_end") or "-1")
  if tonumber(redis.call("GET", p .. ":last_start") or "-1") == slot and last_end < slot then
    redis.call("SET", p .. ":last_end", slot)
  end
  return {code, ms}
end
if now - slot > lease then
  return give_up(3, now - slot)
end
local hold_until = tonumber(redis.call("GET", p .. ":hold_until") or "0")
if now < hold_until then
  return give_up(4, hold_until - now)
end
if now > slot then
  if tonumber(redis.call("GET", p .. ":last_start") or "-1") < now then
    redis.call("SET", p .. ":last_start", now)
  end
  for product in string.gmatch(products, "[^,]+") do
    local window = p .. ":window:" .. product
    if redis.call("ZREM", window, rid .. "@" .. slot) == 1 then
      redis.call("ZADD", window, now, rid .. "@" .. now)
    end
  end
end
return {1, now - slot}
