-- delete. KEYS: h e i k; ARGV: base. Returns whether the header existed.
local err = bad(KEYS[4], 'set')
if err then return err end
local existed = redis.call('EXISTS', KEYS[1])
for _, kind in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('DEL', ARGV[1] .. 'r:' .. kind, ARGV[1] .. 'z:' .. kind)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return existed
