import { readdir, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'
import { useTempDirs } from '../fixtures/temp-dirs.js'

/** Every folder and file under `dir` with its permission bits, by path relative to `dir`. */
async function modes(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const out: Record<string, string> = {}
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name)
    out[relative(dir, path)] = ((await stat(path)).mode & 0o777).toString(8)
  }
  return out
}

/**
 * Issue 11, finding 7: with the defaults, control.db (the URL-signing secret, key hashes) and
 * private originals were readable by any local user. The real binary, started as an operator
 * would (umask 022 in this test process), must leave nothing but 0700 folders and 0600 files.
 */
describe('files of a serve process', () => {
  const tempDir = useTempDirs('pf-data-modes-')
  let serve: ServeProcess | undefined
  afterEach(async () => {
    serve?.child.kill('SIGKILL')
    await serve?.exited
    serve = undefined
  })

  async function uploadPrivate(s: ServeProcess, key: string): Promise<void> {
    const res = await fetch(`${s.url}/v1/images?visibility=private`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await makeJpeg(400, 300)),
    })
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    await eventually(
      async () => {
        const image = (await (
          await fetch(`${s.url}/v1/images/${id}`, { headers: { authorization: `Bearer ${key}` } })
        ).json()) as { status: string }
        expect(image.status).toBe('ready')
      },
      { timeoutMs: 30_000, intervalMs: 50, message: `${id} ready` },
    )
  }

  it('makes every data folder 0700 and every file 0600', async () => {
    const dir = await tempDir()
    const env = { PIXELFLOW_DATA_DIR: join(dir, 'data'), PIXELFLOW_LOG_LEVEL: 'warn' }
    const key = cli(env, 'keys', 'create', '--owner', 'alice')
    serve = await startRole(env, await freePort())
    await uploadPrivate(serve, key)
    const found = await modes(dir)
    expect(Object.keys(found)).toEqual(
      expect.arrayContaining(['data', 'data/control.db', 'data/queue.db', 'data/objects']),
    )
    expect(Object.keys(found).some((path) => path.endsWith('/original'))).toBe(true)
    const wrong: string[] = []
    for (const [path, mode] of Object.entries(found)) {
      const wanted = (await stat(join(dir, path))).isDirectory() ? '700' : '600'
      if (mode !== wanted) wrong.push(`${path} ${mode} (want ${wanted})`)
    }
    expect(wrong).toEqual([])
  }, 90_000)

  it('never writes a generated URL-signing key when PIXELFLOW_URL_SIGNING_KEYS is set', async () => {
    const dir = await tempDir()
    const env = {
      PIXELFLOW_DATA_DIR: dir,
      PIXELFLOW_LOG_LEVEL: 'warn',
      PIXELFLOW_URL_SIGNING_KEYS: 'k1:a-signing-secret-from-a-vault',
    }
    const key = cli(env, 'keys', 'create', '--owner', 'alice')
    serve = await startRole(env, await freePort())
    await uploadPrivate(serve, key)
    const control = new Database(join(dir, 'control.db'), { readonly: true })
    try {
      const settings = control.prepare('select key, value from settings').all()
      expect(settings).toEqual([])
    } finally {
      control.close()
    }
  }, 90_000)
})
