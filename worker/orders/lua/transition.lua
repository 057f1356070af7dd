--[[
transition: compare-and-set of an order's state, with a timestamped history entry.

The move happens only if the current state is one of the allowed "from" states, so two
workers racing on one order cannot both win, and a late event never moves it backwards.
The order leaves its from-state's index and enters the target's, both the state's own and
the one narrowed to the order's provider (the record's `index_as` field, else `provider`, else "bamboo"),
in the same step.

KEYS[1]        order hash
KEYS[2]        order history list
KEYS[3]        index (sorted set) of the target state
KEYS[4..3+n]   index of each allowed from-state, in the order of ARGV[5..4+n]
then, for each of the m providers of ARGV[6+n..5+n+m] in turn, n+1 keys:
               its index of the target state, then its index of each allowed from-state (same order)
ARGV[1]        target state
ARGV[2]        note for the history entry (a reason code or "", never card data)
ARGV[3]        retention (seconds) to set on the record if the target state is final, 0 for none
ARGV[4]        n, the number of allowed from-states
ARGV[5..4+n]   the allowed from-states
ARGV[5+n]      m, the number of providers
ARGV[6+n..5+n+m] the providers' names
ARGV[6+n+m..]  field, value pairs written into the order hash with the move

Returns {1, previous_state, notify} when moved (notify: 1 if the record holds a `notify` field, the producer's
wish to be told, else 0), {0, current_state} when refused, {-1, ""} when no record.
]]
local current = redis.call("HGET", KEYS[1], "state")
if not current then
  return {-1, ""}
end
local n = tonumber(ARGV[4])
local from_position = nil
for i = 1, n do
  if ARGV[4 + i] == current then
    from_position = i
  end
end
if not from_position then
  return {0, current}
end
local m = tonumber(ARGV[5 + n])
local provider = redis.call("HGET", KEYS[1], "index_as") or redis.call("HGET", KEYS[1], "provider") or "bamboo"
local provider_keys = nil  -- offset of the order's provider's keys in KEYS, if it is one of the m
for j = 1, m do
  if ARGV[5 + n + j] == provider then
    provider_keys = 3 + n + (j - 1) * (n + 1)
  end
end
local request_id = redis.call("HGET", KEYS[1], "request_id")
local now = now_ms("")
redis.call("HSET", KEYS[1], "state", ARGV[1], "updated_ms", now)
for i = 6 + n + m, #ARGV, 2 do
  redis.call("HSET", KEYS[1], ARGV[i], ARGV[i + 1])
end
local entry = {at_ms = now, from = current, to = ARGV[1]}
if ARGV[2] ~= "" then
  entry["note"] = ARGV[2]
end
redis.call("RPUSH", KEYS[2], cjson.encode(entry))
redis.call("ZREM", KEYS[3 + from_position], request_id)
redis.call("ZADD", KEYS[3], now, request_id)
if provider_keys then
  redis.call("ZREM", KEYS[provider_keys + 1 + from_position], request_id)
  redis.call("ZADD", KEYS[provider_keys + 1], now, request_id)
end
local retention_s = tonumber(ARGV[3])
if retention_s > 0 then
  redis.call("EXPIRE", KEYS[1], retention_s)
  redis.call("EXPIRE", KEYS[2], retention_s)
end
return {1, current, redis.call("HEXISTS", KEYS[1], "notify")}
