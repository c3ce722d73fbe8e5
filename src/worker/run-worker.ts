import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Metrics } from '../observability/metrics.js'
import type { LeasedJob, QueueDriver } from '../queue/queue.js'
import type { JobHandler } from './process-image.js'

export interface WorkerOptions {
  queue: QueueDriver
  handler: JobHandler
  concurrency: number
  pollMs: number
  leaseMs: number
  logger: Logger
  metrics: Metrics
}

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
  let active = true
  let wake = () => {}

  async function runJob(job: LeasedJob, signal: AbortSignal): Promise<void> {
    const timer = metrics.processingSeconds.startTimer()
    // Heartbeat: extend the lease well before it lapses, so long jobs are not redelivered.
    const heartbeat = setInterval(
      () => void queue.extend(job.id, job.token).catch(() => {}),
      options.leaseMs / 3,
    )
    try {
      const outcome = await options.handler.handle(job, signal)
      if (signal.aborted) return
      const acked = await queue.ack(job.id, job.token)
      metrics.jobs.inc({ outcome: acked ? outcome : 'stale' })
    } catch (error) {
      if (signal.aborted) return
      await failJob(job, error)
    } finally {
      clearInterval(heartbeat)
      timer()
    }
  }

  async function failJob(job: LeasedJob, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error)
    const outcome = await queue.fail(job.id, job.token, message)
    logger.warn({ jobId: job.id, attempts: job.attempts, outcome, err: error }, 'job failed')
    if (outcome === 'dead') await options.handler.onDead(job, error)
    metrics.jobs.inc({ outcome })
  }

  function launch(job: LeasedJob): void {
    const controller = new AbortController()
    const done = runJob(job, controller.signal)
      .catch((error) => logger.error({ jobId: job.id, err: error }, 'job bookkeeping failed'))
      .finally(() => {
        running.delete(job.token)
        wake()
      })
    running.set(job.token, { job, controller, done })
  }

  async function claimLoop(): Promise<void> {
    while (active) {
      const free = options.concurrency - running.size
      const jobs = free > 0 ? await queue.receive(free).catch(logClaimError) : []
      for (const job of jobs) launch(job)
      if (jobs.length > 0 && jobs.length === free) continue
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, options.pollMs).unref()
      })
    }
  }

  function logClaimError(error: unknown): LeasedJob[] {
    logger.error({ err: error }, 'claiming jobs failed')
    return []
  }

  // A push broker wakes the loop as soon as a delivery lands, rather than at the next poll.
  queue.onJobsAvailable?.(() => wake())
  const loop = claimLoop()

  return {
    nudge: () => wake(),
    async stop(graceMs) {
      active = false
      wake()
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
