-- read_tail. KEYS: e; ARGV: start (negative). Returns {length, lines}: one atomic read
-- for "last n".
local err = bad(KEYS[1], 'list')
if err then return err end
return {redis.call('LLEN', KEYS[1]), redis.call('LRANGE', KEYS[1], ARGV[1], -1)}
