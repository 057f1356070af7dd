--[[
_note_sent: prepended to the throttle's scripts (worker/scripts.py), never run alone. A claimed Place Order call
whose request left the process later than its claim (the process was descheduled between the two) moves its
start to when the request really left: the credential's last start, so the next slot counts its spacing from
there, and the order's product-window entries, so each product's window does too. note_sent.lua does only this;
schedule_next.lua does it first when asked (the placing task's hand-on: one round trip, one write to the disk).

note_late_start(p, rid, started, sent, products): `p` the credential's key prefix, `rid` the RequestId, `started`
the claimed call's start (ms), `sent` when its request left (ms, later), `products` the order's product ids.
Returns {1 if the last start moved (0: a later slot was reserved already), window entries moved}.
]]
local function note_late_start(p, rid, started, sent, products)
  local moved = 0
  if tonumber(redis.call("GET", p .. ":last_start") or "-1") == started then
    redis.call("SET", p .. ":last_start", sent)
    moved = 1
  end
  local entries = 0
  for _, product in ipairs(products) do
    local window = p .. ":window:" .. product
    if redis.call("ZREM", window, rid .. "@" .. started) == 1 then
      redis.call("ZADD", window, sent, rid .. "@" .. sent)
      entries = entries + 1
    end
  end
  return {moved, entries}
end
