import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, type ServeProcess } from '../fixtures/serve-process.js'
import { faultQueues, processScene } from './fixtures/scene.js'
import { checkLedger } from './ledger.js'

const QUEUES = faultQueues('faults', { heartbeat: true })

/**
 * Separate `api` and `worker` processes of the real binary, killed and stalled on purpose, on
 * each queue driver. Each test ends with the ledger check.
 */
describe.each(QUEUES)('faults across api and worker processes ($name queue)', (queue) => {
  const scene = processScene(queue, 'faults', {
    // It scrapes /metrics on the API port: off there unless allowed (README, Configuration).
    PIXELFLOW_METRICS_PUBLIC: 'true',
    PIXELFLOW_QUEUE_LEASE_MS: '1500',
    PIXELFLOW_QUEUE_MAX_ATTEMPTS: '50',
    PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '50',
    PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '200',
    PIXELFLOW_WORKER_POLL_MS: '50',
    PIXELFLOW_LOG_LEVEL: 'info',
  })
  let key: string
  beforeEach(() => {
    key = cli(scene.env, 'keys', 'create', '--owner', 'ledger')
  })
  const start = scene.start
  const upload = (api: ServeProcess, body: Buffer) => scene.upload(api, key, body)

  async function statuses(api: ServeProcess): Promise<string[]> {
    const page: any = await (
      await fetch(`${api.url}/v1/images?limit=100`, {
        headers: { authorization: `Bearer ${key}` },
      })
    ).json()
    return page.items.map((i: any) => i.status)
  }

  async function waitSettled(api: ServeProcess, count: number, timeoutMs = 120_000): Promise<void> {
    await eventually(
      async () => {
        const all = await statuses(api)
        expect(all).toHaveLength(count)
        expect(all.filter((s) => s !== 'ready' && s !== 'failed')).toEqual([])
      },
      { timeoutMs, intervalMs: 100, message: `${count} images settled` },
    )
  }

  /** Waits for the (only or newest) image to be picked up by a worker. */
  async function waitProcessing(api: ServeProcess): Promise<void> {
    await eventually(async () => expect((await statuses(api))[0]).toBe('processing'), {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: 'the image processing',
    })
  }

  async function metric(p: ServeProcess, pattern: RegExp): Promise<number> {
    const text = await (await fetch(`${p.url}/metrics`)).text()
    return Number(pattern.exec(text)?.[1] ?? 0)
  }

  it('kill -9 a worker mid-job, 20 times in a row: every image ends once', async () => {
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const ids: string[] = []
    for (let i = 0; i < 10; i++) ids.push(await upload(api, await makeJpeg(2400 + i * 16, 1600)))
    for (let round = 0; round < 20; round++) {
      const worker = await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '2' })
      // Kill while it works: as soon as it has started a job, after a varying extra moment. On a
      // fast machine the jobs a killed worker finished can add up to all ten before round 20:
      // then no job is left to be in flight, and the rounds end there.
      const inFlight = () => metric(worker, /pixelflow_queue_depth\{state="in_flight"\} (\d+)/)
      let allDone = false
      await eventually(
        async () => {
          if ((await inFlight()) > 0) return true
          allDone = (await statuses(api)).every((s) => s === 'ready' || s === 'failed')
          return allDone
        },
        { timeoutMs: 10_000, intervalMs: 20, message: `round ${round}: a job in flight` },
      )
      if (allDone) {
        worker.child.kill('SIGKILL')
        await worker.exited
        scene.forget(worker)
        break
      }
      await sleep((round % 5) * 60)
      worker.child.kill('SIGKILL')
      await worker.exited
      scene.forget(worker)
    }
    await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '2' })
    await waitSettled(api, ids.length)
    const images = await checkLedger(api.url, key, ids, 6)
    expect(images.every((i) => i.status === 'ready')).toBe(true)
    // The kills really landed mid-job: some images were started more than once.
    expect(images.some((i) => i.attempts > 1)).toBe(true)
  }, 300_000)

  it('a separate API shows what a worker elsewhere did at once, without a shared cache', async () => {
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    await start('worker')
    const id = await upload(api, await makeJpeg(300, 200))
    // The cache TTL is 60 s: a stale cached `queued` would still be served at the deadline.
    await eventually(
      async () => {
        // By id: the read that goes through the metadata cache, unlike the listing.
        const res = await fetch(`${api.url}/v1/images/${id}`, {
          headers: { authorization: `Bearer ${key}` },
        })
        expect(((await res.json()) as any).status).toBe('ready')
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'the API shows the image ready' },
    )
  })

  it('kill the API between commit and publish: the relay publishes after the restart', async () => {
    // Without its relay the API commits image rows and their outbox rows, and publishes nothing.
    const api = await start('api', { PIXELFLOW_RELAY_ENABLED: 'false' })
    const ids = [
      await upload(api, await makeJpeg(400, 300)),
      await upload(api, await makeJpeg(401, 300)),
    ]
    await sleep(1000)
    expect(await statuses(api)).toEqual(['queued', 'queued'])
    expect(await metric(api, /pixelflow_queue_depth\{state="visible"\} (\d+)/)).toBe(0)
    api.child.kill('SIGKILL')
    await api.exited
    const restarted = await start('api')
    await start('worker')
    await waitSettled(restarted, ids.length)
    await checkLedger(restarted.url, key, ids, 6)
  })

  it('a worker stalled past its lease: another finishes the job and the late ack is refused', async () => {
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const id = await upload(api, await makeJpeg(5000, 3500))
    const stalled = await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '1' })
    await waitProcessing(api)
    stalled.child.kill('SIGSTOP') // frozen: no heartbeat, the lease runs out
    const rescuer = await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '1' })
    await waitSettled(api, 1)
    stalled.child.kill('SIGCONT')
    // The stalled worker wakes, finishes its copy, finds the image done and its lease gone.
    await eventually(
      async () => (await metric(stalled, /pixelflow_jobs_total\{outcome="stale"\} (\d+)/)) > 0,
      { timeoutMs: 15_000, intervalMs: 50, message: 'the stalled worker’s late ack refused' },
    )
    expect(await metric(stalled, /pixelflow_jobs_total\{outcome="stale"\} (\d+)/)).toBe(1)
    expect(await metric(rescuer, /pixelflow_jobs_total\{outcome="ready"\} (\d+)/)).toBe(1)
    await checkLedger(api.url, key, [id], 6)
  })

  it('a poison job is dead-lettered after the limit while the others keep flowing', async () => {
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const ids = [
      await upload(api, await makeJpeg(300, 200)),
      await upload(api, await makeJpeg(301, 200)),
      await upload(api, await makeJpeg(302, 200)),
    ]
    const poison = ids[1]!
    // A storage fault that no retry can fix: the original is gone.
    await rm(join(scene.dir, 'objects', 'images', poison, 'original'))
    await start('worker', { PIXELFLOW_QUEUE_MAX_ATTEMPTS: '4' })
    await waitSettled(api, ids.length)
    const images = await checkLedger(api.url, key, ids, 6)
    const failed = images.find((i) => i.id === poison)
    expect(failed).toMatchObject({
      status: 'failed',
      failure: { code: 'RETRIES_EXHAUSTED' },
      attempts: 4,
    })
    expect(images.filter((i) => i.status === 'ready')).toHaveLength(2)
    const dead = JSON.parse(cli(scene.env, 'dead', 'list'))
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ id: poison, attempts: 4 })
    expect(dead[0].errors).toHaveLength(4)
  })

  it('SIGTERM on a worker with jobs in flight releases them at once', async () => {
    const api = await start('api', {
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_QUEUE_LEASE_MS: '600000',
    })
    const id = await upload(api, await makeJpeg(5000, 3500))
    const worker = await start('worker', {
      PIXELFLOW_SHUTDOWN_GRACE_MS: '0',
      PIXELFLOW_QUEUE_LEASE_MS: '600000',
    })
    await waitProcessing(api)
    worker.child.kill('SIGTERM')
    expect(await worker.exited).toBe(0)
    // With a ten-minute lease, only a release lets the next worker start at once.
    await start('worker', { PIXELFLOW_QUEUE_LEASE_MS: '600000' })
    await waitSettled(api, 1, 60_000)
    await checkLedger(api.url, key, [id], 6)
  })
})
