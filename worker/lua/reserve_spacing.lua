--[[
reserve_spacing: reserve the next Place Order start of one credential, or say how long to wait.

Starts of one credential are kept at least ARGV[1] ms apart (start-to-start), across every
worker process and host, by Redis's own clock. A reserved slot counts whether or not the call
then succeeds.

KEYS[1]  time (ms) of the credential's last reserved start
ARGV[1]  spacing between two starts, milliseconds (safety margin included)

Returns {1, now_ms} when the slot is reserved (call now), {0, wait_ms} when the caller must
wait at least wait_ms before asking again.
]]
local t = redis.call("TIME")
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spacing_ms = tonumber(ARGV[1])
local last_ms = tonumber(redis.call("GET", KEYS[1]) or "-1")
if last_ms >= 0 and now_ms < last_ms + spacing_ms then
  return {0, last_ms + spacing_ms - now_ms}
end
redis.call("SET", KEYS[1], now_ms, "PX", spacing_ms * 10)
return {1, now_ms}
