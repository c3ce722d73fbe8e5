import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { type Server, startServer } from './server.js'

/** Finding 9: request logs never hold a URL signature or any other credential. */
describe('credentials are redacted from logs (finding 9)', () => {
  let s: Server
  beforeAll(async () => {
    s = await startServer()
  })
  afterAll(() => s.close())

  it('a signed private URL is logged without its signature; keys and tokens neither', async () => {
    const auth = { authorization: `Bearer ${s.key}` }
    const up = await fetch(`${s.url}/v1/images?visibility=private`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await makeJpeg(64, 64)),
    })
    expect(up.status).toBe(202)
    const { id } = (await up.json()) as { id: string }
    const image = await eventually(
      async () => {
        const body = (await (
          await fetch(`${s.url}/v1/images/${id}`, { headers: auth })
        ).json()) as any
        return body.status === 'ready' ? body : null
      },
      { timeoutMs: 30_000, message: 'the image is ready' },
    )
    const signed = new URL(image.variants[0].url)
    const sig = signed.searchParams.get('sig')!
    const path = `${signed.pathname}${signed.search}`
    expect((await fetch(`${s.url}${path}`)).status).toBe(200)
    // Credentials in places a client might put them: the query and the headers.
    await fetch(`${s.url}/v1/images?token=tok-secret-1234&key=key-secret-5678&limit=1`, {
      headers: auth,
    })
    await fetch(`${s.url}/no/such/route?sig=${sig}&access_token=at-secret-9012`)

    const raw = s.rawLogs()
    expect(raw).toContain(signed.pathname) // the request is still logged…
    for (const secret of [sig, s.key, 'tok-secret-1234', 'key-secret-5678', 'at-secret-9012'])
      expect(raw, `${secret} appears in the log`).not.toContain(secret)
    // …with its other parameters intact, so the log stays useful.
    expect(raw).toMatch(/limit=1/)
    expect(raw).toMatch(/sig=%5BREDACTED%5D|sig=\[REDACTED\]/)
  })
})
