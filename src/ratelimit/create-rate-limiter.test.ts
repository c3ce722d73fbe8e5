import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createRateLimiter } from './create-rate-limiter.js'
import { RATE_LIMITER_UNAVAILABLE } from './resilient.js'

/** A port with nothing listening: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

const rule = { name: 'r', limit: 1, windowMs: 60_000 }

describe('createRateLimiter', () => {
  it('builds the in-process limiter for driver memory', async () => {
    const limiter = createRateLimiter({ driver: 'memory' })
    expect(limiter.driver).toBe('memory')
    expect((await limiter.consume('k', rule)).allowed).toBe(true)
    await limiter.close()
  })

  it('wraps redis so that an unreachable server falls back (open) or refuses (closed)', async () => {
    const url = `redis://127.0.0.1:${await closedPort()}`
    const failures: unknown[] = []
    const open = createRateLimiter(
      { driver: 'redis', url, prefix: 'pixelflow-test:', failurePolicy: 'open', timeoutMs: 200 },
      { onFailure: (e) => failures.push(e) },
    )
    const closed = createRateLimiter({
      driver: 'redis',
      url,
      prefix: 'pixelflow-test:',
      failurePolicy: 'closed',
      timeoutMs: 200,
    })
    expect(open.driver).toBe('redis')
    // Timing is resilient.test.ts's business; here, the wiring of policy, fallback and hook.
    expect(await open.consume('k', rule)).toMatchObject({ allowed: true, remaining: 0 })
    await expect(closed.consume('k', rule)).rejects.toMatchObject({
      code: RATE_LIMITER_UNAVAILABLE,
    })
    expect(failures).toHaveLength(1)
    await Promise.all([open.close(), closed.close()])
  })
})
