import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'

/** Backup of a running embedded install, restored into a fresh data dir and served from there. */
describe('pixelflow backup and restore', () => {
  const dirs: string[] = []
  const running: ServeProcess[] = []
  const tempDir = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
  afterAll(async () => {
    for (const p of running) {
      p.child.kill('SIGTERM')
      await p.exited
    }
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  const settings = { PIXELFLOW_PRESETS: 'thumb:96', PIXELFLOW_WORKER_POLL_MS: '20' }

  async function ready(url: string, key: string, id: string) {
    return eventually(
      async () => {
        const res = await fetch(`${url}/v1/images/${id}`, {
          headers: { authorization: `Bearer ${key}` },
        })
        const body = (await res.json()) as { status: string; variants: { url: string }[] }
        return body.status === 'ready' ? body : false
      },
      { timeoutMs: 30_000, message: `image ${id} is ready` },
    )
  }

  it('serves the restored image with the same variant bytes', async () => {
    const original = { PIXELFLOW_DATA_DIR: await tempDir('pf-backup-src-'), ...settings }
    const key = cli(original, 'keys', 'create', '--owner', 'alice')
    const source = await startRole(original, await freePort())
    running.push(source)
    const upload = await fetch(`${source.url}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
      body: await makeJpeg(400, 300),
    })
    expect(upload.status).toBe(202)
    const { id } = (await upload.json()) as { id: string }
    const before = await ready(source.url, key, id)
    const variantPath = new URL(before.variants[0]!.url).pathname
    const bytes = Buffer.from(await (await fetch(`${source.url}${variantPath}`)).arrayBuffer())
    expect(bytes.length).toBeGreaterThan(100)

    // While the install is running and serving.
    const backup = join(await tempDir('pf-backup-'), 'b1')
    expect(cli(original, 'backup', backup)).toMatch(/Backed up the control database, 4 shards/)
    const manifest = JSON.parse(await readFile(join(backup, 'manifest.json'), 'utf8'))
    expect(manifest.objects).toBeGreaterThanOrEqual(3) // the original and two variants

    const fresh = { PIXELFLOW_DATA_DIR: await tempDir('pf-restore-'), ...settings }
    expect(cli(fresh, 'restore', backup)).toMatch(/Restored 4 shards/)
    // A restore refuses an install that has data.
    expect(() => cli(fresh, 'restore', backup)).toThrow(/exists: restore only into an empty/)

    const restored = await startRole(fresh, await freePort())
    running.push(restored)
    const after = await ready(restored.url, key, id)
    expect(after.variants.map((v) => new URL(v.url).pathname)).toEqual(
      before.variants.map((v) => new URL(v.url).pathname),
    )
    const served = await fetch(`${restored.url}${variantPath}`)
    expect(served.status).toBe(200)
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true)
    // The restored install is independent of the original: it has its own files.
    expect(restored.output()).not.toContain(original.PIXELFLOW_DATA_DIR)
  }, 120_000)
})
