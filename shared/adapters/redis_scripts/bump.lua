-- A cluster: the status key lives in another slot, so the bump (KEYS: version, applied; and the legacy applied
-- stamp when the sweep republishes on one node) and then the status (finish.lua; KEYS: status) are two commands.
-- If the status write fails after the bump, the record is retried and its bump finds the same stamp ('same'): the
-- version stays, and the status is written then. Returns {version, outcome, wrote}.
local version, outcome, wrote = bump(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))
return {version, outcome, wrote}
