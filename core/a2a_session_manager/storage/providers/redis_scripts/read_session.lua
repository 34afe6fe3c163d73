-- read_session. KEYS: h e r(_run) z(_run) z(_child).
-- Returns {} or {header, lines, {run key, value...}, child keys}.
local err = bad(KEYS[1], 'string') or bad(KEYS[2], 'list') or bad(KEYS[3], 'hash')
  or bad(KEYS[4], 'zset') or bad(KEYS[5], 'zset')
if err then return err end
local header = redis.call('GET', KEYS[1])
if not header then return {} end
local runs = {}
for _, key in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local v = redis.call('HGET', KEYS[3], key)
  if v then runs[#runs + 1] = key; runs[#runs + 1] = v end
end
return {header, redis.call('LRANGE', KEYS[2], 0, -1), runs, redis.call('ZRANGE', KEYS[5], 0, -1)}
