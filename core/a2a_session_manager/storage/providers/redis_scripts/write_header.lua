-- write_header. KEYS: h e i k; ARGV: base ttl header.
local err = bad(KEYS[1], 'string') or bad(KEYS[4], 'set')
if err then return err end
redis.call('SET', KEYS[1], ARGV[3])
touch(ARGV[1], tonumber(ARGV[2]))
return 1
