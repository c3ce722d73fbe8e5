import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { freePort } from '../fixtures/serve-process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** scripts/s3-server.mjs (fauxqs, in memory) on `port`, owned by this test so it can stop it. */
async function startS3(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['scripts/s3-server.mjs', String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`s3-server exited: ${out}`)
      return out.includes('s3-server ready')
    },
    { timeoutMs: 15_000, message: 's3-server ready' },
  )
  return child
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await once(child, 'exit')
}

/**
 * Issue 11: a storage outage answered 500 INTERNAL. It is the store's fault, for a while: 503
 * STORAGE_UNAVAILABLE with Retry-After, our own message, and /readyz says the store is down.
 * The S3 emulator is this test's own process, killed and restarted on the same port.
 */
describe('object store outage (S3 emulator stopped)', () => {
  let port: number
  let s3: ChildProcess
  let h: Harness
  let readyImage: { id: string }

  beforeAll(async () => {
    port = await freePort()
    s3 = await startS3(port)
    h = await startHarness({
      PIXELFLOW_STORAGE_DRIVER: 's3',
      PIXELFLOW_S3_BUCKET: 'pixelflow-test',
      PIXELFLOW_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      PIXELFLOW_S3_ACCESS_KEY_ID: 'test',
      PIXELFLOW_S3_SECRET_ACCESS_KEY: 'test',
    })
    const res = await h.upload(await makeJpeg(320, 200), 'image/jpeg')
    expect(res.statusCode, res.body).toBe(202)
    readyImage = await h.waitSettled(res.json().id)
    expect(readyImage).toMatchObject({ status: 'ready' })
  })
  afterAll(async () => {
    await h?.close()
    if (s3) await stop(s3)
  })

  it('answers 503 STORAGE_UNAVAILABLE with Retry-After, /readyz fails, and recovers', async () => {
    await stop(s3)

    const upload = await h.upload(await makeJpeg(320, 200), 'image/jpeg')
    expect(upload.statusCode, upload.body).toBe(503)
    expect(upload.headers['content-type']).toMatch(/application\/problem\+json/)
    expect(upload.headers['retry-after']).toMatch(/^[1-9]\d*$/)
    const problem = upload.json()
    expect(problem).toMatchObject({ status: 503, code: 'STORAGE_UNAVAILABLE' })
    // Our words, not the SDK's: no endpoint, bucket, key or errno reaches the client.
    expect(problem.detail).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|pixelflow-test|images\//)

    const variant = await h.pf.app.inject({
      method: 'GET',
      url: `/i/${readyImage.id}/thumb.webp`,
    })
    expect(variant.statusCode, variant.body).toBe(503)
    expect(variant.json().code).toBe('STORAGE_UNAVAILABLE')
    expect(variant.headers['retry-after']).toMatch(/^[1-9]\d*$/)

    await eventually(
      async () => {
        const ready = await h.pf.app.inject({ method: 'GET', url: '/readyz' })
        expect(ready.statusCode).toBe(503)
        expect(ready.json().checks.store).toBe('failing')
      },
      { timeoutMs: 10_000, message: '/readyz reports the store down' },
    )

    s3 = await startS3(port)
    await eventually(
      async () => {
        const ready = await h.pf.app.inject({ method: 'GET', url: '/readyz' })
        expect(ready.json().checks.store).toBe('ok')
      },
      { timeoutMs: 10_000, message: '/readyz reports the store back' },
    )
    const again = await h.upload(await makeJpeg(320, 200), 'image/jpeg')
    expect(again.statusCode, again.body).toBe(202)
  })
})
