import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RateLimitConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import { clientKey } from '../ratelimit/client-key.js'
import { rateLimitHeaders } from '../ratelimit/headers.js'
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../ratelimit/rate-limiter.js'
import { type HookDone, settleHook } from './callback-hook.js'

/** Which limit a route spends from: every /v1 route names one. */
export type RateClass = 'read' | 'upload'

declare module 'fastify' {
  interface FastifyContextConfig {
    rateClass?: RateClass
  }
}

/** An upload slot left behind by a crashed process frees itself after this long. */
const UPLOAD_SLOT_TTL_MS = 10 * 60_000

export function createRateLimits(limiter: RateLimiter, config: RateLimitConfig) {
  const rule = (name: string, limit: number): RateLimitRule | null =>
    limit > 0 ? { name, limit, windowMs: config.windowMs } : null
  const rules = {
    read: rule('reads', config.reads),
    upload: rule('uploads', config.uploads),
    anonymous: rule('anonymous', config.anonymous),
  }

  /** Sets the RateLimit headers of a decision; the refusal when it allows nothing. */
  function answer(reply: FastifyReply, rule: RateLimitRule, decision: RateLimitDecision) {
    reply.headers(rateLimitHeaders(rule, decision))
    if (decision.allowed) return undefined
    return new AppError(
      'RATE_LIMITED',
      `Too many requests: the ${rule.name} limit is ${rule.limit} per ${rule.windowMs / 1000} s`,
    )
  }

  /** Spends one unit of `rule` for `key`, sets the RateLimit headers, and refuses with 429 when none is left. */
  async function spend(
    reply: FastifyReply,
    rule: RateLimitRule | null,
    key: string,
  ): Promise<void> {
    if (!rule) return
    const refusal = answer(reply, rule, await limiter.consume(key, rule))
    if (refusal) throw refusal
  }

  /** At most N uploads of one owner in flight; the slot is freed when the response ends. */
  async function holdUploadSlot(ownerId: string, reply: FastifyReply): Promise<void> {
    const slot = await limiter.acquire(
      `uploads:${ownerId}`,
      config.concurrentUploads,
      UPLOAD_SLOT_TTL_MS,
    )
    if (!slot.acquired)
      throw new AppError(
        'RATE_LIMITED',
        `At most ${config.concurrentUploads} uploads at once per owner`,
      )
    // Freed when the response is sent or the client goes away, whichever comes first.
    reply.raw.once('close', () => void slot.release().catch(() => {}))
  }

  /** The per-owner limits of a request whose unit may not be held: the limit, then an upload slot. */
  async function spendPerOwner(reply: FastifyReply, ownerId: string, rateClass: RateClass) {
    await spend(reply, rules[rateClass], `owner:${ownerId}`)
    if (rateClass === 'upload' && config.concurrentUploads > 0) await holdUploadSlot(ownerId, reply)
  }

  return {
    /**
     * onRequest, after authentication: per-owner limits, and at most N uploads of one owner in
     * flight. A callback hook: a read whose unit the limiter holds (the memory driver's always,
     * a Redis lease's most of the time) is answered in the same tick, without a promise.
     */
    perOwner(request: FastifyRequest, reply: FastifyReply, done: HookDone): void {
      const ownerId = request.principal?.ownerId
      const rateClass = request.routeOptions.config.rateClass
      if (!ownerId || !rateClass) {
        done(new AppError('INTERNAL', `Route ${request.routeOptions.url} declares no rate class`))
        return
      }
      if (rateClass === 'read') {
        const rule = rules.read
        if (!rule) {
          done()
          return
        }
        const held = limiter.spendHeld?.(`owner:${ownerId}`, rule)
        if (held) {
          done(answer(reply, rule, held))
          return
        }
      }
      settleHook(spendPerOwner(reply, ownerId, rateClass), done)
    },

    /**
     * Per client IP (IPv6 per /64), for routes without credentials and for failed authentication
     * (guessing keys).
     */
    perIp: (request: FastifyRequest, reply: FastifyReply) =>
      spend(reply, rules.anonymous, `ip:${clientKey(request.ip)}`),
  }
}

export type RateLimits = ReturnType<typeof createRateLimits>
