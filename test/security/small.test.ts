import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type Server, startServer } from './server.js'

/** Finding 11: the small ones. */
describe('small findings (finding 11)', () => {
  let s: Server
  let jpeg: Buffer
  beforeAll(async () => {
    s = await startServer({
      // 127.0.0.1 (this test) is the trusted proxy, so X-Forwarded-For names the client.
      PIXELFLOW_TRUST_PROXY: '127.0.0.1',
      PIXELFLOW_RATE_LIMIT_ANONYMOUS: '3',
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    jpeg = await makeJpeg(64, 64)
  })
  afterAll(() => s.close())

  const auth = () => ({ authorization: `Bearer ${s.key}` })
  const upload = async (body: Buffer, type: string, query = '') => {
    const res = await fetch(`${s.url}/v1/images${query}`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': type },
      body: new Uint8Array(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }

  it('a refused upload and a delete leave no empty images/<id>/ folder', async () => {
    const refused = await upload(Buffer.from('not an image at all\n'.repeat(10)), 'image/jpeg')
    expect(refused.status).toBe(415)
    expect(await s.storeEntries()).toEqual([])
    const accepted = await upload(jpeg, 'image/jpeg')
    expect(accepted.status).toBe(202)
    expect(await s.storeEntries()).toEqual([
      'images/',
      `images/${accepted.body.id}/`,
      `images/${accepted.body.id}/original`,
    ])
    const deleted = await fetch(`${s.url}/v1/images/${accepted.body.id}`, {
      method: 'DELETE',
      headers: auth(),
    })
    expect(deleted.status).toBe(204)
    expect(await s.storeEntries()).toEqual([])
  })

  it('the CORS preflight allows DELETE', async () => {
    const res = await fetch(`${s.url}/v1/images/someid`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'authorization',
      },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-methods')).toMatch(/\bDELETE\b/)
  })

  it('IPv6 clients are limited per /64, not per address', async () => {
    const statuses: number[] = []
    for (let i = 1; i <= 5; i++) {
      const res = await fetch(`${s.url}/openapi.json`, {
        headers: { 'x-forwarded-for': `2001:db8:aa:bb::${i.toString(16)}` },
      })
      statuses.push(res.status)
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    // Another /64 is another client.
    const other = await fetch(`${s.url}/openapi.json`, {
      headers: { 'x-forwarded-for': '2001:db8:aa:cc::1' },
    })
    expect(other.status).toBe(200)
  })

  it('an unsigned URL of a private image answers exactly like a missing image, status unrevealed', async () => {
    const priv = await upload(jpeg, 'image/jpeg', '?visibility=private')
    expect(priv.status).toBe(202)
    expect(priv.body.status).toBe('queued') // no worker here: it stays queued
    let client = 0
    const get = async (path: string) => {
      // Each from its own address: this test is not about the per-IP limit of 3.
      const from = `10.9.9.${++client}`
      const res = await fetch(`${s.url}${path}`, { headers: { 'x-forwarded-for': from } })
      const body = (await res.json()) as any
      return { status: res.status, code: body.code }
    }
    const missing = await get('/i/01m8j61pb6298v8qvprnfs9ff879s/thumb.webp')
    const unsigned = await get(`/i/${priv.body.id}/thumb.webp`)
    expect(missing).toEqual({ status: 404, code: 'IMAGE_NOT_FOUND' })
    expect(unsigned).toEqual(missing)
    // A forged signature is refused before the image is looked at: the same for both.
    const forged = '?exp=9999999999&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
    const forgedMissing = await get(`/i/01m8j61pb6298v8qvprnfs9ff879s/thumb.webp${forged}`)
    const forgedPrivate = await get(`/i/${priv.body.id}/thumb.webp${forged}`)
    expect(forgedPrivate).toEqual({ status: 403, code: 'SIGNATURE_INVALID' })
    expect(forgedMissing).toEqual(forgedPrivate)
  })
})
