import { setTimeout as sleep } from 'node:timers/promises'
import { context, SpanKind, trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { parseProcessImageJob } from '../domain/jobs.js'
import { createPause } from '../lib/pause.js'
import type { Metrics } from '../observability/metrics.js'
import { contextFrom, endSpan, tracer } from '../observability/tracing.js'
import type { LeasedJob, QueueDriver } from '../queue/queue.js'
import { createTriesCounter, type Tries } from './counted-tries.js'
import type { JobHandler } from './process-image.js'

export interface WorkerOptions {
  queue: QueueDriver
  handler: JobHandler
  concurrency: number
  pollMs: number
  leaseMs: number
  /**
   * The queue's maxAttempts. A delivery past it means the earlier ones never settled (each took
   * its worker down): it is dead-lettered without running, so a crash loop ends with our code.
   * Every role passes it; only tests that drive a worker by hand leave it out (no check then).
   */
  maxAttempts?: number
  logger: Logger
  metrics: Metrics
  /** How long a slot rests after releasing a job it cannot read (default 2 s). */
  deferMs?: number
}

/**
 * A deferred job goes back to the queue at once (the port has no delayed release), so the slot
 * that released it rests: a worker that can read the job, polling meanwhile, claims it first.
 */
const DEFER_MS = 2000

export interface Worker {
  /** Wakes the claim loop now (e.g. after the relay enqueued), instead of at the next poll. */
  nudge(): void
  /** Stops claiming, lets running jobs finish within `graceMs`, then releases the rest at once. */
  stop(graceMs: number): Promise<void>
}

interface Running {
  job: LeasedJob
  controller: AbortController
  done: Promise<void>
}

export function startWorker(options: WorkerOptions): Worker {
  const { queue, logger, metrics } = options
  // Keyed by lease token: a broker may deliver two copies of one job id at once.
  const running = new Map<string, Running>()
  const pause = createPause()

  /** The fields an operator greps for, on every line about one job. */
  const fieldsOf = (job: LeasedJob) => ({
    queue: queue.driver,
    jobId: job.id,
    imageId: imageIdOf(job.payload),
    attempt: job.attempts,
  })

  const tries = createTriesCounter(
    queue,
    options.handler,
    options.maxAttempts ?? Number.POSITIVE_INFINITY,
  )

  async function runJob(job: LeasedJob, signal: AbortSignal): Promise<void> {
    const counted = await tries.before(job)
    if (counted.count > (options.maxAttempts ?? Number.POSITIVE_INFINITY))
      return endCrashLoop(job, counted)
    if (job.attempts > 1)
      logger.info(fieldsOf(job), 'job redelivered: an earlier delivery ended without a result')
    const started = performance.now()
    const timer = metrics.processingSeconds.startTimer()
    // Heartbeat: extend the lease well before it lapses, so long jobs are not redelivered.
    const heartbeat = setInterval(
      () => void queue.extend(job.id, job.token).catch(() => {}),
      options.leaseMs / 3,
    )
    // The job's span continues the upload's trace when the payload carries its traceparent.
    const span = tracer().startSpan(
      'process-image',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'pixelflow.image_id': imageIdOf(job.payload) ?? '',
          'pixelflow.attempt': job.attempts,
          'messaging.message.id': job.id,
        },
      },
      contextFrom({ traceparent: traceparentOf(job.payload) }),
    )
    let failure: unknown
    try {
      const outcome = await context.with(trace.setSpan(context.active(), span), () =>
        options.handler.handle(job, signal),
      )
      span.setAttribute('pixelflow.outcome', outcome)
      if (signal.aborted) return
      if (outcome === 'deferred') {
        // A newer release's job: back to the queue for a newer worker, not counted as a failure.
        const released = await queue.release(job.id, job.token)
        metrics.jobs.inc({ outcome: released ? 'deferred' : 'stale' })
        await sleep(options.deferMs ?? DEFER_MS, undefined, { signal }).catch(() => {})
        return
      }
      const acked = await queue.ack(job.id, job.token)
      metrics.jobs.inc({ outcome: acked ? outcome : 'stale' })
      const durationMs = Math.round(performance.now() - started)
      if (!acked)
        logger.warn(
          { ...fieldsOf(job), outcome, durationMs },
          'ack refused: the lease was lost, another holder has the job',
        )
      logger.debug(
        { ...fieldsOf(job), outcome, acked, durationMs, waitedMs: waitedMs(job.payload, started) },
        'job done',
      )
    } catch (error) {
      failure = error
      if (signal.aborted) return
      await failJob(job, error, counted)
    } finally {
      endSpan(span, failure)
      clearInterval(heartbeat)
      timer()
    }
  }

  async function failJob(job: LeasedJob, error: unknown, counted: Tries): Promise<void> {
    const message = error instanceof Error ? error.message : String(error)
    const attempts = await tries.afterError(job, counted)
    const outcome = await queue.fail(job.id, job.token, message, attempts)
    logger.warn({ ...fieldsOf(job), outcome, err: error }, 'job failed')
    if (outcome === 'dead') await options.handler.onDead(job, error, 'RETRIES_EXHAUSTED')
    metrics.jobs.inc({ outcome })
  }

  /**
   * Running it again would most likely crash this worker too. `fail` dead-letters it (the attempts
   * are past maxAttempts for every driver), and the image fails through the handler like any other.
   */
  async function endCrashLoop(job: LeasedJob, counted: Tries): Promise<void> {
    const error = new Error(
      `delivered ${counted.count} times, more than the ${options.maxAttempts} allowed: earlier deliveries ended without a result or an error (their worker died)`,
    )
    const outcome = await queue.fail(job.id, job.token, error.message, counted.count)
    logger.warn(
      { ...fieldsOf(job), outcome, maxAttempts: options.maxAttempts, tries: counted.count },
      'job crashed its worker on every delivery: dead-lettered without running it',
    )
    if (outcome === 'dead') await options.handler.onDead(job, error, 'PROCESSING_CRASHED')
    metrics.jobs.inc({ outcome })
  }

  function launch(job: LeasedJob): void {
    const controller = new AbortController()
    const done = runJob(job, controller.signal)
      .catch((error) => logger.error({ jobId: job.id, err: error }, 'job bookkeeping failed'))
      .finally(() => {
        running.delete(job.token)
        pause.wake()
      })
    running.set(job.token, { job, controller, done })
  }

  async function claimLoop(): Promise<void> {
    while (!pause.stopped) {
      const free = options.concurrency - running.size
      const jobs = free > 0 ? await claim(free) : []
      for (const job of jobs) launch(job)
      if (jobs.length > 0 && jobs.length === free) continue
      await pause.until(options.pollMs)
    }
  }

  // When claims began failing: the outage is logged once at its start and once at its end.
  let downSince: number | null = null

  async function claim(max: number): Promise<LeasedJob[]> {
    try {
      const jobs = await queue.receive(max)
      if (downSince !== null) {
        logger.info(
          { queue: queue.driver, downMs: Date.now() - downSince },
          'queue available again',
        )
        downSince = null
      }
      return jobs
    } catch (error) {
      if (downSince === null) {
        downSince = Date.now()
        logger.warn({ queue: queue.driver, err: error }, 'queue unavailable: claiming jobs failed')
      }
      logger.error({ queue: queue.driver, err: error }, 'claiming jobs failed')
      return []
    }
  }

  // A push broker wakes the loop as soon as a delivery lands, rather than at the next poll.
  queue.onJobsAvailable?.(() => pause.wake())
  const loop = claimLoop()

  return {
    nudge: () => pause.wake(),
    async stop(graceMs) {
      pause.stop()
      await loop
      const all = () => Promise.allSettled([...running.values()].map((r) => r.done))
      await Promise.race([all(), sleep(graceMs)])
      await Promise.all([...running.values()].map((r) => releaseNow(r)))
    },
  }

  async function releaseNow({ job, controller }: Running): Promise<void> {
    controller.abort()
    const released = await queue.release(job.id, job.token).catch(() => false)
    if (released) metrics.jobs.inc({ outcome: 'released' })
    logger.info({ jobId: job.id, released }, 'job released at shutdown')
  }
}

/** For log lines only: the payload's image id, whatever its version, or null. */
function imageIdOf(payload: string): string | null {
  const parsed = parseProcessImageJob(payload)
  return parsed.kind === 'accepted' ? parsed.work.imageId : parsed.imageId
}

/** The upload's trace context, when the payload carries one. */
function traceparentOf(payload: string): string | undefined {
  const parsed = parseProcessImageJob(payload)
  return parsed.kind === 'accepted' ? parsed.work.traceparent : undefined
}

/** From the upload's commit to this delivery's start (v2 payloads carry it), for the done line. */
function waitedMs(payload: string, startedAt: number): number | undefined {
  const parsed = parseProcessImageJob(payload)
  if (parsed.kind !== 'accepted' || parsed.work.queuedAt === undefined) return undefined
  return Math.max(
    0,
    Math.round(Date.now() - (performance.now() - startedAt) - parsed.work.queuedAt),
  )
}
