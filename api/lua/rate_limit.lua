--[[
rate_limit: admit one request of an API key, or answer how long until one would be (GCRA, the generic
cell rate algorithm: one number per key, no list of past requests).

A key may make `requests` requests per window: a burst of that many at once, then one every
window / requests. The state is the key's theoretical arrival time (TAT): the time at which its budget
is whole again. A request is admitted when TAT - now <= window - interval, and then moves TAT one interval
on. A refused request changes nothing, so a caller that retries early does not push its own wait further.

KEYS[1]  the key's state (string: TAT in milliseconds), expiring when TAT has passed
ARGV[1]  interval in milliseconds (window / requests; may have a fraction)
ARGV[2]  window in milliseconds
ARGV[3]  now in milliseconds, or "" for Redis's own clock (tests pass one)

Returns 0 when the request is admitted, else the milliseconds until a request would be (at least 1).
]]
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = now_ms(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then
  tat = now
end
local ahead = tat - now
if ahead > window - interval then
  return math.max(1, math.ceil(ahead - (window - interval)))
end
tat = tat + interval
redis.call("SET", KEYS[1], string.format("%.3f", tat), "PX", math.ceil(tat - now))
return 0
