-- list_records. KEYS: r z; ARGV: min max reverse('1'|'0') limit(-1: all).
-- Returns key, value, key, value...
local err = bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset')
if err then return err end
local ks
if ARGV[3] == '1' then
  ks = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[2], ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
else
  ks = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
end
local out = {}
for _, key in ipairs(ks) do
  local v = redis.call('HGET', KEYS[1], key)
  if v then out[#out + 1] = key; out[#out + 1] = v end
end
return out
