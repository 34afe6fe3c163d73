-- append: the hot path, kept lean. One declared key (the header; the others are derived
-- from it and share its hash tag, as record keys do), and type checks riding on the
-- commands themselves (pcall) instead of a TYPE per key. A foreign key is still refused
-- before anything is written: the header is set last. ARGV: ttl, header_if_new, id, line, ...
local h = KEYS[1]
local base = string.sub(h, 1, -2)
local e, i, k = base .. 'e', base .. 'i', base .. 'k'
local ttl = tonumber(ARGV[1])
local hlen = redis.pcall('STRLEN', h)
if type(hlen) == 'table' then return failed(hlen, h, 'string') end
local n = redis.pcall('LLEN', e)
if type(n) == 'table' then return failed(n, e, 'list') end
local kinds = nil
if ttl > 0 then
  kinds = redis.pcall('SMEMBERS', k)
  if kinds['err'] then return failed(kinds, k, 'set') end
end
local added = 0
for j = 3, #ARGV, 2 do
  local fresh = redis.pcall('HSETNX', i, ARGV[j], n + added)
  if type(fresh) == 'table' then return failed(fresh, i, 'hash') end
  if fresh == 1 then
    redis.call('RPUSH', e, ARGV[j + 1])
    added = added + 1
  end
end
if hlen == 0 then redis.call('SET', h, ARGV[2]) end
touch(base, ttl, kinds)
return added
