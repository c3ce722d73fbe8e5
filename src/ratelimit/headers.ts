import type { RateLimitDecision, RateLimitRule } from './rate-limiter.js'

export type RateLimitHeaders = Record<'RateLimit-Policy' | 'RateLimit', string> & {
  'Retry-After'?: string
}

/**
 * The response fields of draft-ietf-httpapi-ratelimit-headers-11 (2026-05-23), structured-field
 * lists (RFC 9651) with one item per policy:
 *   RateLimit-Policy: "<name>";q=<limit>;w=<window s>   (§3: quota and window, stable over responses)
 *   RateLimit: "<name>";r=<remaining>;t=<s>              (§4: the service limit now)
 * plus Retry-After (RFC 9110 §10.2.3) on a refusal.
 *
 * `t` is the draft's "effective window", in whole seconds rounded up (the draft has no
 * sub-second precision; a client told to wait 0 s would retry at once). When the request is
 * allowed it is the time until the quota is whole again (`resetMs`). When it is refused, the
 * effective window ends when this request would be allowed: t = Retry-After, which also keeps the
 * §6 rule that Retry-After must not point before the end of the effective window. (r can be above
 * 0 on a refusal: a request that costs more than what is left.)
 * Several policies on one response: join each field's values with ', ' (an SF list).
 */
export function rateLimitHeaders(
  rule: RateLimitRule,
  decision: RateLimitDecision,
): RateLimitHeaders {
  const { name, policy } = policyOf(rule)
  const headers: RateLimitHeaders = {
    'RateLimit-Policy': policy,
    RateLimit: `${name};r=${decision.remaining};t=${seconds(decision.resetMs)}`,
  }
  if (decision.allowed) return headers
  const retryAfter = String(Math.max(1, seconds(decision.retryAfterMs)))
  headers.RateLimit = `${name};r=${decision.remaining};t=${retryAfter}`
  headers['Retry-After'] = retryAfter
  return headers
}

/** A rule is read-only (RateLimitRule): its name and policy field are made once, not per response. */
const policies = new WeakMap<RateLimitRule, { name: string; policy: string }>()

function policyOf(rule: RateLimitRule): { name: string; policy: string } {
  let made = policies.get(rule)
  if (!made) {
    const name = sfString(rule.name)
    const windowSeconds = Math.max(1, Math.ceil(rule.windowMs / 1000)) // §3.1.3: w is a non-zero integer
    made = { name, policy: `${name};q=${rule.limit};w=${windowSeconds}` }
    policies.set(rule, made)
  }
  return made
}

function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000))
}

/** An RFC 9651 sf-string: printable ASCII, with `\` and `"` escaped. */
function sfString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value))
    throw new RangeError(`rate-limit policy name is not printable ASCII: ${JSON.stringify(value)}`)
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}
