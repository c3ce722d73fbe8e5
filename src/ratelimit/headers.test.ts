import { describe, expect, it } from 'vitest'
import { rateLimitHeaders } from './headers.js'

const rule = { name: 'reads', limit: 600, windowMs: 60_000 }

describe('rateLimitHeaders (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('describes the policy and the service limit of an allowed request, without Retry-After', () => {
    const headers = rateLimitHeaders(rule, {
      allowed: true,
      limit: 600,
      remaining: 123,
      resetMs: 36_200,
      retryAfterMs: 0,
    })
    expect(headers).toEqual({
      'RateLimit-Policy': '"reads";q=600;w=60',
      RateLimit: '"reads";r=123;t=37',
    })
  })

  it('says t=0 for a whole quota', () => {
    const headers = rateLimitHeaders(rule, {
      allowed: true,
      limit: 600,
      remaining: 600,
      resetMs: 0,
      retryAfterMs: 0,
    })
    expect(headers.RateLimit).toBe('"reads";r=600;t=0')
  })

  it('adds Retry-After in whole seconds rounded up on a refusal, and ends the effective window there', () => {
    const headers = rateLimitHeaders(rule, {
      allowed: false,
      limit: 600,
      remaining: 0,
      resetMs: 60_000,
      retryAfterMs: 1_001,
    })
    expect(headers).toEqual({
      'RateLimit-Policy': '"reads";q=600;w=60',
      RateLimit: '"reads";r=0;t=2',
      'Retry-After': '2',
    })
  })

  it('never says Retry-After: 0, which a client would take as "retry at once"', () => {
    const headers = rateLimitHeaders(rule, {
      allowed: false,
      limit: 600,
      remaining: 0,
      resetMs: 50,
      retryAfterMs: 1,
    })
    expect(headers['Retry-After']).toBe('1')
    expect(headers.RateLimit).toBe('"reads";r=0;t=1')
  })

  it('rounds a sub-second window up to w=1: the draft has no sub-second precision', () => {
    const headers = rateLimitHeaders(
      { name: 'burst', limit: 5, windowMs: 500 },
      { allowed: true, limit: 5, remaining: 4, resetMs: 100, retryAfterMs: 0 },
    )
    expect(headers['RateLimit-Policy']).toBe('"burst";q=5;w=1')
  })

  it('escapes the policy name as a structured-field string and refuses what cannot be one', () => {
    const decision = { allowed: true, limit: 1, remaining: 0, resetMs: 1000, retryAfterMs: 0 }
    expect(
      rateLimitHeaders({ name: 'a"b\\c', limit: 1, windowMs: 1000 }, decision)['RateLimit-Policy'],
    ).toBe('"a\\"b\\\\c";q=1;w=1')
    expect(() => rateLimitHeaders({ name: 'é', limit: 1, windowMs: 1000 }, decision)).toThrow(
      RangeError,
    )
  })

  it('matches the sf-list item grammar of both fields', () => {
    const headers = rateLimitHeaders(rule, {
      allowed: false,
      limit: 600,
      remaining: 0,
      resetMs: 60_000,
      retryAfterMs: 100,
    })
    const item = /^"[\x20-\x21\x23-\x5b\x5d-\x7e]*"(;[a-z]+=\d+)+$/
    expect(headers['RateLimit-Policy']).toMatch(item)
    expect(headers.RateLimit).toMatch(item)
  })
})
