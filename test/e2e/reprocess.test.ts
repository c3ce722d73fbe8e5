import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli } from '../fixtures/serve-process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BEFORE = 'thumb:64,medium:128'
// thumb is wider now; medium is unchanged and must keep its objects and URLs.
const AFTER = 'thumb:96,medium:128'

/**
 * `pixelflow images reprocess` through the built binary, beside a running in-process service on the
 * same embedded data directory: a changed preset gets new versioned URLs and objects, the
 * unchanged one keeps its, the old URL stops answering once its objects go, and nothing of
 * another owner is touched.
 */
describe('pixelflow images reprocess', () => {
  let h: Harness
  let env: Record<string, string>
  beforeAll(async () => {
    // A short metadata cache: the CLI deletes old objects once a process's cached rows expire.
    h = await startHarness({ PIXELFLOW_PRESETS: BEFORE, PIXELFLOW_CACHE_TTL_MS: '300' })
    env = { PIXELFLOW_DATA_DIR: h.dir, PIXELFLOW_CACHE_TTL_MS: '300', PIXELFLOW_PRESETS: AFTER }
  })
  afterAll(() => h.close())

  const get = (url: string) => h.pf.app.inject({ url: new URL(url).pathname })
  const view = async (id: string, key = h.alice) => (await h.getImage(id, key)).body

  it('renders the changed preset at a new version, keeps the rest, and deletes the old objects', async () => {
    const ids: string[] = []
    for (const width of [400, 401]) ids.push((await h.upload(await makeJpeg(width, 300))).json().id)
    const bobId = (await h.upload(await makeJpeg(402, 300), 'image/jpeg', {}, h.bob)).json().id
    for (const id of ids) expect((await h.waitSettled(id)).status).toBe('ready')
    await eventually(async () => (await view(bobId, h.bob)).status === 'ready', {
      timeoutMs: 30_000,
      message: "Bob's image ready",
    })
    const before = await view(ids[0]!)
    const oldThumb = urlOf(before, 'thumb', 'webp')
    const oldMedium = urlOf(before, 'medium', 'webp')
    expect(oldThumb).toMatch(/\/thumb\.[0-9a-f]{8}\.webp$/)
    expect((await get(oldThumb)).headers['cache-control']).toContain('immutable')
    const bobBefore = await view(bobId, h.bob)

    const run = await reprocess(env, '--owner', 'alice', '--rate', '1', '--json')
    expect(JSON.parse(run.stdout)).toEqual({
      checked: 2,
      reprocessed: 2,
      gone: 0,
      failed: 0,
      deletedObjects: 4,
    })
    // One image a second: the second started no sooner than a second after the first.
    expect(run.ms).toBeGreaterThanOrEqual(1000)
    // Every thread of the process ran at the lowest priority.
    expect(run.nice).toEqual([19])

    // The command ends once every process's cached rows (300 ms here) are older than the change.
    const after = await view(ids[0]!)
    const newThumb = urlOf(after, 'thumb', 'webp')
    expect(newThumb).not.toBe(oldThumb)
    expect(urlOf(after, 'medium', 'webp')).toBe(oldMedium)
    const served = await get(newThumb)
    expect(served.statusCode).toBe(200)
    expect(served.headers['cache-control']).toContain('immutable')
    expect((await sharp(served.rawPayload).metadata()).width).toBe(96)
    expect((await get(oldThumb)).json().code).toBe('VARIANT_NOT_FOUND')
    expect((await get(oldMedium)).statusCode).toBe(200)
    // The unversioned URL serves the new bytes, and may be cached only an hour.
    const current = await get(newThumb.replace(/\.[0-9a-f]{8}\./, '.'))
    expect(current.headers['cache-control']).toBe('public, max-age=3600')
    expect(current.rawPayload).toEqual(served.rawPayload)

    const objects = await h.pf.deps.store.list(`images/${ids[0]}/`)
    expect(objects.filter((key) => /thumb\./.test(key))).toHaveLength(2)
    expect(await view(bobId, h.bob)).toEqual(bobBefore)

    // Up to date now: a second run renders nothing.
    expect(JSON.parse(cli(env, 'images', 'reprocess', '--all', '--json'))).toMatchObject({
      checked: 3,
      reprocessed: 1, // Bob's, with --all
      deletedObjects: 2,
    })
    expect(JSON.parse(cli(env, 'images', 'reprocess', '--all', '--json')).reprocessed).toBe(0)
  }, 60_000)

  it('goes on past an image it cannot render, which keeps its variants, and exits 1', async () => {
    const ids = (await h.pf.deps.metadata.forOwner('alice').listImages('alice', 10)).map(
      (i) => i.id,
    )
    expect(ids).toHaveLength(2)
    await h.pf.deps.store.delete(`images/${ids[0]}/original`)
    const before = await view(ids[0]!)
    const changed = { ...env, PIXELFLOW_PRESETS: 'thumb:88,medium:128' }
    const run = await reprocess(changed, '--owner', 'alice', '--json')
    expect(run.code).toBe(1)
    expect(JSON.parse(run.stdout)).toMatchObject({ checked: 2, reprocessed: 1, failed: 1 })
    expect(run.stderr).toContain(`${ids[0]} not reprocessed`)
    expect((await view(ids[0]!)).variants).toEqual(before.variants)
  })

  it('refuses a command line that names neither or both of --owner and --all', async () => {
    for (const args of [[], ['--owner', 'alice', '--all']]) {
      const run = await reprocess(env, ...args)
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/one of --owner <id> or --all/)
    }
  })
})

function urlOf(image: any, name: string, format: string): string {
  const variant = image.variants.find((v: any) => v.name === name && v.format === format)
  if (!variant) throw new Error(`no ${name} ${format} in ${JSON.stringify(image.variants)}`)
  return variant.url
}

/** Runs the command, sampling the nice value of its threads while it runs. */
async function reprocess(env: Record<string, string>, ...args: string[]) {
  const started = performance.now()
  const child = spawn(process.execPath, ['dist/start/main.js', 'images', 'reprocess', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'exit')
  // Samples taken while Node still loads the command run at the shell's priority: what counts is
  // every thread from the moment the command yielded the CPU on, threads started later included.
  const samples: number[][] = []
  const sampler = setInterval(() => {
    void niceOf(child.pid!).then((values) => samples.push(values))
  }, 50)
  const [code] = await exited
  clearInterval(sampler)
  const yielded = samples.findIndex((v) => v.length > 0 && v.every((value) => value === 19))
  const nice = [...new Set(yielded < 0 ? samples.flat() : samples.slice(yielded).flat())]
  return { code, stdout, stderr, ms: performance.now() - started, nice }
}

/**
 * The nice value (field 19 of stat) of each thread, once the process has lowered them (before,
 * the threads still run at the parent's 0): samples taken at start-up are left out by waiting
 * for the first thread at 19.
 */
async function niceOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`)
    const values = await Promise.all(
      tasks.map(async (tid) => {
        const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
      }),
    )
    return values.includes(19) ? values : []
  } catch {
    return [] // exited
  }
}
