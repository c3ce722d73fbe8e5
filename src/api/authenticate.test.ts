import type { FastifyReply, FastifyRequest } from 'fastify'
import { describe, expect, it, vi } from 'vitest'
import type { Sessions } from '../auth/sessions.js'
import { AppError } from '../errors/index.js'
import { authenticate } from './authenticate.js'

describe('authenticate', () => {
  it('spends from the IP limit on a refused pair of session cookies, like any refusal', async () => {
    const onFailure = vi.fn(async () => {})
    const sessions = { verify: vi.fn() } as unknown as Sessions
    const hook = authenticate(
      async () => {
        throw new AppError('UNAUTHENTICATED', 'no credential')
      },
      onFailure,
      sessions,
    )
    const request = {
      headers: { cookie: 'pf_session=a; pf_session=b' },
      cookies: { pf_session: 'a' },
      method: 'GET',
      routeOptions: { config: { scope: 'images:read' }, url: '/v1/session' },
    } as unknown as FastifyRequest
    await expect(hook(request, {} as FastifyReply)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    })
    expect(onFailure).toHaveBeenCalledTimes(1)
    expect(sessions.verify).not.toHaveBeenCalled()
  })
})
