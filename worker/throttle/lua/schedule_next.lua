--[[
schedule_next: the Place Order scheduler of one credential. Optionally parks an order, then,
if the caller drives this credential's schedule (no other driver is alive, or the caller holds
the driver token), gives the next Place Order slot to the oldest parked order that every limit
allows at that slot, or says when to look again.

Limits checked at the slot time T, all in milliseconds on Redis's clock (or ARGV[1] in tests):
  spacing   T >= last start + spacing + margin                     (start-to-start mode)
            T >= end of the last call + spacing + margin           (end-to-start mode; a call
              never released counts as ended lease_ms after its start, so a dead worker
              cannot stall the credential)
  window    fewer than `limit` slots of each of the order's products in (T - window - margin, T]
Which order: the oldest that every limit allows, unless one product is the critical path (below).
  hold      T >= hold_until (set when the provider answered 429)
A slot counts once reserved, whether or not the call then succeeds.

All keys share the credential's hash tag. Per-product keys are built here from KEYS[1]'s
prefix, which keeps them in the same cluster slot.

KEYS[1]  key prefix of the credential, e.g. "giftq:sched:{client-id}"
ARGV[1]  now in ms, or "" to use Redis TIME
ARGV[2]  spacing_ms          ARGV[3]  margin_ms        ARGV[4]  mode: "start" or "end"
ARGV[5]  lease_ms            ARGV[6]  product limit (count)   ARGV[7]  product window_ms
ARGV[8]  max cards per order ARGV[9]  max wait before the driver looks again, ms; also the furthest
         ahead a slot is handed out (a slot later than that, e.g. after a long 429 hold, waits)
ARGV[10] driver token of the caller, or ""
ARGV[11] RequestId to park, or ""   ARGV[12] its age score (ms)   ARGV[13] its card count
ARGV[14] its product ids, comma-separated

Returns one of
  {1, request_id, slot_ms, token, now_ms}  GO: the order owns the slot at slot_ms; the caller enqueues
                                   its placing for slot_ms, and that task drives on with token
  {2, due_ms, token, now_ms}       WAIT: nothing may go yet; the caller looks again at due_ms
                                   (now_ms: the clock this decision was made on, for the caller's countdown)
  {3}                              PARKED: another driver is alive and will give the order its slot
  {0}                              IDLE: nothing is parked
  {-1, reason}                     the order to park breaks a limit no slot can fix
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local spacing = tonumber(ARGV[2]) + tonumber(ARGV[3])
local margin, mode, lease = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local limit, window = tonumber(ARGV[6]), tonumber(ARGV[7]) + tonumber(ARGV[3])
local max_cards, max_wait, caller = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]

local function split(csv)
  local out = {}
  for item in string.gmatch(csv, "[^,]+") do out[#out + 1] = item end
  return out
end

-- Park the new order (once: an order already parked or holding a slot is left alone).
local rid = ARGV[11]
if rid ~= "" then
  if tonumber(ARGV[13]) > max_cards then
    return {-1, "CardsLimitExceeded"}
  end
  local held = redis.call("ZSCORE", p .. ":scheduled", rid)
  if held and tonumber(held) + lease < now then
    -- A slot whose placing task never came (a lost message): the order may be parked again.
    redis.call("ZREM", p .. ":scheduled", rid)
    redis.call("HDEL", p .. ":slot_products", rid)
    held = false
  end
  if redis.call("HEXISTS", p .. ":parked", rid) == 0 and not held then
    redis.call("HSET", p .. ":parked", rid, ARGV[14])
    for _, product in ipairs(split(ARGV[14])) do
      redis.call("ZADD", p .. ":queue:" .. product, ARGV[12], rid)
      redis.call("SADD", p .. ":products", product)
    end
  end
end

-- One driver at a time: the holder of the live token, or anyone when the driver is gone. While
-- the driver only waits (no slot reserved), anyone may look: a newcomer that can go sooner takes over.
local pump_due = tonumber(redis.call("HGET", p .. ":pump", "due") or "-1")
local pump_token = redis.call("HGET", p .. ":pump", "token") or ""
local pump_waits = redis.call("HGET", p .. ":pump", "kind") == "wait"
local alive = pump_due >= 0 and now <= pump_due + lease
local outsider = alive and caller ~= pump_token
if outsider and not (pump_waits and now < pump_due) then
  return {3}
end
if redis.call("HLEN", p .. ":parked") == 0 then
  redis.call("DEL", p .. ":pump")
  return {0}
end

-- The earliest slot the credential's spacing (and a 429 hold) allows.
local last_start = tonumber(redis.call("GET", p .. ":last_start") or "-1")
local slot = now
if last_start >= 0 then
  local reference = last_start
  if mode == "end" then
    local last_end = tonumber(redis.call("GET", p .. ":last_end") or "-1")
    reference = (last_end >= last_start) and last_end or (last_start + lease)
  end
  slot = math.max(slot, reference + spacing)
end
slot = math.max(slot, tonumber(redis.call("GET", p .. ":hold_until") or "0"))

-- When each product may next be ordered: after its oldest slot in the window leaves it.
local free_cache = {}
local function free_at(product)
  if free_cache[product] then return free_cache[product] end
  local times = redis.call("ZRANGEBYSCORE", p .. ":window:" .. product, "(" .. (slot - window), "+inf", "WITHSCORES")
  local count = #times / 2
  local at = slot
  if count >= limit then
    at = tonumber(times[2 * (count - limit + 1)]) + window
  end
  free_cache[product] = at
  return at
end

-- The oldest parked order whose every product is free at the slot.
local best, best_age, best_products = nil, nil, nil
local earliest = nil
for _, product in ipairs(redis.call("SMEMBERS", p .. ":products")) do
  local at = free_at(product)
  if at <= slot then
    -- Up to 10 queue heads: an older order of this product may wait on another product.
    local head = redis.call("ZRANGE", p .. ":queue:" .. product, 0, 9, "WITHSCORES")
    for i = 1, #head, 2 do
      local age = tonumber(head[i + 1])
      if best_age and (age > best_age or (age == best_age and head[i] >= best)) then break end
      local products = split(redis.call("HGET", p .. ":parked", head[i]))
      local ready = true
      for _, other in ipairs(products) do
        local other_at = free_at(other)
        if other_at > slot then
          ready = false
          earliest = earliest and math.min(earliest, other_at) or other_at
        end
      end
      if ready then
        best, best_age, best_products = head[i], age, products
        break
      end
    end
  else
    earliest = earliest and math.min(earliest, at) or at
  end
end

-- The critical path: when one product's windows alone need longer than the spacing needs for all that is
-- parked, that product goes whenever its window has room (its oldest ready order), so each of its windows
-- opens as early as it can; otherwise the oldest order goes. Ties go to the lower product id (as text).
local function all_free(products)
  for _, other in ipairs(products) do
    if free_at(other) > slot then return false end
  end
  return true
end
local critical, critical_need = nil, (redis.call("HLEN", p .. ":parked") - 1) * spacing
for _, product in ipairs(redis.call("SMEMBERS", p .. ":products")) do
  local need = math.floor((redis.call("ZCARD", p .. ":queue:" .. product) - 1) / limit) * window
  if need > critical_need or (critical and need == critical_need and product < critical) then
    critical, critical_need = product, need
  end
end
if best and critical and free_at(critical) <= slot then
  local head = redis.call("ZRANGE", p .. ":queue:" .. critical, 0, 9)
  for _, candidate in ipairs(head) do
    local products = split(redis.call("HGET", p .. ":parked", candidate))
    if all_free(products) then
      best, best_products = candidate, products
      break
    end
  end
end

-- A slot more than max_wait ahead (a long 429 hold; a call never released, end-to-start): look again within
-- max_wait rather than hand out a slot, and a countdown, that far off.
if slot > now + max_wait then
  best, earliest = nil, slot
end

if not best then
  local due = math.min(earliest or (slot + max_wait), now + max_wait)
  due = math.max(due, now)
  if outsider and due >= pump_due then
    return {3}
  end
  local token = tostring(redis.call("INCR", p .. ":token_seq"))
  redis.call("HSET", p .. ":pump", "due", due, "token", token, "kind", "wait")
  return {2, due, token, now}
end
local token = tostring(redis.call("INCR", p .. ":token_seq"))

-- Reserve: the spacing, each product's window, and the order's claim on the slot.
redis.call("SET", p .. ":last_start", slot)
redis.call("HDEL", p .. ":parked", best)
for _, product in ipairs(best_products) do
  local queue = p .. ":queue:" .. product
  redis.call("ZREM", queue, best)
  if redis.call("ZCARD", queue) == 0 then redis.call("SREM", p .. ":products", product) end
  redis.call("ZADD", p .. ":window:" .. product, slot, best .. "@" .. slot)
  redis.call("ZREMRANGEBYSCORE", p .. ":window:" .. product, "-inf", "(" .. (slot - window))
end
redis.call("ZADD", p .. ":scheduled", slot, best)
redis.call("HSET", p .. ":slot_products", best, table.concat(best_products, ","))
redis.call("HSET", p .. ":pump", "due", slot, "token", token, "kind", "go")
return {1, best, slot, token, now}
