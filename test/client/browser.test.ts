import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type ClientServer, startClientServer } from './server.js'

const CHROMIUM = process.env.PIXELFLOW_TEST_CHROMIUM ?? '/usr/bin/chromium'
const ENTRY = new URL('../../packages/client/src/index.ts', import.meta.url).pathname

/** The page loads the bundle as an application would and hands the module to the test. */
const PAGE = `<!doctype html><title>client test</title>
<script type="module">import * as pixelflow from '/client.js'; window.pixelflow = pixelflow</script>`

if (!existsSync(CHROMIUM))
  console.warn(`browser client test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`)

/**
 * The client bundled for a browser (esbuild, as an application would bundle it), on a page of
 * another origin than the API: CORS, XMLHttpRequest upload progress and fetch-streamed events
 * as a real Chromium runs them.
 */
describe.skipIf(!existsSync(CHROMIUM))('the client in a browser', () => {
  let s: ClientServer
  let page: Server
  let pageUrl: string
  let browser: Browser

  beforeAll(async () => {
    s = await startClientServer()
    const bundle = await build({
      entryPoints: [ENTRY],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
    })
    const script = bundle.outputFiles[0]!.text
    expect(script).not.toMatch(/from ['"]node:/)
    page = createServer((request, response) => {
      if (request.url === '/client.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
      } else {
        response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      }
    })
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve))
    // localhost, not 127.0.0.1: another origin than the API, as a real web app would be.
    pageUrl = `http://localhost:${(page.address() as { port: number }).port}/`
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })
  afterAll(async () => {
    await browser?.close()
    await new Promise((resolve) => page?.close(resolve))
    await s?.close()
  })

  it('uploads a Blob with progress from a page on another origin and waits until ready', async () => {
    const bytes = await makeJpeg(1200, 900)
    const tab = await browser.newPage()
    await tab.goto(pageUrl)
    await tab.waitForFunction(() => (window as any).pixelflow !== undefined)
    const result = await tab.evaluate(
      async ({ apiUrl, apiKey, base64 }) => {
        const { createClient } = (window as any).pixelflow
        // Upload progress in a browser comes from XMLHttpRequest: count that it is used.
        let xhrs = 0
        const open = XMLHttpRequest.prototype.open
        XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, ...args: any[]) {
          xhrs++
          return (open as any).apply(this, args)
        }
        const client = createClient({ baseUrl: apiUrl, apiKey })
        const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
        const progress: { loaded: number; total?: number }[] = []
        const image = await client.upload(new Blob([data], { type: 'image/jpeg' }), {
          onProgress: (p: { loaded: number; total?: number }) => progress.push(p),
        })
        const ready = await client.waitUntilReady(image.id, { timeoutMs: 30_000 })
        const refused = await client
          .upload(new Blob(['not an image'], { type: 'image/png' }))
          .catch((e: { name: string; code: string; status: number; requestId?: string }) => ({
            name: e.name,
            code: e.code,
            status: e.status,
            requestId: e.requestId,
          }))
        return { origin: location.origin, image, ready, progress, refused, xhrs }
      },
      { apiUrl: s.url, apiKey: s.h.alice, base64: bytes.toString('base64') },
    )
    expect(result.origin).not.toBe(s.url)
    expect(result.image).toMatchObject({ status: 'queued', bytes: bytes.length })
    expect(result.ready).toMatchObject({ id: result.image.id, status: 'ready' })
    expect(result.xhrs).toBe(1)
    expect(result.progress.length).toBeGreaterThan(0)
    expect(result.progress.at(-1)).toEqual({ loaded: bytes.length, total: bytes.length })
    expect(result.refused).toMatchObject({
      name: 'PixelflowError',
      code: 'UNSUPPORTED_MEDIA_TYPE',
      status: 415,
    })
    expect(result.refused.requestId).toMatch(/.+/)
    await tab.close()
  })
})
