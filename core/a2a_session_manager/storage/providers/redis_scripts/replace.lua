-- replace_events. KEYS: h e i k; ARGV: base ttl header_if_new (id line)...
local err = bad(KEYS[1], 'string') or bad(KEYS[2], 'list') or bad(KEYS[3], 'hash') or bad(KEYS[4], 'set')
if err then return err end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[3]) end
redis.call('DEL', KEYS[2], KEYS[3])
local n = 0
for j = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[j], n)
  redis.call('RPUSH', KEYS[2], ARGV[j + 1])
  n = n + 1
end
touch(ARGV[1], tonumber(ARGV[2]))
return n
