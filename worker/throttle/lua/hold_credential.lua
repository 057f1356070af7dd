--[[
hold_credential: the provider answered 429 "Please wait for N seconds": no slot of this
credential starts before now + wait.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME
ARGV[2]  wait_ms

Returns the time (ms) until which the credential is held.
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local until_ms = math.max(now + tonumber(ARGV[2]), tonumber(redis.call("GET", p .. ":hold_until") or "0"))
redis.call("SET", p .. ":hold_until", until_ms)
return until_ms
