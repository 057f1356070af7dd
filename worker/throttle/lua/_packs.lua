--[[
_packs: prepended to the throttle's scripts (worker/scripts.py), never run alone. A pack's record in the
credential's schedule, as schedule_next.lua (a pack made at a slot), repack.lua (the packs a refusal splits
into) and make_parts.lua (the parts of an order too big for one provider order) write it.

products_and_cards(lines): the product ids of `lines` ({ProductId, Value, Quantity}), sorted as text, and
their cards.
write_pack(p, id, listed, account, age): the pack `id` of the members `listed` ({RequestId, Lines}), its lines
merged by product and value, written under the credential prefix `p`; returns its products (csv, and a list).
]]
local function products_and_cards(lines)
  local products, seen, cards = {}, {}, 0
  for _, line in ipairs(lines) do
    cards = cards + tonumber(line["Quantity"])
    local product = tostring(line["ProductId"])
    if not seen[product] then
      seen[product] = true
      products[#products + 1] = product
    end
  end
  table.sort(products)
  return products, cards
end

local function write_pack(p, id, listed, account, age)
  local merged, index, all = {}, {}, {}
  for _, member in ipairs(listed) do
    for _, line in ipairs(member["Lines"]) do
      all[#all + 1] = line
      local key = tostring(line["ProductId"]) .. "|" .. tostring(line["Value"])
      if index[key] then
        merged[index[key]]["Quantity"] = merged[index[key]]["Quantity"] + tonumber(line["Quantity"])
      else
        merged[#merged + 1] = {ProductId = line["ProductId"], Value = line["Value"],
                               Quantity = tonumber(line["Quantity"])}
        index[key] = #merged
      end
    end
  end
  local products, cards = products_and_cards(all)
  local csv = table.concat(products, ",")
  redis.call("HSET", p .. ":pack:" .. id, "members", cjson.encode(listed), "lines", cjson.encode(merged),
    "account", account, "products", csv, "age", age, "cards", cards)
  return csv, products
end
