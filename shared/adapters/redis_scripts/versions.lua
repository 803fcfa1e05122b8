-- The functions the publish, bump and finish scripts call: each of them is this file, then its own lines.
--
-- bump: move the version to the one the committed change stamp stands for (keys.version_for_stamp: `derived`), once
-- per stamp and only upward. The applied stamp is the one the version stands for: a retried bump ('same') and a late
-- publish (an older stamp: 'late') leave the version, so a version changes exactly when the counts did. A new stamp
-- sets `derived`, or one more than the version when something else (the app's own INCR) has already reached it,
-- so the version still changes. A bump that finds the version key gone (evicted, lost in a failover) or holding
-- what is not recount's (not an integer below 2^53, another type) puts back the value the applied stamp stands for
-- ('restored'): stamp_ms below is version_for_stamp's arithmetic, days from the civil date. The applied stamp keeps
-- an older recount (INCR once per new applied stamp) correct during a rollback: its INCRs land between two derived
-- versions. The applied stamp's hash tag is the version key's name, so both live in one cluster slot. `legacy`
-- (one node only) is the applied stamp's name before it had a hash tag: the later of the two stands, and a bump
-- writes both. Stamps are fixed-width ISO-8601 UTC strings: string order is time order. Versions are integers
-- below 2^53, exact in Lua's numbers; '%.0f' writes them without an exponent.
--
-- finish: the final status blob, carrying the version. A late publish ends only its own `running` blob (same
-- request, message and start): a job whose lock query read a stamp just before another run's commit must not
-- leave its status at `running`, nor overwrite the newer run's. Any other publish writes its blob; on a
-- cluster (`guarded`), where the bump and the status are two commands and two publishes may interleave, not
-- over a blob of a newer version. A key of another type or a value that is not JSON is not recount's: a late
-- publish leaves it. cjson writes numbers with 14 digits: the version is spliced in as text.
local ROOM = 1000
local MAX_EXACT = 9007199254740992
local function stamp_ms(stamp)
  local y, mo, d, h, mi, s, ms = string.match(stamp, '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)$')
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(s) * 1000 + tonumber(ms)
end
local function text(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'string' then return value end
  return nil
end
local function bump(version_key, applied_key, legacy_key, stamp, derived)
  local applied = text(applied_key)
  if legacy_key then
    local old = text(legacy_key)
    if old and (not applied or applied < old) then applied = old end
  end
  local stored = text(version_key)
  if stored and not (string.match(stored, '^%d+$') and #stored <= 16 and tonumber(stored) < MAX_EXACT) then
    stored = nil
  end
  local current = tonumber(stored or '0')
  if applied and stamp <= applied then
    local outcome = 'late'
    if applied == stamp then outcome = 'same' end
    local own = stamp_ms(applied)
    if not stored and own then
      current = own * ROOM
      redis.call('SET', version_key, string.format('%.0f', current))
      return current, outcome, 'restored'
    end
    return current, outcome, 'kept'
  end
  local version = derived
  if current > derived or (current == derived and applied) then
    version = current + 1
  end
  redis.call('SET', version_key, string.format('%.0f', version))
  redis.call('SET', applied_key, stamp)
  if legacy_key then redis.call('SET', legacy_key, stamp) end
  return version, 'new', 'moved'
end
local function finish(status_key, blob_json, version, ttl, outcome, guarded)
  local stored = redis.pcall('GET', status_key)
  local blob = cjson.decode(blob_json)
  local decoded, own = false, nil
  if type(stored) == 'string' then decoded, own = pcall(cjson.decode, stored) end
  local ours = decoded and type(own) == 'table'
  if outcome == 'late' then
    local function field(t, k) if t[k] == cjson.null then return nil end return t[k] end
    if not (ours and own['status'] == 'running' and own['requestId'] == blob['requestId']
            and field(own, 'messageId') == field(blob, 'messageId') and own['startedAt'] == blob['startedAt']) then
      return 0
    end
  elseif guarded and ours and type(own['version']) == 'number' and own['version'] > version then
    return 0
  end
  blob['version'] = nil
  local text = string.sub(cjson.encode(blob), 1, -2) .. ',"version":' .. string.format('%.0f', version) .. '}'
  redis.call('SET', status_key, text, 'EX', ttl)
  return 1
end
