import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'

/**
 * The real binary, killed in the middle of a job. A 24 MP source with AVIF output keeps a job
 * busy for seconds on two cores, long enough to kill it while `processing`.
 */
// A 24 MP source with AVIF output, started twice: on a loaded 2-core machine this can take a few
// minutes, so these cases get four times the default test timeout.
describe('crash and shutdown of a serve process', { timeout: 240_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let key: string
  let serve: ServeProcess | undefined
  let big: Buffer

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-crash-'))
    env = {
      PIXELFLOW_DATA_DIR: dir,
      // It scrapes /metrics on the API port: off there unless allowed (README, Configuration).
      PIXELFLOW_METRICS_PUBLIC: 'true',
      PIXELFLOW_FORMATS: 'webp,jpeg,avif',
      PIXELFLOW_WORKER_CONCURRENCY: '1',
      PIXELFLOW_QUEUE_LEASE_MS: '2000',
      PIXELFLOW_LOG_LEVEL: 'info',
    }
    key = cli(env, 'keys', 'create', '--owner', 'crash-owner')
    big ??= await makeJpeg(6000, 4000)
  })
  afterEach(async () => {
    serve?.child.kill('SIGKILL')
    await serve?.exited
    await rm(dir, { recursive: true, force: true })
  })

  const auth = () => ({ authorization: `Bearer ${key}` })
  const getImage = async (s: ServeProcess, id: string) =>
    (await fetch(`${s.url}/v1/images/${id}`, { headers: auth() })).json() as Promise<any>

  async function uploadAndWaitProcessing(s: ServeProcess): Promise<string> {
    const res = await fetch(`${s.url}/v1/images`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'image/jpeg' },
      body: new Uint8Array(big),
    })
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    await eventually(async () => expect((await getImage(s, id)).status).toBe('processing'), {
      timeoutMs: 5_000,
      intervalMs: 10,
      message: `${id} processing`,
    })
    return id
  }

  async function waitReady(s: ServeProcess, id: string): Promise<any> {
    try {
      return await eventually(
        async () => {
          const image = await getImage(s, id)
          return (image.status === 'ready' || image.status === 'failed') && image
        },
        { timeoutMs: 90_000, intervalMs: 50, message: `${id} settled` },
      )
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${s.output()}`, { cause: error })
    }
  }

  async function expectExactlyOnce(s: ServeProcess, _id: string, image: any) {
    expect(image.status).toBe('ready')
    expect(image.variants).toHaveLength(9)
    for (const variant of image.variants) {
      const res = await fetch(variant.url.replace(/^http:\/\/localhost:\d+/, s.url))
      expect(res.status).toBe(200)
      expect((await res.arrayBuffer()).byteLength).toBe(variant.bytes)
    }
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    expect(metrics).toMatch(/pixelflow_jobs_total\{outcome="ready"\} 1\n/)
    expect(metrics).toMatch(/pixelflow_queue_depth\{state="visible"\} 0\n/)
    expect(metrics).toMatch(/pixelflow_queue_depth\{state="in_flight"\} 0\n/)
    expect(metrics).toMatch(/pixelflow_queue_depth\{state="dead"\} 0\n/)
  }

  it('SIGKILL mid-job, then restart: the image is finished exactly once', async () => {
    serve = await startRole(env, await freePort())
    const id = await uploadAndWaitProcessing(serve)
    serve.child.kill('SIGKILL')
    expect(await serve.exited).toBe(null)

    serve = await startRole(env, await freePort())
    const image = await waitReady(serve, id)
    await expectExactlyOnce(serve, id, image)
    // Two starts of the job: the killed one and the one that finished.
    expect(image.attempts).toBe(2)
    expect(JSON.parse(cli(env, 'dead', 'list'))).toEqual([])
    const list = (await (await fetch(`${serve.url}/v1/images`, { headers: auth() })).json()) as any
    expect(list.items.map((i: any) => i.id)).toEqual([id])
  })

  it('SIGTERM mid-job releases it at once and exits 0; the next start finishes it', async () => {
    serve = await startRole(
      { ...env, PIXELFLOW_SHUTDOWN_GRACE_MS: '0', PIXELFLOW_QUEUE_LEASE_MS: '600000' },
      await freePort(),
    )
    const id = await uploadAndWaitProcessing(serve)
    const started = Date.now()
    serve.child.kill('SIGTERM')
    expect(await serve.exited).toBe(0)
    expect(Date.now() - started).toBeLessThan(8000)
    expect(serve.output()).toMatch(/job released at shutdown/)

    // A ten-minute lease: only a release (not an expiry) lets the next process take the job now.
    serve = await startRole({ ...env, PIXELFLOW_QUEUE_LEASE_MS: '600000' }, await freePort())
    const image = await waitReady(serve, id)
    await expectExactlyOnce(serve, id, image)
    expect(image.attempts).toBe(2)
  })
})
