import { randomUUID } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { assertAcquirable, assertConsumable, gcra } from '../gcra.js'
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../rate-limiter.js'
import { acquiredSlot, NOT_ACQUIRED } from '../slot.js'

export interface MemoryRateLimiterOptions {
  now?: () => number
  /** Keys remembered at once, per kind (rates, concurrency). lru-cache allocates for all of them up front. */
  maxKeys?: number
}

const DEFAULT_MAX_KEYS = 100_000

/**
 * One process's limits: the embedded default, and the resilient wrapper's fallback when Redis
 * fails. Memory is bounded by an LRU of keys rather than a sweeper: forgetting the least recently
 * used key only ever forgets a limit in the client's favour, and a key idle for a full window
 * holds nothing worth keeping anyway. No timers, so it never keeps a process alive.
 */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now
  const max = options.maxKeys ?? DEFAULT_MAX_KEYS
  const tats = new LRUCache<string, number>({ max })
  const slots = new LRUCache<string, Map<string, number>>({ max })

  /** Every unit is this process's own: spending one never waits. */
  function spend(key: string, rule: RateLimitRule, cost: number): RateLimitDecision {
    assertConsumable(rule, cost)
    const stateKey = `${rule.name}\u0000${key}`
    const { decision, tat } = gcra(tats.get(stateKey), now(), rule, cost)
    if (tat !== null) tats.set(stateKey, tat)
    return decision
  }

  return {
    driver: 'memory',
    async consume(key, rule, cost = 1) {
      return spend(key, rule, cost)
    },
    spendHeld: (key, rule) => spend(key, rule, 1),
    async acquire(key, maxHolders, ttlMs) {
      assertAcquirable(maxHolders, ttlMs)
      const at = now()
      const holders = liveHolders(slots.get(key), at)
      if (holders.size >= maxHolders) return NOT_ACQUIRED
      const token = randomUUID()
      holders.set(token, at + ttlMs)
      slots.set(key, holders)
      return acquiredSlot(async () => forget(key, token))
    },
    async close() {
      tats.clear()
      slots.clear()
    },
  }

  function forget(key: string, token: string): void {
    const holders = slots.peek(key)
    if (!holders?.delete(token) || holders.size > 0) return
    slots.delete(key)
  }
}

/** Drops the slots whose holder never released them (it crashed or forgot) before counting. */
function liveHolders(holders: Map<string, number> | undefined, at: number): Map<string, number> {
  const live = holders ?? new Map<string, number>()
  for (const [token, expiresAt] of live) if (expiresAt <= at) live.delete(token)
  return live
}
