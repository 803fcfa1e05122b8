-- One node: the bump and the final status in one round trip. KEYS: version, applied, status, legacy applied.
local version, outcome = bump(KEYS[1], KEYS[2], KEYS[4], ARGV[1], tonumber(ARGV[2]))
finish(KEYS[3], ARGV[3], version, tonumber(ARGV[4]), outcome, false)
return version
