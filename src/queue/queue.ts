/**
 * The queue port (docs/architecture.md). At-least-once: `receive` takes a lease with a fresh token;
 * ack, extend, release and fail must present it, and a stale token (expired or superseded
 * lease) is refused with `false` / 'stale', never touching a newer holder's lease.
 */
export interface JobInput {
  /** Enqueueing an id that is already queued, leased or dead is a no-op: publishes may repeat. */
  id: string
  payload: string
}

export interface LeasedJob {
  id: string
  payload: string
  /** Deliveries so far, this one included. */
  attempts: number
  token: string
  leaseUntil: number
}

export interface DeadJob {
  id: string
  payload: string
  attempts: number
  errors: string[]
  createdAt: number
}

export interface QueueStats {
  visible: number
  inFlight: number
  delayed: number
  dead: number
  /** Age in ms of the oldest visible job, 0 when none is waiting; absent when the broker cannot tell (SQS). */
  oldestAgeMs?: number
  /** Consumer slots across the fleet, when the broker knows them (RabbitMQ); absent otherwise. */
  consumers?: number
}

export type FailOutcome = 'retry' | 'dead' | 'stale'

export interface QueueDriver {
  readonly driver: string
  /**
   * True where attempts also count deliveries a process held in its prefetch and never handed to
   * receive() before it died (RabbitMQ): the worker then checks them near maxAttempts against
   * its own count of starts (worker/counted-tries.ts). Every other driver counts claims only.
   */
  readonly countsHeldDeliveries?: boolean
  enqueue(jobs: JobInput[]): Promise<void>
  receive(max: number): Promise<LeasedJob[]>
  ack(id: string, token: string): Promise<boolean>
  extend(id: string, token: string): Promise<boolean>
  /** Gives the job back at once (shutdown), without counting it as a failure. */
  release(id: string, token: string): Promise<boolean>
  /**
   * Records the error; retries with backoff until maxAttempts, then dead-letters. `attempts`, when
   * lower than the lease's own count, decides instead (and a driver whose next copy carries a
   * count carries this one): the caller counted fewer real tries than the broker's deliveries.
   */
  fail(id: string, token: string, error: string, attempts?: number): Promise<FailOutcome>
  stats(): Promise<QueueStats>
  listDead(limit: number): Promise<DeadJob[]>
  redrive(id: string): Promise<boolean>
  check(): Promise<void>
  close(): Promise<void>
  /**
   * For drivers that are pushed jobs (RabbitMQ): called when a delivery arrives, so an idle worker
   * claims it at once instead of at its next poll. Pull drivers leave it out.
   */
  onJobsAvailable?(listener: () => void): void
}
