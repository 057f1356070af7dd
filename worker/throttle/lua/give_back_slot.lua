--[[
give_back_slot: a claimed Place Order call that was never sent (its request missed its send deadline, nothing
left the process) gives its product-window entries back, so the provider's windows, which count only orders
it received, hold nothing for it. The spacing slot itself is not given back: the next slot was reserved from
this claim already, so a miss costs the credential at most one spacing.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused: kept for the common call shape)
ARGV[2]  RequestId       ARGV[3]  the claimed call's start (ms): its slot, or the late claim's real start
ARGV[4..] product ids of the order

Returns how many window entries were removed.
]]
local p = KEYS[1]
local member = ARGV[2] .. "@" .. ARGV[3]
local removed = 0
for i = 4, #ARGV do
  removed = removed + redis.call("ZREM", p .. ":window:" .. ARGV[i], member)
end
return removed
