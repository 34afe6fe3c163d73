-- delete_records. KEYS: k r z; ARGV: kind mode ('all' | 'keys') key...
local err = bad(KEYS[1], 'set') or bad(KEYS[2], 'hash') or bad(KEYS[3], 'zset')
if err then return err end
if ARGV[2] == 'all' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SREM', KEYS[1], ARGV[1])
else
  for j = 3, #ARGV do
    redis.call('HDEL', KEYS[2], ARGV[j])
    redis.call('ZREM', KEYS[3], ARGV[j])
  end
end
return 1
