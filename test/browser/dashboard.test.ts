import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'

const CHROMIUM = process.env.PIXELFLOW_TEST_CHROMIUM ?? '/usr/bin/chromium'
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CORPUS = '/work/shared/corpus/photos'
/** `npm run screenshots` sets it: each main screen is saved under docs/screenshots/. */
const SCREENSHOTS =
  process.env.PIXELFLOW_SCREENSHOTS === '1' ? join(ROOT, 'docs/screenshots') : null

if (!existsSync(CHROMIUM))
  console.warn(
    `dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`,
  )

/**
 * Failures the page is expected to meet, which Chromium logs as console errors on its own: the
 * first GET /v1/session before signing in (401), and the bad file's refusal (415).
 */
const EXPECTED_FAILURES = [/\b401\b.*\/v1\/session$/, /\b415\b.*\/v1\/images$/]

/** The n smallest photos of the corpus (or the repository's fixtures), smallest first. */
async function smallPhotos(n = 3): Promise<string[]> {
  const dir = existsSync(CORPUS) ? CORPUS : join(ROOT, 'test/fixtures/photos')
  const names = (await readdir(dir)).filter((n) => /\.(jpe?g|png|webp)$/i.test(n))
  const sized = await Promise.all(
    names.map(async (n) => ({ path: join(dir, n), size: (await stat(join(dir, n))).size })),
  )
  return sized
    .sort((a, b) => a.size - b.size)
    .slice(0, n)
    .map((s) => s.path)
}

/**
 * The dashboard in a real Chromium against the real binary (`node dist/start/main.js serve`, as
 * npm start runs it, after npm run build): sign in with an admin key, upload three photos and a
 * bad file, watch them become ready, open one, copy a URL and fetch it, delete it, look at the
 * operator view, sign out. No console error, page error or CSP violation on the way.
 */
