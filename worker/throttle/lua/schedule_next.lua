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
ARGV[15] "1": pack parked orders into one provider order at a slot (coalescing), "" not
ARGV[16] the id a pack made at this slot gets (a fresh GUID from the caller; unused otherwise)
ARGV[17] the order's lines for packing, a JSON array of {ProductId, Value, Quantity} with its
         AccountId first: {"AccountId": a, "Lines": [...]}, or "" when it may not be packed
ARGV[18] coalesce_hold_ms: how long a product's backlog may stop growing before a pack that is not
         full spends the product's window (below)
ARGV[19] a late start to note first, or "": a JSON array of the RequestId, started_ms, sent_ms and an
         array of product ids, of the call this driver's slot made, whose request left after its claim
         (_note_sent.lua)

Coalescing (ARGV[15]): the order given the slot (the leader) takes other parked orders of its account
with it, oldest first, while the pack has fewer than max_cards cards: first orders of the leader's own
products, then orders of one more product each (a product counts once toward its window, however many
cards it carries), only where that product's window has room, and only where the pack takes every parked
order of it or its window has room to spare. A product whose parked orders outnumber its window's
remaining orders is the bottleneck: each of its window's orders is spent on a full pack, or once its
backlog has stopped growing for coalesce_hold_ms (so a window's order is never held while it would
otherwise stand idle). A pack of two or more orders is written here, with the slot: its id, members
(each with its lines) and merged lines in <prefix>:pack:<id>, each member in <prefix>:member_of; it is
given the slot under its id. A member parked again parks its pack (sealed: the same id and lines).

Returns one of
  {1, request_id, slot_ms, token, now_ms}  GO: the order (or pack) owns the slot at slot_ms; the caller enqueues
                                   its placing for slot_ms, and that task drives on with token
  {2, due_ms, token, now_ms}       WAIT: nothing may go yet; the caller looks again at due_ms
                                   (now_ms: the clock this decision was made on, for the caller's countdown)
  {3}                              PARKED: another driver is alive and will give the order its slot
  {0}                              IDLE: nothing is parked
  {-1, reason}                     the order to park breaks a limit no slot can fix
With ARGV[19], each reply ends with 1 if the noted start moved the credential's last start, else 0.
]]
local p = KEYS[1]
local now = now_ms(ARGV[1])
local spacing = tonumber(ARGV[2]) + tonumber(ARGV[3])
local margin, mode, lease = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local limit, window = tonumber(ARGV[6]), tonumber(ARGV[7]) + tonumber(ARGV[3])
local max_cards, max_wait, caller = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local packing, pack_id, hold = ARGV[15] == "1", ARGV[16], tonumber(ARGV[18] ~= "" and ARGV[18] or "0")

local late_noted = nil
if ARGV[19] and ARGV[19] ~= "" then
  local late = cjson.decode(ARGV[19])
  local products = {}
  for i, product in ipairs(late[4]) do products[i] = tostring(product) end
  late_noted = note_late_start(p, late[1], tonumber(late[2]), tonumber(late[3]), products)[1]
end

