--[[
note_sent: a claimed Place Order call whose request left later than its claim moves its start to when the
request really left (`note_late_start`, _note_sent.lua).

KEYS[1]  key prefix of the credential (see schedule_next.lua)
ARGV[1]  now in ms, or "" to use Redis TIME (unused: kept for the common call shape)
ARGV[2]  RequestId       ARGV[3]  the claimed call's start (ms)    ARGV[4]  when its request left (ms, later)
ARGV[5..] product ids of the order

Returns {1 if the last start moved (0: a later slot was reserved already), window entries moved}
]]
local products = {}
for i = 5, #ARGV do products[#products + 1] = ARGV[i] end
return note_late_start(KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), products)
