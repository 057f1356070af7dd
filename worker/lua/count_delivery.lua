--[[
count_delivery: count one delivery of a task message (worker/delivery.py), in one command.

KEYS[1]  the message's delivery counter (Keys.deliveries: its task id and retry number)
ARGV[1]  how long the counter is kept after its first delivery, in seconds

Returns the number of deliveries so far, this one included.
]]
local count = redis.call("INCR", KEYS[1])
if count == 1 then
  redis.call("EXPIRE", KEYS[1], tonumber(ARGV[1]))
end
return count
