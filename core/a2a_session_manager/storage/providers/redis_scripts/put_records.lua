-- put_records. KEYS: h e i k r z; ARGV: base ttl header-or-empty kind (key value)...
local err = bad(KEYS[1], 'string') or bad(KEYS[4], 'set') or bad(KEYS[5], 'hash') or bad(KEYS[6], 'zset')
if err then return err end
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[3]) end
for j = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[5], ARGV[j], ARGV[j + 1])
  redis.call('ZADD', KEYS[6], 0, ARGV[j])
end
redis.call('SADD', KEYS[4], ARGV[4])
touch(ARGV[1], tonumber(ARGV[2]))
return 1
