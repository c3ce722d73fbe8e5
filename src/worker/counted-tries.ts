import type { LeasedJob, QueueDriver } from '../queue/queue.js'
import type { JobHandler } from './process-image.js'

/** How many tries a delivery stands for, as the crash-loop check and fail() should see it. */
export interface Tries {
  /** This delivery's number: the queue's count, or lower where the handler counted fewer starts. */
  count: number
  /** The handler's starts before this delivery, where it was asked; null otherwise. */
  startsBefore: number | null
}

/**
 * A prefetching broker (RabbitMQ) also counts deliveries that waited in a worker's buffer and
 * never reached a slot: when that worker dies, each comes back with its count raised. So a job
 * held behind one that crashes its worker would look like a crash loop of its own. Near
 * maxAttempts, for such a queue, the handler's count of starts (the image row's) is trusted
 * where it is lower. Only there: every other queue's counts are exact, and an error raised
 * before the start was recorded (a fenced bucket, a busy database) must still use up tries.
 */
export function createTriesCounter(
  queue: Pick<QueueDriver, 'countsHeldDeliveries'>,
  handler: Pick<JobHandler, 'startsBefore'>,
  maxAttempts: number,
) {
  const startsOf = async (job: LeasedJob): Promise<number | null> =>
    handler.startsBefore ? handler.startsBefore(job).catch(() => null) : null

  return {
    async before(job: LeasedJob): Promise<Tries> {
      const asIs = { count: job.attempts, startsBefore: null }
      if (!queue.countsHeldDeliveries || job.attempts < maxAttempts) return asIs
      const starts = await startsOf(job)
      return starts === null
        ? asIs
        : { count: Math.min(job.attempts, starts + 1), startsBefore: starts }
    },

    /**
     * The count fail() decides by after an error, or undefined for the queue's own: lower only
     * when this delivery's start was recorded, so each lowered retry is one more start and the
     * starts reach maxAttempts in the end.
     */
    async afterError(job: LeasedJob, tries: Tries): Promise<number | undefined> {
      if (tries.startsBefore === null) return undefined
      const starts = await startsOf(job)
      return starts !== null && starts > tries.startsBefore
        ? Math.min(job.attempts, starts)
        : undefined
    },
  }
}
