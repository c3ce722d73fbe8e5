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
 * GCRA, the same arithmetic as src/ratelimit/gcra.ts. KEYS[1] holds the theoretical arrival time
 * in ms (%.17g: a double survives the round trip) and expires when the key is fully replenished,
 * so idle keys cost nothing. ARGV: limit, windowMs, cost.
 * Returns { allowed 0|1, remaining, resetMs, retryAfterMs }.
 */
export const GCRA_LUA = `${NOW_MS}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local eps = 1e-6
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newTat = tat + cost * interval
local allowAt = newTat - window
local function remainingAt(t)
  local r = math.floor((window - (t - now)) / interval + eps)
  if r < 0 then return 0 elseif r > limit then return limit end
  return r
end
local function msUntil(t)
  local ms = math.ceil(t - now - eps)
  if ms < 0 then return 0 end
  return ms
end
if allowAt - now > eps then
  return { 0, remainingAt(tat), msUntil(tat), math.max(1, msUntil(allowAt)) }
end
if cost > 0 then
  redis.call('SET', KEYS[1], string.format('%.17g', newTat), 'PX', math.max(1, msUntil(newTat)))
end
return { 1, remainingAt(newTat), msUntil(newTat), 0 }
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
