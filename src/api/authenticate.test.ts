import type { FastifyReply, FastifyRequest } from 'fastify'
import { describe, expect, it, vi } from 'vitest'
import type { Authenticator } from '../auth/authenticator.js'
import type { Principal } from '../auth/principal.js'
import type { Sessions } from '../auth/sessions.js'
import { AppError } from '../errors/index.js'
import { authenticate } from './authenticate.js'

type Hook = ReturnType<typeof authenticate>

/** Runs the callback hook as Fastify does; its error, or nothing. */
function run(hook: Hook, request: FastifyRequest): Promise<Error | undefined> {
  return new Promise((resolve) => hook(request, {} as FastifyReply, resolve))
}

function requestWith(headers: Record<string, string>, scope = 'images:read') {
  return {
    headers,
    method: 'GET',
    principal: null,
    routeOptions: { config: { scope }, url: '/v1/images' },
  } as unknown as FastifyRequest
}

const reader: Principal = {
  ownerId: 'owner-a',
  scopes: ['images:read'],
  via: 'api-key',
  keyId: 'k1',
}

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
    expect(await run(hook, request)).toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(onFailure).toHaveBeenCalledTimes(1)
    expect(sessions.verify).not.toHaveBeenCalled()
  })

  it('admits a held credential at once, without the full path, and still checks the scope', async () => {
    const full = vi.fn(async () => reader)
    const authenticator: Authenticator = Object.assign(full, { held: () => reader })
    const hook = authenticate(authenticator, async () => {})
    const request = requestWith({ authorization: 'Bearer pf_x' })
    let answered: unknown = 'not yet'
    hook(request, {} as FastifyReply, (error) => {
      answered = error
    })
    // Called back in the same tick: no promise between the header and the route.
    expect(answered).toBeUndefined()
    expect(request.principal).toBe(reader)
    expect(full).not.toHaveBeenCalled()
    const writer = requestWith({ authorization: 'Bearer pf_x' }, 'images:write')
    expect(await run(hook, writer)).toMatchObject({ code: 'INSUFFICIENT_SCOPE' })
    expect(writer.principal).toBeNull()
  })

  it('takes the full path when nothing is held, refusals and their IP limit included', async () => {
    const onFailure = vi.fn(async () => {})
    let known = true
    const full = vi.fn(async () => {
      if (known) return reader
      throw new AppError('UNAUTHENTICATED', 'The API key is not valid')
    })
    const hook = authenticate(Object.assign(full, { held: () => undefined }), onFailure)
    const request = requestWith({ authorization: 'Bearer pf_x' })
    expect(await run(hook, request)).toBeUndefined()
    expect(request.principal).toBe(reader)
    known = false
    expect(await run(hook, requestWith({ authorization: 'Bearer pf_x' }))).toMatchObject({
      code: 'UNAUTHENTICATED',
    })
    expect(full).toHaveBeenCalledTimes(2)
    expect(onFailure).toHaveBeenCalledTimes(1)
  })

  it('refuses a request whose full path rejects with no error at all', async () => {
    const hook = authenticate(
      Object.assign(async () => Promise.reject(undefined), { held: () => undefined }),
      async () => {},
    )
    const request = requestWith({ authorization: 'Bearer pf_x' })
    expect(await run(hook, request)).toMatchObject({ code: 'INTERNAL' })
    expect(request.principal).toBeNull()
  })
})
