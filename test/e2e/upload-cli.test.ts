import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'
import { useTempDirs } from '../fixtures/temp-dirs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CORPUS = '/work/shared/corpus/photos'
const PHOTOS = ['Aqua.jpg', 'FreshFlower.jpg', 'GreenMeadow.jpg'].map((name) => join(CORPUS, name))

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** The built binary, asynchronously: the server it talks to is another child of this process. */
function pixelflow(env: Record<string, string>, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['dist/start/main.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, PIXELFLOW_LOG_LEVEL: 'silent', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    }),
  )
}

describe('pixelflow help: answers and exits, starting and opening nothing', {
  timeout: 120_000,
}, () => {
  const tempDir = useTempDirs('pf-cli-help-')

  it('keys --help, shards add --help and api --help print help and exit 0; no command prints it and exits 2', async () => {
    const dir = await tempDir()
    const env = { PIXELFLOW_DATA_DIR: dir, PIXELFLOW_PORT: String(await freePort()) }
    for (const args of [
      ['keys', '--help'],
      ['shards', 'add', '--help'],
      ['api', '--help'],
    ]) {
      const run = await pixelflow(env, ...args)
      expect(run, args.join(' ')).toMatchObject({ status: 0, stderr: '' })
      expect(run.stdout).toContain(`Usage: pixelflow ${args.slice(0, -1).join(' ')}`)
    }
    const bare = await pixelflow(env)
    expect(bare).toMatchObject({ status: 2, stdout: '' })
    expect(bare.stderr).toContain('Usage: pixelflow [options] [command]')
    expect(bare.stderr).toMatch(/^ {2}upload \[options\] <files\.\.\.>/m)
    // No database, queue or object folder was created: nothing was opened.
    expect(await readdir(dir)).toEqual([])
  })
})

describe.skipIf(!existsSync(CORPUS))(
  'pixelflow upload and images against a served process (corpus photos)',
  { timeout: 180_000 },
  () => {
    let dir: string
    let server: ServeProcess
    let env: Record<string, string>
    let user: Record<string, string>
    let bad: string

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pf-upload-cli-'))
      env = { PIXELFLOW_DATA_DIR: dir, PIXELFLOW_LOG_LEVEL: 'silent' }
      server = await startRole(env, await freePort())
      const key = cli(env, 'keys', 'create', '--owner', 'cli-user')
      // The user commands find the server through the environment, as a user's shell would.
      user = { PIXELFLOW_URL: server.url, PIXELFLOW_API_KEY: key }
      bad = join(dir, 'notes.jpg')
      await writeFile(bad, 'these are notes, not a JPEG\n')
    })
    afterAll(async () => {
      server?.child.kill('SIGTERM')
      await server?.exited
      await rm(dir, { recursive: true, force: true })
    })

    it('uploads three photos and a bad file, waits, reports JSON and exits 1; then lists, gets, links, deletes', async () => {
      const upload = await pixelflow(
        user,
        'upload',
        ...PHOTOS,
        bad,
        '--wait',
        '--json',
        '--concurrency',
        '2',
      )
      expect(upload.status, upload.stderr).toBe(1)
      const report = JSON.parse(upload.stdout)
      expect(report.ok).toBe(false)
      expect(report.files.map((f: { file: string }) => f.file)).toEqual([...PHOTOS, bad])
      const [a, b, c, refused] = report.files
      for (const photo of [a, b, c])
        expect(photo).toMatchObject({
          ok: true,
          status: 'ready',
          id: expect.stringMatching(/^[0-9a-z]{29}$/),
        })
      expect(refused).toMatchObject({
        ok: false,
        id: null,
        status: 'error',
        error: { code: 'UNSUPPORTED_MEDIA_TYPE' },
      })
      const ids = [a.id, b.id, c.id]

      const listed = await pixelflow(user, 'images', 'list', '--all', '--json', '--limit', '2')
      expect(listed.status, listed.stderr).toBe(0)
      expect(
        JSON.parse(listed.stdout)
          .items.map((i: { id: string }) => i.id)
          .sort(),
      ).toEqual([...ids].sort())
      const table = await pixelflow(user, 'images', 'list')
      for (const id of ids) expect(table.stdout).toMatch(new RegExp(`│ ${id} │ ready `))

      const got = await pixelflow(user, 'images', 'get', a.id, '--json')
      expect(got.status, got.stderr).toBe(0)
      expect(JSON.parse(got.stdout)).toMatchObject({ id: a.id, status: 'ready', format: 'jpeg' })

      const url = await pixelflow(
        user,
        'images',
        'url',
        a.id,
        '--preset',
        'thumb',
        '--format',
        'webp',
      )
      expect(url.status, url.stderr).toBe(0)
      const variant = await fetch(url.stdout.trim())
      expect(variant.status).toBe(200)
      expect(variant.headers.get('content-type')).toBe('image/webp')
      expect((await variant.arrayBuffer()).byteLength).toBeGreaterThan(100)

      // --url and --key on the command line win over the environment.
      const flags = ['--url', server.url, '--key', user.PIXELFLOW_API_KEY as string]
      const deleted = await pixelflow(
        { PIXELFLOW_URL: 'http://127.0.0.1:9' },
        'images',
        'delete',
        a.id,
        ...flags,
      )
      expect(deleted).toMatchObject({ status: 0, stdout: `Deleted ${a.id}\n` })
      const gone = await pixelflow(user, 'images', 'get', a.id)
      expect(gone.status).toBe(1)
      expect(gone.stderr).toContain('IMAGE_NOT_FOUND (HTTP 404)')
    })
  },
)
