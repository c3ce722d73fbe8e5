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
 * A rate key's state, as every script below reads and writes it. KEYS[1] holds "<tat> <since>":
 * the theoretical arrival time in ms (%.17g: a double survives the round trip) and the instant the
 * state last started from a whole burst (a TAT before now, or no key). `since` tells a give-back
 * whether the TAT it would move back still holds the units it returns: once the TAT fell behind
 * now, those units were replenished already, and moving it back again would cancel units other
 * processes spent since. The key expires when the burst is whole again, so idle keys cost
 * nothing. A value without `since` (written before it existed) reads as its own generation.
 * ARGV[1] limit, ARGV[2] windowMs.
 */
const STATE = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local eps = 1e-6
local interval = window / limit
local stored = redis.call('GET', KEYS[1])
local tat, since
if stored then
  local gap = string.find(stored, ' ', 1, true)
  tat = tonumber(gap and string.sub(stored, 1, gap - 1) or stored)
  since = gap and string.sub(stored, gap + 1) or 'old'
end
if not tat or tat < now then
  tat = now
  since = string.format('%.17g', now)
end
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
  redis.call('SET', KEYS[1], string.format('%.17g', t) .. ' ' .. since, 'PX', math.max(1, msUntil(t)))
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
 * { granted, remaining, resetMs, retryAfterMs, since }; granted 0 is a refusal, as GCRA_LUA's.
 */
export const TAKE_LUA = `${NOW_MS}${STATE}
local want = tonumber(ARGV[3])
local free = remainingAt(tat)
if free < 1 then
  return { 0, 0, msUntil(tat), math.max(1, msUntil(tat + interval - window)), since }
end
local granted = math.min(want, free)
local newTat = tat + granted * interval
store(newTat)
return { granted, free - granted, msUntil(newTat), 0, since }
`

/**
 * Units taken by TAKE_LUA and never spent, handed back: the TAT moves back by their intervals, as
 * if they had never been taken, but only while the state is the one they were taken from (ARGV[4],
 * the take's `since`); otherwise nothing changes. Never before now: a key holds at most a whole
 * burst. ARGV: limit, windowMs, units, since. Returns 1 when the units went back.
 */
export const GIVE_BACK_LUA = `${NOW_MS}${STATE}
if since ~= ARGV[4] then return 0 end
local newTat = tat - tonumber(ARGV[3]) * interval
if newTat <= now then
  redis.call('DEL', KEYS[1])
else
  store(newTat)
end
return 1
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
