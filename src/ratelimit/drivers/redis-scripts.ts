/**
 * The Redis driver's Lua. Each script decides and writes in one atomic step on one key (so it is
 * Redis Cluster safe), and reads the clock with TIME on the server: API processes whose clocks
 * disagree still share one timeline. Since Redis 5, scripts replicate their effects rather than
 * themselves, which is what lets a script write after reading TIME; the guarded
 * `replicate_commands` asks for the same on Redis 3.2 and 4.
 */

const NOW_MS = `
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
`

/**
 * A rate key's state, as every script below reads it: ARGV[1] limit, ARGV[2] windowMs, and the
 * theoretical arrival time in ms (%.17g: a double survives the round trip), never before now.
 * The key expires when the burst is whole again, so idle keys cost nothing.
 */
const STATE = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local eps = 1e-6
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local function msUntil(t)
  local ms = math.ceil(t - now - eps)
  if ms < 0 then return 0 end
  return ms
end
local function remainingAt(t)
  local r = math.floor((window - (t - now)) / interval + eps)
  if r < 0 then return 0 elseif r > limit then return limit end
  return r
end
local function store(t)
  redis.call('SET', KEYS[1], string.format('%.17g', t), 'PX', math.max(1, msUntil(t)))
end
`

/**
 * GCRA, the same arithmetic as src/ratelimit/gcra.ts. ARGV: limit, windowMs, cost.
 * Returns { allowed 0|1, remaining, resetMs, retryAfterMs }.
 */
export const GCRA_LUA = `${NOW_MS}${STATE}
local cost = tonumber(ARGV[3])
local newTat = tat + cost * interval
local allowAt = newTat - window
if allowAt - now > eps then
  return { 0, remainingAt(tat), msUntil(tat), math.max(1, msUntil(allowAt)) }
end
if cost > 0 then store(newTat) end
return { 1, remainingAt(newTat), msUntil(newTat), 0 }
`

/**
 * "Take up to n units" (src/ratelimit/leases.ts): GCRA with cost 1, repeated while it would be
 * allowed and fewer than n are taken, in one step. ARGV: limit, windowMs, n. Returns
 * { granted, remaining, resetMs, retryAfterMs, at }, `at` being Redis's clock (a string: Lua
 * numbers come back as integers); granted 0 is a refusal, as GCRA_LUA's.
 */
export const TAKE_LUA = `${NOW_MS}${STATE}
local want = tonumber(ARGV[3])
local at = string.format('%.17g', now)
local free = remainingAt(tat)
if free < 1 then
  return { 0, 0, msUntil(tat), math.max(1, msUntil(tat + interval - window)), at }
end
local granted = math.min(want, free)
local newTat = tat + granted * interval
store(newTat)
return { granted, free - granted, msUntil(newTat), 0, at }
`

/**
 * Units taken by TAKE_LUA at `at` and never spent, handed back. Other processes' takes since may
 * have started from now rather than from the TAT (a TAT in the past counts as now), which absorbs
 * up to the time elapsed since `at` of these units' intervals: moving the TAT back by more would
 * cancel units they spent. So it moves back by their intervals less that time, never before now.
 * ARGV: limit, windowMs, units, at. Returns the ms the TAT moved back.
 */
export const GIVE_BACK_LUA = `${NOW_MS}${STATE}
local back = tonumber(ARGV[3]) * interval - (now - tonumber(ARGV[4]))
if back <= 0 then return 0 end
if tat - back <= now then
  redis.call('DEL', KEYS[1])
else
  store(tat - back)
end
return math.floor(back)
`

/**
 * Concurrency slots: KEYS[1] is a sorted set, member = the holder's random token, score = the
 * slot's expiry in ms. Expired holders (crashed, never released) are dropped before counting, in
 * the same step, so no sweeper is needed. The set lives as long as its longest slot.
 * ARGV: max, ttlMs, token. Returns 1 when the slot is taken, 0 when all are busy.
 */
export const ACQUIRE_LUA = `${NOW_MS}
now = math.floor(now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
`
