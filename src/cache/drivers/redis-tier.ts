import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { type CircuitBreaker, CircuitOpen } from '../../lib/circuit-breaker.js'
import { invalidationMessage } from './redis-bus.js'

/**
 * Generations must outlive the longest load: if a key's generation expired during a load and
 * came back equal to what the load first read, a stale fill could slip through. One hour is
 * far beyond any metadata read; each write refreshes it.
 */
const GENERATION_TTL_MS = 60 * 60 * 1000

// KEYS: value, generation. Returns [json | nil, pttl, generation | nil] in one round trip.
const READ = `return { redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) }`

// KEYS: value, generation. ARGV: generation read before the load, json, ttl ms.
const FILL_IF_UNCHANGED = `
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`

// KEYS: value, generation. ARGV: new generation, its ttl, channel, message, [json, ttl ms].
// One script, so no reader can see the new value (or its absence) under the old generation.
const WRITE = `
if ARGV[5] then redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[6]) else redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`

export interface TierRead<V> {
  value: V | undefined
  /** Remaining TTL of the value: an L1 copy must not outlive it. */
  ttlMs: number
  /** The key's write generation when read ('' if never written). */
  generation: string
}

export interface RedisTierOptions {
  prefix: string
  channel: string
  origin: string
  onError: (error: unknown) => void
  /** Every command goes through it when set: an open breaker fails at once instead of waiting. */
  breaker?: CircuitBreaker
}

/**
 * The L2 half of the Redis cache. Stale-write guard: every write (set or delete) stores a fresh
 * random generation token atomically with the value. A fill remembers the generation it saw
 * before calling the loader and stores its result only if the generation is still the same, so a
 * load that read the database before a concurrent write (which invalidates after committing)
 * can never put its old value back into Redis after that write's invalidation.
 */
export function createRedisTier<V>(client: Redis, options: RedisTierOptions) {
  const keysOf = (key: string) =>
    [`${options.prefix}v:${key}`, `${options.prefix}g:${key}`] as const
  // While disconnected every command fails at once; the connection's own 'error' event has
  // already reported that, so only failures of a live connection (timeouts, script errors) are.
  // An open breaker is reported once, when it opens (redis.ts), not on every skipped command.
  const report = (error: unknown) => {
    if (client.status === 'ready' && !(error instanceof CircuitOpen)) options.onError(error)
  }
  const send = <T>(command: () => Promise<T>): Promise<T> =>
    options.breaker ? options.breaker.run(command) : command()

  return {
    /** undefined when Redis did not answer: then L2 can neither be trusted nor safely filled. */
    async read(key: string): Promise<TierRead<V> | undefined> {
      const reply = await send(() => client.eval(READ, 2, ...keysOf(key))).catch(report)
      if (!Array.isArray(reply)) return undefined
      const [json, ttlMs, generation] = reply as [string | null, number, string | null]
      return { value: parse<V>(json), ttlMs, generation: generation ?? '' }
    },

    /** Best effort: a fill that is not stored only costs a later miss. */
    async fill(key: string, value: V, ttlMs: number, generation: string): Promise<void> {
      const args = [generation, JSON.stringify(value), whole(ttlMs)]
      await send(() => client.eval(FILL_IF_UNCHANGED, 2, ...keysOf(key), ...args)).catch(report)
    },

    /** Sets (a value) or deletes (undefined), starts a new generation and publishes the key. */
    async write(key: string, value: V | undefined, ttlMs: number): Promise<void> {
      const message = invalidationMessage(options.origin, key)
      const args = [randomUUID(), GENERATION_TTL_MS, options.channel, message]
      if (value !== undefined) args.push(JSON.stringify(value), whole(ttlMs))
      await send(() => client.eval(WRITE, 2, ...keysOf(key), ...args))
    },
  }
}

export type RedisTier<V> = ReturnType<typeof createRedisTier<V>>

/** A value that does not parse (written by something else) is treated as a miss. */
function parse<V>(json: string | null): V | undefined {
  if (json === null) return undefined
  try {
    return JSON.parse(json) as V
  } catch {
    return undefined
  }
}

/** PX takes a positive integer. */
function whole(ms: number): number {
  return Math.max(1, Math.ceil(ms))
}
