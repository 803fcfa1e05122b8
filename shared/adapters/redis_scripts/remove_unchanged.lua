-- ARGV: member, score, member, score, ...: ZREM each member whose score is still the text read (ZSCORE and ZRANGE
-- WITHSCORES format a score alike), so a report that lands between the sweep's read and its removal survives.
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
