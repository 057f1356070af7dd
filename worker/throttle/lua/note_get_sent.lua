--[[
note_get_sent: a reserved Get Order call whose request left the process later than its reservation (the process
was descheduled, or did other work, in between) moves its log entry to when the request really left, so the
window counts the call from where the provider sees it begin.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused: kept for the common call shape)
ARGV[2]  the call's entry, as reserve_get returned it
ARGV[3]  when its request left (ms, later than the reservation)
ARGV[4]  window_ms + margin_ms: how long the log must outlive its newest call

Returns 1 if the entry moved, 0 if the log no longer holds it (its window is over)
]]
local log = KEYS[1] .. ":get_log"
if redis.call("ZREM", log, ARGV[2]) == 0 then
  return 0
end
redis.call("ZADD", log, tonumber(ARGV[3]), ARGV[2])
redis.call("PEXPIRE", log, tonumber(ARGV[4]))
return 1
