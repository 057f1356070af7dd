--[[
reserve_get: a Get Order call of the credential, under "at most `limit` per rolling window",
shared by every poller on every host. Kept as an exact log of call times.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME
ARGV[2]  limit (count)   ARGV[3]  window_ms   ARGV[4]  margin_ms (widens the window)

Returns {1, now_ms, entry}  reserved: call now; `entry` names the call in the log (see note_get_sent.lua)
        {0, wait_ms}         the window is full: ask again after wait_ms
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3]) + tonumber(ARGV[4])
local log = p .. ":get_log"
redis.call("ZREMRANGEBYSCORE", log, "-inf", now - window)
local count = redis.call("ZCARD", log)
if count >= limit then
  local oldest = redis.call("ZRANGE", log, count - limit, count - limit, "WITHSCORES")
  return {0, tonumber(oldest[2]) + window - now}
end
local seq = redis.call("INCR", p .. ":get_seq")
local entry = now .. "-" .. seq
redis.call("ZADD", log, now, entry)
redis.call("PEXPIRE", log, window)
return {1, now, entry}
