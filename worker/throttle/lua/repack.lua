--[[
repack: a pack the provider refused is split (coalescing). Its refused members leave it; the others are
packed again as new sealed packs (each a new provider RequestId, given by the caller and recorded in the
refused pack's record first, so a retry of the split makes the same packs), each parked with the age of the
refused pack, so it keeps its place in the schedule. Once: a split already made (the old pack is gone) is
left alone.

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused: the packs keep the refused pack's age)
ARGV[2]  the refused pack's id
ARGV[3]  the plan, JSON: {"refused": [RequestId, ...], "groups": [{"id": pack id, "members": [RequestId, ...]}]}

Returns the number of packs made (0 when the split was made already).
]]
local p = KEYS[1]
local old = p .. ":pack:" .. ARGV[2]
if redis.call("EXISTS", old) == 0 then
  return 0
end
local plan = cjson.decode(ARGV[3])
local account = redis.call("HGET", old, "account")
local age = redis.call("HGET", old, "age")
local lines_of = {}
for _, member in ipairs(cjson.decode(redis.call("HGET", old, "members"))) do
  lines_of[member["RequestId"]] = member["Lines"]
end
for _, refused in ipairs(plan["refused"]) do
  redis.call("HDEL", p .. ":member_of", refused)
end
local made = 0
for _, group in ipairs(plan["groups"]) do
  local listed = {}
  for _, member in ipairs(group["members"]) do
    listed[#listed + 1] = {RequestId = member, Lines = lines_of[member]}
    redis.call("HSET", p .. ":member_of", member, group["id"])
  end
  local csv, products = write_pack(p, group["id"], listed, account, age)
  redis.call("HSET", p .. ":parked", group["id"], csv)
  for _, product in ipairs(products) do
    redis.call("ZADD", p .. ":queue:" .. product, age, group["id"])
    redis.call("SADD", p .. ":products", product)
  end
  made = made + 1
end
redis.call("DEL", old)
return made
