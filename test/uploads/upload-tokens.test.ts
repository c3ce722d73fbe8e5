import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { refusalOf, tusUpload } from './fixtures.js'

/** Upload tokens against the whole pipeline in this process (SQLite control database). */
describe('upload tokens', () => {
  let h: Harness
  let base: string
  let jpeg: Buffer

  beforeAll(async () => {
    // Uploads per owner are limited to 8 in flight by default: enough for the race below.
    h = await startHarness({ PIXELFLOW_UPLOAD_TOKEN_MAX_TTL_SECONDS: '600' })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(h.pf.app.server.address() as AddressInfo).port}`
    jpeg = await makeJpeg(320, 240)
  })
  afterAll(async () => h?.close())

  async function mint(body: Record<string, unknown>, key = h.alice) {
    return h.pf.app.inject({
      method: 'POST',
      url: '/v1/upload-tokens',
      headers: { authorization: `Bearer ${key}` },
      payload: body,
    })
  }
  const tokenOf = async (body: Record<string, unknown> = {}) => {
    const res = await mint(body)
    expect(res.statusCode).toBe(201)
    return res.json().token as string
  }
  const as = (token: string) => ({ authorization: `Bearer ${token}` })

  it('uploads as its owner, with its visibility forced', async () => {
    const token = await tokenOf({ visibility: 'private', expiresInSeconds: 60 })
    expect(token).toMatch(/^pfu_/)
    const res = await h.upload(jpeg, 'image/jpeg', {}, token)
    expect(res.statusCode).toBe(202)
    expect(res.json().visibility).toBe('private')
    // The image is alice's: her key reads it.
    const got = await h.getImage(res.json().id, h.alice)
    expect(got.status).toBe(200)
    // ?visibility=public cannot override the token.
    const asked = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/images?visibility=public',
      payload: jpeg,
      headers: { ...as(token), 'content-type': 'image/jpeg' },
    })
    expect(asked.json().visibility).toBe('private')
  })

  it('cannot read, list, delete or mint: 403 INSUFFICIENT_SCOPE', async () => {
    const token = await tokenOf()
    const id = (await h.upload(jpeg, 'image/jpeg', {}, h.alice)).json().id
    const calls = [
      { method: 'GET', url: `/v1/images/${id}` },
      { method: 'GET', url: '/v1/images' },
      { method: 'DELETE', url: `/v1/images/${id}` },
      { method: 'POST', url: '/v1/upload-tokens', payload: {} },
    ] as const
    for (const call of calls) {
      const res = await h.pf.app.inject({ ...call, headers: as(token) })
      expect(res.statusCode, `${call.method} ${call.url}`).toBe(403)
      expect(res.json().code).toBe('INSUFFICIENT_SCOPE')
    }
    expect((await h.getImage(id)).status).toBe(200)
  })

  it('enforces maxBytes per upload, on POST /v1/images and on tus', async () => {
    const token = await tokenOf({ maxBytes: jpeg.length - 1 })
    const res = await h.upload(jpeg, 'image/jpeg', {}, token)
    expect(res.statusCode).toBe(413)
    expect(res.json().code).toBe('UPLOAD_TOO_LARGE')
    const refused = await tusUpload(jpeg, { endpoint: `${base}/v1/tus`, token }).then(
      () => expect.fail('accepted'),
      refusalOf,
    )
    expect(refused).toMatchObject({ status: 413, body: { code: 'UPLOAD_TOO_LARGE' } })
    // Bytes this owner never uploaded (a duplicate would answer the existing image).
    const fresh = await makeJpeg(301, 201)
    const fits = await tokenOf({ maxBytes: fresh.length })
    expect((await h.upload(fresh, 'image/jpeg', {}, fits)).statusCode).toBe(202)
  })

  it('maxUploads holds under concurrency: 8 uploads at once with 3 allowed make 3 images', async () => {
    const token = await tokenOf({ maxUploads: 3 })
    // Different bytes each, so that no dedupe hides a second image.
    const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => makeJpeg(200 + i, 150)))
    const results = await Promise.all(
      bodies.map((body) =>
        fetch(`${base}/v1/images`, {
          method: 'POST',
          headers: { ...as(token), 'content-type': 'image/jpeg' },
          body,
        }).then(async (res) => ({ status: res.status, body: await res.json() })),
      ),
    )
    const accepted = results.filter((r) => r.status === 202)
    const refused = results.filter((r) => r.status !== 202)
    expect(accepted).toHaveLength(3)
    expect(new Set(accepted.map((r) => r.body.id)).size).toBe(3)
    expect(refused.map((r) => [r.status, r.body.code])).toEqual(
      Array(5).fill([403, 'UPLOAD_TOKEN_EXHAUSTED']),
    )
    // tus counts from the same uses.
    const tus = await tusUpload(jpeg, { endpoint: `${base}/v1/tus`, token }).then(
      () => expect.fail('accepted'),
      refusalOf,
    )
    expect(tus).toMatchObject({ status: 403, body: { code: 'UPLOAD_TOKEN_EXHAUSTED' } })
  })

  it('a refused upload gives its use back', async () => {
    const token = await tokenOf({ maxUploads: 1 })
    const bad = await h.upload(Buffer.from('not an image'), 'application/octet-stream', {}, token)
    expect(bad.json().code).toBe('UNSUPPORTED_MEDIA_TYPE')
    const badTus = await tusUpload(Buffer.from('not an image either'), {
      endpoint: `${base}/v1/tus`,
      token,
    }).then(() => expect.fail('accepted'), refusalOf)
    expect(badTus.body.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    const good = await tusUpload(jpeg, { endpoint: `${base}/v1/tus`, token })
    expect(good.status).toBe(200)
    expect((await h.upload(jpeg, 'image/jpeg', {}, token)).json().code).toBe(
      'UPLOAD_TOKEN_EXHAUSTED',
    )
  })

  it('an expired, forged or foreign token is 401', async () => {
    const token = await tokenOf({ expiresInSeconds: 1 })
    await sleep(2100)
    const expired = await h.upload(jpeg, 'image/jpeg', {}, token)
    expect(expired.statusCode).toBe(401)
    expect(expired.json().detail).toMatch(/expired/)
    const live = await tokenOf()
    const [head, payload, sig] = live.slice(4).split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forged = `pfu_${head}.${Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')}.${sig}`
    expect((await h.upload(jpeg, 'image/jpeg', {}, forged)).statusCode).toBe(401)
    // A plain JWT signed with the same derived key is no API JWT and no other kind of token.
    expect((await h.upload(jpeg, 'image/jpeg', {}, live.slice(4))).statusCode).toBe(401)
  })

  it('refuses a lifetime over the cap, or maxBytes over the server limit', async () => {
    const long = await mint({ expiresInSeconds: 601 })
    expect(long.statusCode).toBe(400)
    const big = await mint({ maxBytes: h.config.limits.maxUploadBytes + 1 })
    expect(big.statusCode).toBe(400)
  })
})
