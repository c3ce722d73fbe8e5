import type { Metrics } from './metrics.js'

/** One interval of this process's traffic, as deltas of its Prometheus counters. */
export interface MetricsPoint {
  /** End of the interval, epoch milliseconds. */
  at: number
  /** HTTP requests answered (every route, probes included). */
  requests: number
  /** Uploads accepted as new images (replays and duplicates left out). */
  uploads: number
  /** Jobs this process's workers finished: ready or failed for good. */
  jobsDone: number
  /** Request latency quantiles, interpolated in the histogram's buckets; null without requests. */
  p50Ms: number | null
  p95Ms: number | null
}

export interface MetricsHistoryOptions {
  /** Default 10 s. */
  intervalMs?: number
  /** How much is kept; default 30 min. */
  windowMs?: number
  clock?: () => number
}

type Source = Pick<Metrics, 'httpRequests' | 'httpSeconds' | 'uploads' | 'jobs'>

/** The counters' running totals at one moment; a point is the difference of two. */
interface Sample {
  at: number
  requests: number
  uploads: number
  jobsDone: number
  /** Cumulative request count per histogram bound (`le`, +Inf last), summed over routes. */
  buckets: [number, number][]
}

const FINISHED = new Set(['ready', 'failed'])

/**
 * A bounded ring of samples of this process's counters, taken every interval, for the admin
 * dashboard's small charts. Per process: another API or worker process has its own.
 */
export function createMetricsHistory(metrics: Source, options: MetricsHistoryOptions = {}) {
  const intervalMs = options.intervalMs ?? 10_000
  const clock = options.clock ?? Date.now
  // One more sample than points: the window's first point needs the sample before it.
  const capacity = Math.ceil((options.windowMs ?? 30 * 60_000) / intervalMs) + 1
  const samples: Sample[] = []
  let timer: NodeJS.Timeout | null = null

  async function sample(): Promise<void> {
    samples.push(await read(metrics, clock()))
    if (samples.length > capacity) samples.shift()
  }

  return {
    intervalMs,
    sample,
    points(): MetricsPoint[] {
      return samples.slice(1).map((s, i) => pointBetween(samples[i] as Sample, s))
    },
    /** Samples now (the baseline) and then every interval; the timer never keeps the process up. */
    start(): void {
      if (timer) return
      // Reading in-process counters does not fail in practice; if it did, that interval would
      // only be missing from the chart, which is no reason to take the process down.
      const tick = () => void sample().catch(() => {})
      tick()
      timer = setInterval(tick, intervalMs)
      timer.unref()
    },
    stop(): void {
      if (timer) clearInterval(timer)
      timer = null
    },
  }
}

export type MetricsHistory = ReturnType<typeof createMetricsHistory>

async function read(metrics: Source, at: number): Promise<Sample> {
  const [requests, uploads, jobs, seconds] = await Promise.all([
    metrics.httpRequests.get(),
    metrics.uploads.get(),
    metrics.jobs.get(),
    metrics.httpSeconds.get(),
  ])
  const sum = (values: { value: number }[]) => values.reduce((n, v) => n + v.value, 0)
  const buckets = new Map<number, number>()
  for (const v of seconds.values) {
    if (v.metricName?.endsWith('_bucket') !== true) continue
    // prom-client adds `le` to a bucket's labels; its types know only the declared ones.
    const { le: bound } = v.labels as { le?: string | number }
    const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound)
    buckets.set(le, (buckets.get(le) ?? 0) + v.value)
  }
  return {
    at,
    requests: sum(requests.values),
    uploads: sum(uploads.values.filter((v) => v.labels.result === 'accepted')),
    jobsDone: sum(jobs.values.filter((v) => FINISHED.has(String(v.labels.outcome)))),
    buckets: [...buckets].sort((a, b) => a[0] - b[0]),
  }
}

function pointBetween(before: Sample, after: Sample): MetricsPoint {
  const earlier = new Map(before.buckets)
  const buckets = after.buckets.map(
    ([le, count]) => [le, count - (earlier.get(le) ?? 0)] as [number, number],
  )
  return {
    at: after.at,
    requests: after.requests - before.requests,
    uploads: after.uploads - before.uploads,
    jobsDone: after.jobsDone - before.jobsDone,
    p50Ms: quantileMs(buckets, 0.5),
    p95Ms: quantileMs(buckets, 0.95),
  }
}

/**
 * The q-quantile of cumulative bucket counts, interpolated linearly inside its bucket (as
 * Prometheus' histogram_quantile does); in the +Inf bucket, the largest finite bound.
 */
export function quantileMs(buckets: [number, number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0
  if (total <= 0) return null
  const rank = q * total
  let lower = 0
  let below = 0
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return Math.round(lower * 1000)
      const inBucket = count - below
      const share = inBucket > 0 ? (rank - below) / inBucket : 1
      return Math.round((lower + (le - lower) * share) * 1000)
    }
    lower = le
    below = count
  }
  return Math.round(lower * 1000)
}