-- Every reply: with a late start noted, whether it moved the last start comes last.
local function reply(result)
  if late_noted ~= nil then result[#result + 1] = late_noted end
  return result
end

local function split(csv)
  local out = {}
  for item in string.gmatch(csv, "[^,]+") do out[#out + 1] = item end
  return out
end

-- Park the new order (once: an order already parked or holding a slot is left alone). A member of a pack
-- parks its pack instead, sealed (a pack is placed whole, with the id and lines it was given).
local rid = ARGV[11]
local rid_products, rid_cards, rid_lines = ARGV[14], tonumber(ARGV[13] ~= "" and ARGV[13] or "0"), ARGV[17]
if rid ~= "" then
  local pack_of = redis.call("HGET", p .. ":member_of", rid)
  if pack_of then
    rid = pack_of
    rid_products = redis.call("HGET", p .. ":pack:" .. rid, "products") or ""
    rid_cards, rid_lines = 0, ""
  elseif redis.call("EXISTS", p .. ":pack:" .. rid) == 1 then
    rid_lines = ""  -- a pack parked again by its own id
  end
  if rid_cards > max_cards then
    return reply({-1, "CardsLimitExceeded"})
  end
  local held = redis.call("ZSCORE", p .. ":scheduled", rid)
  if held and tonumber(held) + lease < now then
    -- A slot whose placing task never came (a lost message): the order may be parked again.
    redis.call("ZREM", p .. ":scheduled", rid)
    redis.call("HDEL", p .. ":slot_products", rid)
    held = false
  end
  if rid_products ~= "" and redis.call("HEXISTS", p .. ":parked", rid) == 0 and not held then
    local age = ARGV[12]
    if pack_of then age = redis.call("HGET", p .. ":pack:" .. rid, "age") end
    redis.call("HSET", p .. ":parked", rid, rid_products)
    if rid_lines ~= "" then
      redis.call("HSET", p .. ":lines", rid, rid_lines)
    end
    for _, product in ipairs(split(rid_products)) do
      redis.call("ZADD", p .. ":queue:" .. product, age, rid)
      redis.call("SADD", p .. ":products", product)
      if rid_lines ~= "" then redis.call("HINCRBY", p .. ":pcards", product, rid_cards) end
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
  return reply({3})
end
if redis.call("HLEN", p .. ":parked") == 0 then
  redis.call("DEL", p .. ":pump")
  return reply({0})
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

-- When each product may next be ordered: after its oldest slot in the window leaves it. With packing, a
-- bottleneck product (more parked orders than its window has orders left) whose parked cards cannot fill a
-- pack yet is held while its backlog grows: until coalesce_hold_ms after its newest order.
local free_cache, room_cache = {}, {}
local function free_at(product)
  if free_cache[product] then return free_cache[product] end
  local times = redis.call("ZRANGEBYSCORE", p .. ":window:" .. product, "(" .. (slot - window), "+inf", "WITHSCORES")
  local count = #times / 2
  local at = slot
  if count >= limit then
    at = tonumber(times[2 * (count - limit + 1)]) + window
  end
  room_cache[product] = math.max(limit - count, 0)
  if packing and at <= slot then
    local queue = p .. ":queue:" .. product
    local packable = tonumber(redis.call("HGET", p .. ":pcards", product) or "0")
    if packable > 0 and packable < max_cards and redis.call("ZCARD", queue) > room_cache[product] then
      local newest = redis.call("ZRANGE", queue, -1, -1, "WITHSCORES")
      if newest[2] and tonumber(newest[2]) + hold > slot then
        at = tonumber(newest[2]) + hold
      end
    end
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
  local orders = redis.call("ZCARD", p .. ":queue:" .. product)
  if packing then
    orders = math.min(orders, math.ceil(tonumber(redis.call("HGET", p .. ":pcards", product) or "0") / max_cards))
    orders = math.max(orders, 1)
  end
  local need = math.floor((orders - 1) / limit) * window
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
    return reply({3})
  end
  local token = tostring(redis.call("INCR", p .. ":token_seq"))
  redis.call("HSET", p .. ":pump", "due", due, "token", token, "kind", "wait")
  return reply({2, due, token, now})
end
local token = tostring(redis.call("INCR", p .. ":token_seq"))

-- Take an order out of the parked set (its queues, its share of its products' parked cards).
local function unpark(member)
  local products = split(redis.call("HGET", p .. ":parked", member) or "")
  local raw = redis.call("HGET", p .. ":lines", member)
  local cards = 0
  if raw then
    for _, line in ipairs(cjson.decode(raw)["Lines"]) do cards = cards + tonumber(line["Quantity"]) end
  end
  redis.call("HDEL", p .. ":parked", member)
  redis.call("HDEL", p .. ":lines", member)
  for _, product in ipairs(products) do
    local queue = p .. ":queue:" .. product
    redis.call("ZREM", queue, member)
    if raw then redis.call("HINCRBY", p .. ":pcards", product, -cards) end
    if redis.call("ZCARD", queue) == 0 then
      redis.call("SREM", p .. ":products", product)
      redis.call("HDEL", p .. ":pcards", product)
    end
  end
end

-- Coalescing: the pack the leader (best) takes with it, when it may be packed.
local SCAN = 1000  -- queue entries one product contributes candidates from, per slot
local leader_raw = packing and pack_id ~= "" and redis.call("HGET", p .. ":lines", best)
if leader_raw then
  local leader = cjson.decode(leader_raw)
  local account = cjson.encode(leader["AccountId"])
  local in_pack, pack_products = {}, {}
  for _, product in ipairs(best_products) do
    in_pack[product] = true
    pack_products[#pack_products + 1] = product
  end
  local members, taken, cards = {{best, leader}}, {[best] = true}, 0
  for _, line in ipairs(leader["Lines"]) do cards = cards + tonumber(line["Quantity"]) end
  -- A candidate that fits: parked, packable, of the same account, every product in the pack or `extra`.
  local function eligible(candidate, extra)
    if taken[candidate] then return nil end
    local raw = redis.call("HGET", p .. ":lines", candidate)
    if not raw then return nil end
    local order = cjson.decode(raw)
    if cjson.encode(order["AccountId"]) ~= account then return nil end
    for _, product in ipairs(split(redis.call("HGET", p .. ":parked", candidate) or "")) do
      if not in_pack[product] and product ~= extra then return nil end
    end
    local n = 0
    for _, line in ipairs(order["Lines"]) do n = n + tonumber(line["Quantity"]) end
    return order, n
  end
  local function take(candidate, order, n)
    members[#members + 1] = {candidate, order}
    taken[candidate] = true
    cards = cards + n
  end
  -- Every order of these products' queues that fits, all its products being in the pack already, oldest first.
  local function fill(products)
    for _, product in ipairs(products) do
      for _, candidate in ipairs(redis.call("ZRANGE", p .. ":queue:" .. product, 0, SCAN - 1)) do
        if cards >= max_cards then break end
        local order, n = eligible(candidate, nil)
        if order and cards + n <= max_cards then take(candidate, order, n) end
      end
    end
  end
  -- First the leader's own products.
  fill(best_products)
  -- Then one more product at a time, the one with the oldest parked order first, where its window has room and
  -- the pack takes all it has parked or its window has room to spare.
  local others = {}
  for _, product in ipairs(redis.call("SMEMBERS", p .. ":products")) do
    if not in_pack[product] and free_at(product) <= slot then
      local first = redis.call("ZRANGE", p .. ":queue:" .. product, 0, 0, "WITHSCORES")
      if first[2] then others[#others + 1] = {product, tonumber(first[2])} end
    end
  end
  table.sort(others, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  for _, other in ipairs(others) do
    if cards >= max_cards then break end
    local product = other[1]
    local queue = p .. ":queue:" .. product
    local queued = redis.call("ZCARD", queue)
    local found, need = {}, 0
    for _, candidate in ipairs(redis.call("ZRANGE", queue, 0, SCAN - 1)) do
      local order, n = eligible(candidate, product)
      if order then
        found[#found + 1] = {candidate, order, n}
        need = need + n
      end
    end
    local all_fit = #found == queued and cards + need <= max_cards
    if #found > 0 and (all_fit or queued <= room_cache[product]) then
      local added = false
      for _, entry in ipairs(found) do
        if cards + entry[3] <= max_cards then
          take(entry[1], entry[2], entry[3])
          added = true
        end
      end
      if added then
        in_pack[product] = true
        pack_products[#pack_products + 1] = product
      end
    end
  end
  -- Last, orders the added products made eligible (an order of two products each added on its own), oldest first.
  if #pack_products > #best_products then fill(pack_products) end
  if #members > 1 then
    -- The pack: its members (oldest first, each with its lines), its lines merged by product and value.
    local listed = {}
    for _, member in ipairs(members) do
      listed[#listed + 1] = {RequestId = member[1], Lines = member[2]["Lines"]}
    end
    local age = redis.call("ZSCORE", p .. ":queue:" .. best_products[1], best) or "0"
    write_pack(p, pack_id, listed, account, age)
    for _, member in ipairs(members) do
      unpark(member[1])
      redis.call("HSET", p .. ":member_of", member[1], pack_id)
    end
    best, best_products = pack_id, pack_products
  end
end

-- Reserve: the spacing, each product's window, and the order's (or pack's) claim on the slot.
redis.call("SET", p .. ":last_start", slot)
if redis.call("HEXISTS", p .. ":parked", best) == 1 then unpark(best) end
for _, product in ipairs(best_products) do
  redis.call("ZADD", p .. ":window:" .. product, slot, best .. "@" .. slot)
  redis.call("ZREMRANGEBYSCORE", p .. ":window:" .. product, "-inf", "(" .. (slot - window))
end
redis.call("ZADD", p .. ":scheduled", slot, best)
redis.call("HSET", p .. ":slot_products", best, table.concat(best_products, ","))
redis.call("HSET", p .. ":pump", "due", slot, "token", token, "kind", "go")
return reply({1, best, slot, token, now})
