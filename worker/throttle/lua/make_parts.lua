--[[
make_parts: the provider orders of a producer order of more cards than one provider order takes, written once:
each part is a sealed pack of that one order (its lines are a share of the order's), under an id made once by
the caller and stored in the order's record first. Parking them is then parking packs (schedule_next.lua).

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused)
ARGV[2]  the producer order's RequestId     ARGV[3]  its age (ms)     ARGV[4]  its AccountId, as JSON
ARGV[5]  the parts, JSON: [{"id": part id, "lines": [{ProductId, Value, Quantity}, ...]}, ...]

Returns how many parts were written now (0: all were written already).
]]
local p = KEYS[1]
local made = 0
for _, part in ipairs(cjson.decode(ARGV[5])) do
  local key = p .. ":pack:" .. part["id"]
  if redis.call("EXISTS", key) == 0 then
    local products, cards = products_and_cards(part["lines"])
    redis.call("HSET", key, "members", cjson.encode({{RequestId = ARGV[2], Lines = part["lines"]}}),
      "lines", cjson.encode(part["lines"]), "account", ARGV[4], "products", table.concat(products, ","),
      "age", ARGV[3], "cards", cards, "part_of", ARGV[2])
    made = made + 1
  end
end
return made
