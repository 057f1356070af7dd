--[[
check_marker: is this still the store a process saw before? A store that came back empty, or from an older AOF,
must not be placed on as if nothing had happened (orders it forgot may have been paid).

The marker hash holds the store's id (made at its first start), a generation that beat advances on every tick,
and, once a loss was noticed, why placing stopped (`halted`), until an operator resumes.

KEYS[1]  the marker hash
ARGV[1]  the id this process saw ("" if none yet)
ARGV[2]  the generation it saw (0 if none)
ARGV[3]  "1" to advance the generation (beat), else "0"
ARGV[4]  a fresh id, used if the store has none and this process saw none (a first start)

Returns {1, id, generation}  the same store
        {0, reason}          placing must stop: the store lost its data (now, or earlier: `halted`)
]]
local halted = redis.call("HGET", KEYS[1], "halted")
if halted then
  return {0, halted}
end
local id = redis.call("HGET", KEYS[1], "id")
local reason = nil
if not id then
  if ARGV[1] == "" then
    redis.call("HSET", KEYS[1], "id", ARGV[4], "generation", 1)
    return {1, ARGV[4], 1}
  end
  reason = "the store came back empty (its marker is gone)"
elseif ARGV[1] ~= "" and id ~= ARGV[1] then
  reason = "the store is not the one this process started on (another marker id)"
elseif tonumber(redis.call("HGET", KEYS[1], "generation") or "0") < tonumber(ARGV[2]) then
  reason = "the store went back in time (an older AOF: its generation is behind what was seen)"
end
if reason then
  redis.call("HSET", KEYS[1], "halted", reason)
  return {0, reason}
end
local generation = tonumber(redis.call("HGET", KEYS[1], "generation"))
if ARGV[3] == "1" then
  generation = redis.call("HINCRBY", KEYS[1], "generation", 1)
end
return {1, id, generation}
