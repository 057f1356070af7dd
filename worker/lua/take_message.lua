--[[
take_message: take the next message of a consumer's queues and record it as unacknowledged, in one command
(worker/broker.py `Channel`). kombu's own BRPOP takes the message first and records it in a second command: a
worker killed in between loses it. Here Redis never holds a taken message that is not recorded.

KEYS[1..n]  the lists to take from, in the order they take turns (a queue's list for each priority level)
KEYS[n+1]   kombu's unacked index (sorted set: delivery tag -> when delivered)
KEYS[n+2]   kombu's unacked hash (delivery tag -> [message, exchange, routing key])
ARGV[1]     the time now, seconds since the epoch (the index's score, as kombu gives it)
ARGV[2]     the delivery counters' key prefix, with the broker's prefix (worker/broker.py `delivery_counter`)
ARGV[3]     how long a delivery counter is kept after its latest delivery, seconds
ARGV[4..n+3]  the queue each list belongs to: the exchange and routing key the message is recorded with
ARGV[n+4..]   delivery tags of messages acknowledged since the last take: dropped from the index and hash first
              (an acknowledgement rides with the next take rather than costing a write of its own)

Returns nil when every list is empty. Else {i, message, recorded, deliveries, tag}: the list it came from, the
message as its sender wrote it, 1 if it is recorded under `tag` (0 if not: a message larger than MAX_BYTES, which
is not parsed here, or one without a delivery tag; the caller then records it as kombu does), and for a task
message (headers with a string id) how often it has been delivered from this queue, this time included (else 0).
The counter is `<prefix><queue>:<id>:<retries>`, retries an integer (else 0), as worker/broker.py builds it.
The delivery counters are not among KEYS: kombu's Redis transport runs on one Redis server, never a cluster.
]]
local MAX_BYTES = 1048576  -- a larger message is left to the caller: parsing it here would stall Redis
local lists = #KEYS - 2
for a = lists + 4, #ARGV do
  redis.call("ZREM", KEYS[lists + 1], ARGV[a])
  redis.call("HDEL", KEYS[lists + 2], ARGV[a])
end
for i = 1, lists do
  local item = redis.call("RPOP", KEYS[i])
  if item then
    if #item > MAX_BYTES then
      return {i, item, 0, 0, ""}
    end
    local ok, message = pcall(cjson.decode, item)
    local properties = ok and type(message) == "table" and message["properties"]
    local tag = type(properties) == "table" and properties["delivery_tag"]
    if type(tag) ~= "string" then
      return {i, item, 0, 0, ""}
    end
    local queue = ARGV[3 + i]
    local queue_json = cjson.encode(queue)
    redis.call("ZADD", KEYS[lists + 1], ARGV[1], tag)
    redis.call("HSET", KEYS[lists + 2], tag, "[" .. item .. "," .. queue_json .. "," .. queue_json .. "]")
    local headers = message["headers"]
    local id = type(headers) == "table" and headers["id"]
    if type(id) ~= "string" then
      return {i, item, 1, 0, tag}
    end
    local retries = headers["retries"]
    if type(retries) ~= "number" or retries ~= math.floor(retries) or math.abs(retries) >= 2 ^ 53 then
      retries = 0
    end
    local counter = ARGV[2] .. queue .. ":" .. id .. ":" .. string.format("%d", retries)
    local deliveries = redis.call("INCR", counter)
    redis.call("EXPIRE", counter, ARGV[3])
    return {i, item, 1, deliveries, tag}
  end
end
return nil
