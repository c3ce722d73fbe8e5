/**
 * One side of the worker-throughput bench, once, in its own process (forked by
 * worker/run.ts): BENCH_SIDE is `pixelflow`, `naive` or `decode-once`. It answers the
 * parent with the wall and CPU time it took for every photo of BENCH_FOLDER, at BENCH_CONCURRENCY
 * photos at a time, and its peak RSS meanwhile.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { QueueDriver } from '../../src/queue/queue.js'
import { createPixelflow } from '../../src/start/pixelflow.js'
import { createImageProcessor } from '../../src/worker/process-image.js'
import { startWorker } from '../../src/worker/run-worker.js'
import { sleep } from '../harness/async.js'
import { answerParent } from '../harness/child.js'
import { benchConfig } from '../harness/config.js'
import { type Elapsed, peakRssMb, startClock } from '../harness/measure.js'
import { listPhotos, mimeOf } from '../harness/photos.js'
import { decodeOnce, naive, timeBaseline, warmUpSharp } from './baseline.js'

export type Side = 'pixelflow' | 'naive' | 'decode-once'
export interface SideRun extends Elapsed {
  side: Side
  images: number
  peakRssMb: number
  /** 1-minute load average when the run started: other work on the machine shows up here. */
  loadAverage: number
}

/**
 * End to end: every photo is uploaded first with the workers off (untimed), the relay moves the
 * jobs to the queue, then a worker with `concurrency` slots starts and the clock runs until the
 * last job is acked, i.e. variants fsynced, rows committed and the job deleted.
 */
async function timePixelflow(photos: string[], concurrency: number): Promise<Elapsed> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-bench-'))
  const config = benchConfig(dataDir, { PIXELFLOW_WORKER_CONCURRENCY: String(concurrency) })
  const logger = pino({ level: 'silent' })
  const pixelflow = await createPixelflow(config, logger)
  const { app, deps } = pixelflow
  try {
    const { key } = await deps.apiKeys.create('bench-owner')
    const ids: string[] = []
    for (const photo of photos) {
      const headers = { authorization: `Bearer ${key}`, 'content-type': mimeOf(photo) }
      const response = await app.inject({
        method: 'POST',
        url: '/v1/images',
        headers,
        payload: await readFile(photo),
      })
      if (response.statusCode !== 202)
        throw new Error(`Upload of ${photo} answered ${response.statusCode}: ${response.body}`)
      ids.push(response.json<{ id: string }>().id)
    }
    await until(async () => (await deps.queue.stats()).visible === ids.length, 30_000)
    await warmUpSharp()

    // The queue is wrapped so the clock stops at the last ack, and a failing job stops the run.
    let settle!: { resolve: () => void; reject: (error: Error) => void }
    const allAcked = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    let acked = 0
    const queue: QueueDriver = {
      ...deps.queue,
      async ack(id, token) {
        const ok = await deps.queue.ack(id, token)
        if (++acked === ids.length) settle.resolve()
        return ok
      },
      async fail(id, token, error) {
        settle.reject(new Error(`Job ${id} failed: ${error}`))
        return deps.queue.fail(id, token, error)
      },
    }
    const { metadata, store } = deps
    // The same handler as the service's worker role, cache invalidation included.
    const handler = createImageProcessor({
      metadata,
      store,
      processing: config.processing,
      limits: config.limits,
      logger,
      onChanged: pixelflow.invalidate,
    })
    const clock = startClock()
    const worker = startWorker({
      queue,
      handler,
      concurrency,
      pollMs: config.worker.pollMs,
      leaseMs: config.queue.leaseMs,
      logger,
      metrics: deps.metrics,
    })
    const elapsed = await allAcked
      .then(() => clock.read())
      .finally(() => worker.stop(config.shutdownGraceMs))

    for (const id of ids) {
      const image = await deps.metadata.forImageId(id)?.getImage(id)
      if (image?.status !== 'ready')
        throw new Error(`Image ${id} ended ${image?.status ?? 'missing'}, not ready`)
    }
    return elapsed
  } finally {
    await pixelflow.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting after ${timeoutMs} ms`)
    await sleep(20)
  }
}

answerParent(async (): Promise<SideRun> => {
  const side = process.env.BENCH_SIDE as Side
  const photos = listPhotos(process.env.BENCH_FOLDER!)
  const concurrency = Number(process.env.BENCH_CONCURRENCY)
  const loadAverage = loadavg()[0]!
  const elapsed =
    side === 'pixelflow'
      ? await timePixelflow(photos, concurrency)
      : await timeBaseline(photos, concurrency, side === 'naive' ? naive : decodeOnce)
  return { side, ...elapsed, images: photos.length, peakRssMb: peakRssMb(), loadAverage }
})
