-- A cluster, after bump.lua: the final status. KEYS: status. ARGV: blob, version, ttl, the bump's outcome.
return finish(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], true)
