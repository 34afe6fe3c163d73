-- Shared prelude, put before the body of every script (redis.py joins them).
-- KEYS[1..4] are the session's h, e, i, k keys in every writing script; ARGV[1] is the
-- key base "P{S}:" (record keys are derived from it: they share the hash tag, hence the
-- slot), ARGV[2] the TTL in seconds (0: none).
local function bad(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('A2A_WRONGTYPE ' .. key .. ' ' .. t .. ' ' .. want)
  end
  return nil
end
local function wrong(key, want)
  return redis.error_reply('A2A_WRONGTYPE ' .. key .. ' ' .. redis.call('TYPE', key)['ok'] .. ' ' .. want)
end
-- A pcall error: a WRONGTYPE is a foreign key; anything else (OOM, READONLY, MISCONF...)
-- is the server refusing, passed on in its own words.
local function failed(reply, key, want)
  if string.sub(reply['err'], 1, 10) == 'WRONGTYPE ' then return wrong(key, want) end
  return reply
end
-- Every key of the session gets the TTL: h, e, i, k (all base .. suffix, as KEYS[1..4]
-- are) and the records of each kind; ``kinds`` when the caller has read them already.
local function touch(base, ttl, kinds)
  if ttl <= 0 then return end
  for _, suffix in ipairs({'h', 'e', 'i', 'k'}) do redis.call('EXPIRE', base .. suffix, ttl) end
  for _, kind in ipairs(kinds or redis.call('SMEMBERS', base .. 'k')) do
    redis.call('EXPIRE', base .. 'r:' .. kind, ttl)
    redis.call('EXPIRE', base .. 'z:' .. kind, ttl)
  end
end
