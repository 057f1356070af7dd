--[[
note_sent: a claimed Place Order call whose request left the process later than its claim (the process was
descheduled between the two) moves its start to when the request really left: the credential's last start, so
the next slot (reserved after this, by the task the schedule is handed on to) counts its spacing from there, and
the order's product-window entries, so each product's window does too.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused: kept for the common call shape)
ARGV[2]  RequestId       ARGV[3]  the claimed call's start (ms)    ARGV[4]  when its request left (ms, later)
ARGV[5..] product ids of the order

Returns {1 if the last start moved (0: a later slot was reserved already), window entries moved}
]]
local p = KEYS[1]
local rid, started, sent = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local moved = 0
if tonumber(redis.call("GET", p .. ":last_start") or "-1") == started then
  redis.call("SET", p .. ":last_start", sent)
  moved = 1
end
local entries = 0
for i = 5, #ARGV do
  local window = p .. ":window:" .. ARGV[i]
  if redis.call("ZREM", window, rid .. "@" .. started) == 1 then
    redis.call("ZADD", window, sent, rid .. "@" .. sent)
    entries = entries + 1
  end
end
return {moved, entries}
