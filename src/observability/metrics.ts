import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** What the queue gauges read at scrape time: a queue driver's `stats()` has this shape. */
export interface QueueGaugeSource {
  stats(): Promise<{
    visible: number
    inFlight: number
    delayed: number
    dead: number
    /** Consumer slots as the broker reports them, when it does. */
    consumers?: number
    oldestAgeMs?: number
  }>
}

/**
 * Every Prometheus metric of a process, on its own registry (no global state, so tests can build
 * several apps in one process). The queue gauges are read from the driver at scrape time.
 */
export function createMetrics(queue?: QueueGaugeSource) {
  const registry = new Registry()
  const queueStats = queue && sharedFor(STATS_REUSE_MS, () => queue.stats())
  collectDefaultMetrics({ register: registry })
  const uploads = new Counter({
    name: 'pixelflow_uploads_total',
    help: 'Upload requests by result: accepted, duplicate (idempotent replay) or the error code',
    labelNames: ['result'],
    registers: [registry],
  })
  const jobs = new Counter({
    name: 'pixelflow_jobs_total',
    help: 'Finished job deliveries by outcome: ready, failed, skipped, retry, dead, released',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const processingSeconds = new Histogram({
    name: 'pixelflow_processing_seconds',
    help: 'Time a worker spent on one job delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  })
  new Gauge({
    name: 'pixelflow_queue_depth',
    help: 'Jobs in the queue by state: visible, in_flight, delayed, dead',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      if (!queueStats) return
      const stats = await queueStats()
      this.set({ state: 'visible' }, stats.visible)
      this.set({ state: 'in_flight' }, stats.inFlight)
      this.set({ state: 'delayed' }, stats.delayed)
      this.set({ state: 'dead' }, stats.dead)
    },
  })
  const workerSlots = new Gauge({
    name: 'pixelflow_worker_slots',
    help: 'Jobs this process can work on at once (its worker concurrency; 0 without workers)',
    registers: [registry],
  })
  new Gauge({
    name: 'pixelflow_queue_backlog_per_worker',
    help: 'Visible jobs per consumer slot: the autoscaling signal (consumers as reported by the broker, else this process)',
    registers: [registry],
    async collect() {
      if (!queueStats) return
      const stats = await queueStats()
      const slots = stats.consumers ?? (await workerSlots.get()).values[0]?.value ?? 0
      this.set(stats.visible / Math.max(1, slots))
    },
  })
  new Gauge({
    name: 'pixelflow_queue_oldest_age_seconds',
    help: 'Age of the oldest visible job',
    registers: [registry],
    async collect() {
      const age = queueStats && (await queueStats()).oldestAgeMs
      if (age !== undefined) this.set(age / 1000)
    },
  })
  const reconciled = new Counter({
    name: 'pixelflow_reconciler_images_total',
    help: 'What the reconciler found and did: kind stuck (queued/processing, nothing moving it) or dead (its job dead, the image unfinished); action found, requeued or failed',
    labelNames: ['kind', 'action'],
    registers: [registry],
  })
  const webhookAttempts = new Counter({
    name: 'pixelflow_webhook_attempts_total',
    help: 'Webhook delivery attempts, by the state they left the delivery in: delivered, pending (failed, to be retried) or dead (failed for the last time)',
    labelNames: ['state'],
    registers: [registry],
  })
  // HTTP: labelled by the route pattern (`/v1/images/:id`), never the raw URL, so one image id
  // cannot become one series; requests that matched no route share `unmatched`.
  const httpRequests = new Counter({
    name: 'pixelflow_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const httpSeconds = new Histogram({
    name: 'pixelflow_http_request_duration_seconds',
    help: 'Time from the request arriving to its response being sent, by method and route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  })
  const transforms = new Counter({
    name: 'pixelflow_transforms_total',
    help: 'On-the-fly transform results: stored (a derived object served), rendered (here), shared (another request or process rendered it), busy (shed with 503)',
    labelNames: ['result'],
    registers: [registry],
  })
  const renderSeconds = new Histogram({
    name: 'pixelflow_transform_render_seconds',
    help: 'Time to render one transform from its original, without the wait for a render slot',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  return {
    registry,
    transforms,
    renderSeconds,
    uploads,
    jobs,
    processingSeconds,
    workerSlots,
    reconciled,
    webhookAttempts,
    httpRequests,
    httpSeconds,
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/** Three gauges read the queue's stats on each scrape: one broker round trip serves them all. */
const STATS_REUSE_MS = 1_000

function sharedFor<T>(ms: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null
  return () => {
    if (!last || Date.now() - last.at > ms) last = { at: Date.now(), value: load() }
    return last.value
  }
}
