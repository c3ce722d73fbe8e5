import { describe, expect, it } from 'vitest'
import { createClient } from '../../packages/client/src/index.js'

/** What each request carried, answered with an empty image page. */
function recordingFetch() {
  const sent: { url: string; headers: Record<string, string> }[] = []
  const fetch = (async (url: string, init: RequestInit) => {
    sent.push({ url, headers: { ...(init.headers as Record<string, string>) } })
    return new Response(JSON.stringify({ items: [], nextCursor: null, links: {} }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    })
  }) as typeof globalThis.fetch
  return { sent, fetch }
}

/** The `headers` option: how a same-origin page signed in with a cookie sends its CSRF token. */
describe('client: headers option', () => {
  it('reads a function at every request, so a token set after creation is sent', async () => {
    const { sent, fetch } = recordingFetch()
    let csrf = 'first'
    const client = createClient({
      baseUrl: 'http://pixelflow.test',
      fetch,
      headers: () => ({ 'X-CSRF-Token': csrf }),
    })
    await client.images.list()
    csrf = 'second'
    await client.images.list()
    expect(sent.map((s) => s.headers['x-csrf-token'])).toEqual(['first', 'second'])
    // No credential given: the page's cookie is the credential, no Authorization header.
    expect(sent[0]!.headers.authorization).toBeUndefined()
  })

  it('takes a plain object, sent beside the credential', async () => {
    const { sent, fetch } = recordingFetch()
    const client = createClient({
      baseUrl: 'http://pixelflow.test',
      apiKey: 'pf_key',
      fetch,
      headers: { 'x-extra': 'yes' },
    })
    await client.images.list()
    expect(sent[0]!.headers).toMatchObject({ 'x-extra': 'yes', authorization: 'Bearer pf_key' })
  })
})
