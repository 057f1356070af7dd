--[[
index_by_provider: add orders found in a state's index to their provider's index of that state.

For orders stored before the per-provider indexes existed: each one given whose record is still
in that state enters its provider's index with the score it has in the state's index, as if
create_order or transition had put it there. One that has moved on since (a transition
indexed it) or whose record expired is left alone.

KEYS[1]          index (sorted set) of the state
KEYS[2..1+m]     the state's index of each of the m providers of ARGV[3..2+m]
KEYS[2+m..]      the order hashes, in the order of the RequestIds of ARGV[3+m..]
ARGV[1]          the state
ARGV[2]          m, the number of providers
ARGV[3..2+m]     the providers' names
ARGV[3+m..]      RequestIds found in the state's index

Returns how many orders entered a provider's index.
]]
local m = tonumber(ARGV[2])
local indexed = 0
for i = 3 + m, #ARGV do
  local order = KEYS[i - 1]
  local found = redis.call("HMGET", order, "state", "provider", "index_as")
  local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
  if found[1] == ARGV[1] and score then
    local provider = found[3] or found[2] or "bamboo"
    for j = 1, m do
      if ARGV[2 + j] == provider then
        indexed = indexed + redis.call("ZADD", KEYS[1 + j], score, ARGV[i])
      end
    end
  end
end
return indexed
