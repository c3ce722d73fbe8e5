import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RateLimitConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import { clientKey } from '../ratelimit/client-key.js'
import { rateLimitHeaders } from '../ratelimit/headers.js'
import type { RateLimiter, RateLimitRule } from '../ratelimit/rate-limiter.js'

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

  /** Spends one unit of `rule` for `key`, sets the RateLimit headers, and refuses with 429 when none is left. */
  async function spend(
    reply: FastifyReply,
    rule: RateLimitRule | null,
    key: string,
  ): Promise<void> {
    if (!rule) return
    const decision = await limiter.consume(key, rule)
    reply.headers(rateLimitHeaders(rule, decision))
    if (!decision.allowed)
      throw new AppError(
        'RATE_LIMITED',
        `Too many requests: the ${rule.name} limit is ${rule.limit} per ${rule.windowMs / 1000} s`,
      )
  }

  return {
    /** onRequest, after authentication: per-owner limits, and at most N uploads of one owner in flight. */
    async perOwner(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const ownerId = request.principal?.ownerId
      const rateClass = request.routeOptions.config.rateClass
      if (!ownerId || !rateClass)
        throw new AppError('INTERNAL', `Route ${request.routeOptions.url} declares no rate class`)
      await spend(reply, rules[rateClass], `owner:${ownerId}`)
      if (rateClass !== 'upload' || config.concurrentUploads === 0) return
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
