import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CHROMIUM = process.env.PIXELFLOW_TEST_CHROMIUM ?? '/usr/bin/chromium'
const PAGE = fileURLToPath(new URL('./fixtures/store-page.ts', import.meta.url))

/**
 * The dashboard's stores (ui/src/lib/store.ts) in a real Chromium. A component subscribes in an
 * effect, which runs after the first paint: a value set in between must still show. It did not,
 * and a reload after signing out stayed on "Loading…" whenever GET /v1/session answered first.
 */
describe.skipIf(!existsSync(CHROMIUM))('useStore in a browser', () => {
  let browser: Browser
  let script: string
  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [PAGE],
      bundle: true,
      write: false,
      format: 'iife',
      logLevel: 'warning',
    })
    script = bundle.outputFiles[0]!.text
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })
  afterAll(async () => {
    await browser?.close()
  })

  it('shows a value set after the first render and before the component subscribed', async () => {
    const page = await browser.newPage()
    await page.setContent('<div id="app"></div>')
    await page.addScriptTag({ content: script })
    await expect.poll(() => page.locator('#shown').textContent(), { timeout: 2_000 }).toBe('after')
    await page.close()
  })
})
