--[[
create_order: store a new order record unless one exists for its RequestId (SET NX semantics).

KEYS[1]  order hash
KEYS[2]  order history list
KEYS[3]  index (sorted set) of the initial state
KEYS[4]  index of the initial state for the order's provider (the same entry as KEYS[3], narrowed to it)
ARGV[1]  initial state (e.g. "accepted")
ARGV[2]  RequestId (member of the indexes)
ARGV[3..] field, value pairs written into the order hash

Returns the new record (HGETALL's field, value pairs) when it was created, 0 when one already existed (nothing is
written then).
Timestamps (ms) come from Redis's own clock so every host agrees.
]]
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
local now = now_ms("")
redis.call("HSET", KEYS[1], "state", ARGV[1], "created_ms", now, "updated_ms", now, unpack(ARGV, 3))
redis.call("RPUSH", KEYS[2], cjson.encode({at_ms = now, to = ARGV[1]}))
redis.call("ZADD", KEYS[3], now, ARGV[2])
redis.call("ZADD", KEYS[4], now, ARGV[2])
return redis.call("HGETALL", KEYS[1])