describe.skipIf(!existsSync(CHROMIUM))('the dashboard in a browser', { timeout: 120_000 }, () => {
  let dataDir: string
  let server: ServeProcess
  let browser: Browser
  let page: Page
  let base: string
  let key: string
  const problems: string[] = []
  const expected = [...EXPECTED_FAILURES]

  beforeAll(async () => {
    for (const built of ['dist/start/main.js', 'ui/dist/index.html'])
      if (!existsSync(join(ROOT, built)))
        throw new Error(`${built} is missing: npm run build first`)
    dataDir = await mkdtemp(join(tmpdir(), 'pf-dashboard-'))
    const env = { PIXELFLOW_DATA_DIR: dataDir, PIXELFLOW_LOG_LEVEL: 'warn' }
    key = cli(
      env,
      'keys',
      'create',
      '--owner',
      'dash',
      '--scopes',
      'admin,images:read,images:write',
    )
    const port = await freePort()
    // localhost: Chromium keeps a Secure cookie on http://localhost, and the links match the page.
    base = `http://localhost:${port}`
    server = await startRole({ ...env, PIXELFLOW_PUBLIC_URL: base }, port)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    const context = await browser.newContext({ viewport: { width: 1200, height: 860 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
    page = await context.newPage()
    watchProblems(page, problems, expected)
    if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true })
  })
  afterAll(async () => {
    await browser?.close()
    server?.child.kill('SIGTERM')
    await server?.exited
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  const shoot = async (name: string) => {
    if (SCREENSHOTS)
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  }

  it('signs in, uploads, shows the gallery and an image, deletes, and shows the operator view', async () => {
    // Sign in: the key goes into the field, out as a session, and is kept nowhere in the page.
    const response = await page.goto(`${base}/`)
    expect(response!.url()).toBe(`${base}/ui/`)
    expect(response!.headers()['content-security-policy']).toContain("script-src 'self'")
    await page.getByLabel('API key or JWT').waitFor()
    await shoot('sign-in')
    // By the keyboard: type the key, Enter submits the form.
    await page.getByLabel('API key or JWT').fill(key)
    await page.getByLabel('API key or JWT').press('Enter')
    await page.getByRole('link', { name: 'Operator' }).waitFor()
    // Statuses come from the event stream, not from polling.
    await expect.poll(() => page.locator('header .who').textContent()).toMatch(/· live$/)
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      html: document.documentElement.outerHTML,
    }))
    expect(stored.local + stored.session).toBe(0)
    expect(stored.html).not.toContain(key)
    // A reload keeps the session: GET /v1/session gives the page its CSRF token back (the
    // upload and the delete below need it).
    await page.reload()
    await page.getByRole('link', { name: 'Operator' }).waitFor()

    // Keyboard: the first Tab reaches the skip link, and focus shows.
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => {
      const element = document.activeElement as HTMLElement
      return { text: element.textContent, outline: getComputedStyle(element).outlineStyle }
    })
    expect(focused).toEqual({ text: 'Skip to content', outline: 'solid' })

    // Upload three photos and a file that is not an image through the file input, then browse
    // away at once: the queue lives above the screens. Thumbnails are held back for a moment so
    // that the placeholders can be seen.
    let release = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    await page.route('**/i/**', async (route) => {
      await held
      await route.continue()
    })
    const photos = await smallPhotos()
    await page.getByLabel('Drop images here, or choose files').setInputFiles([
      ...(await Promise.all(
        photos.map(async (path) => ({
          name: basename(path),
          mimeType: 'image/jpeg',
          buffer: await readFile(path),
        })),
      )),
      { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not an image at all') },
    ])
    await page.getByRole('link', { name: 'Gallery' }).click()

    // Gallery: the three appear and turn ready live, each with its decoded placeholder while
    // its thumbnail is held, then the thumbnails.
    const tiles = page.locator('li.tile')
    await expect.poll(() => tiles.count(), { timeout: 30_000 }).toBe(3)
    const readyTiles = page.locator('li.tile .badge-ready')
    await expect.poll(() => readyTiles.count(), { timeout: 60_000 }).toBe(3)
    const placeholders = page.locator('li.tile img.placeholder[src^="data:image/png"]')
    await expect.poll(() => placeholders.count()).toBe(3)
    // From here on the route lets every request through at once.
    release()
    await expect.poll(() => page.locator('li.tile img.loaded').count(), { timeout: 20_000 }).toBe(3)
    await shoot('gallery')

    // Back on the upload screen: every file's outcome, the bad one's reason in plain words.
    await page.getByRole('link', { name: 'Upload' }).click()
    const bad = page.locator('li.upload[data-name="notes.jpg"] .error')
    await expect.poll(() => bad.textContent(), { timeout: 30_000 }).toMatch(/Refused: .{10,}/)
    expect(await bad.textContent()).not.toMatch(/undefined|\[object|[A-Z_]{6,}:/)
    await expect.poll(() => page.locator('li.upload .badge-ready').count()).toBe(3)
    await shoot('upload')
    await page.getByRole('link', { name: 'Gallery' }).click()
    await expect.poll(() => page.locator('li.tile img.loaded').count()).toBe(3)

    // An image: variants with sizes, copy a URL to the clipboard and fetch it.
    const id = await tiles.first().getAttribute('data-id')
    await tiles.first().getByRole('link').click()
    await page.getByRole('heading', { name: `Image ${id}` }).waitFor()
    const copy = page.getByRole('button', { name: /^Copy URL/ }).first()
    await copy.waitFor()
    await expect.poll(() => page.locator('li.variant img.loaded').count()).toBeGreaterThan(0)
    await shoot('image')
    await copy.click()
    const copied = await page.evaluate(() => navigator.clipboard.readText())
    expect(copied).toMatch(new RegExp(`^${base}/i/${id}/`))
    const variant = await fetch(copied)
    expect(variant.status).toBe(200)
    expect(variant.headers.get('content-type')).toMatch(/^image\//)

    // Delete behind the dialog: back to the gallery, and the API no longer has it.
    await page.getByRole('button', { name: 'Delete this image' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click()
    await page.getByRole('heading', { name: 'Gallery' }).waitFor()
    await expect.poll(() => tiles.count()).toBe(2)
    const gone = await fetch(`${base}/v1/images/${id}`, {
      headers: { authorization: `Bearer ${key}` },
    })
    expect(gone.status).toBe(404)

    // Operator view: the queue's numbers, the shards, two charts; redrive the dead letters.
    await page.getByRole('link', { name: 'Operator' }).click()
    const queue = page.getByRole('region', { name: 'Queue' })
    await expect.poll(() => queue.textContent(), { timeout: 10_000 }).toMatch(/In flight\d+/)
    const shards = page.getByRole('region', { name: 'Shards' }).locator('tbody tr')
    await expect.poll(() => shards.count()).toBeGreaterThan(0)
    await expect.poll(() => page.locator('figure.chart svg').count()).toBe(2)
    const redrive = page.getByRole('button', { name: 'Redrive all dead letters' })
    if (await redrive.isEnabled()) {
      await redrive.click()
      await expect.poll(() => queue.getByRole('status').textContent()).toMatch(/^Redriven \d+/)
    }
    // A key made and revoked from the page; the audit log then lists both (with the admin API).
    const keys = page.getByRole('region', { name: 'API keys' })
    await keys.getByLabel('Owner').fill('someone')
    await keys.getByRole('button', { name: 'Create key' }).click()
    const said = keys.getByRole('status')
    await expect.poll(() => said.textContent()).toMatch(/^New key \(shown once\): pf_/)
    const made = keys.locator('tbody tr', { hasText: 'someone' })
    await made.getByRole('button', { name: /^Revoke/ }).click()
    await expect.poll(() => said.textContent()).toBe('Revoked')
    await page.getByRole('link', { name: 'Gallery' }).click()
    await page.getByRole('link', { name: 'Operator' }).click()
    const audit = page.getByRole('region', { name: 'Audit log' })
    await expect.poll(() => audit.textContent()).toMatch(/api-key\.create/)
    await shoot('operator')

    // Sign out: the session ends on the server too, so a reload stays signed out.
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API key or JWT').waitFor()
    await page.reload()
    await page.getByLabel('API key or JWT').waitFor()

    expect(problems).toEqual([])
  })

  it('falls back to polling when there is no event stream, and badges still turn ready', async () => {
    const tab = await browser.newPage()
    const errors: string[] = []
    // A proxy that does not pass the stream: /v1/events answers 404 (logged by Chromium).
    watchProblems(tab, errors, [...EXPECTED_FAILURES, /\b404\b.*\/v1\/events$/])
    await tab.route('**/v1/events', (route) => route.fulfill({ status: 404, body: '' }))
    await tab.goto(`${base}/ui/upload`)
    await tab.getByLabel('API key or JWT').fill(key)
    await tab.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => tab.locator('header .who').textContent()).toMatch(/· polling$/)
    // A photo the first test did not upload: a new image, not a duplicate that is ready at once.
    const photo = (await smallPhotos(4))[3]!
    await tab.getByLabel('Drop images here, or choose files').setInputFiles(photo)
    const row = tab.locator(`li.upload[data-name="${basename(photo)}"]`)
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 30_000 }).toBe('ready')
    await tab.close()
    expect(errors).toEqual([])
  })
})

/** Console errors, uncaught page errors and CSP violations, each as one line. */
function watchProblems(page: Page, problems: string[], expected: RegExp[]): void {
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const line = `${message.text()} ${message.location().url}`
    if (!expected.some((failure) => failure.test(line))) problems.push(`console: ${line}`)
  })
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  void page.exposeFunction('reportCspViolation', (line: string) => problems.push(`csp: ${line}`))
  void page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { reportCspViolation: (l: string) => void })
        .reportCspViolation
      report(`${event.violatedDirective} ${event.blockedURI}`)
    })
  })
}
