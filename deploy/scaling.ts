/**
 * The scaling numbers every deployment target shares (Kubernetes with KEDA, AWS with Application
 * Auto Scaling). The definition they implement is written once, in docs/deploy.md ("Backlog per
 * worker"):
 *
 *   backlog per worker = jobs waiting (visible in the queue) ÷ running worker slots
 *
 * where a worker slot is one job a worker process works on at once (PIXELFLOW_WORKER_CONCURRENCY).
 * Both autoscalers keep it near BACKLOG_PER_WORKER_TARGET by target tracking: desired workers =
 * current workers × backlog per worker ÷ target.
 */

/**
 * Jobs waiting per worker slot that the autoscalers aim for: the acceptable extra wait divided by
 * the time a slot takes per job (measured: about 0.5 s of one slot for a 4 MP photo with six
 * variants, bench/RESULTS.md; so a target of 5 lets a new upload wait about 3 s in the queue
 * before more workers are asked for). `pixelflow plan --latency-seconds` derives it for a goal.
 */
export const BACKLOG_PER_WORKER_TARGET = 5

/** Worker slots per worker replica (container or task): one per core it is given. */
export const WORKER_SLOTS_PER_REPLICA = 2

/** Lease (visibility timeout) and shutdown grace shared by the queue settings of every target. */
export const QUEUE_LEASE_MS = 60_000
export const SHUTDOWN_GRACE_MS = 60_000
/** main.ts exits hard this long after the grace, whatever is still running. */
export const SHUTDOWN_HARD_EXIT_MS = 10_000

/**
 * Seconds the orchestrator waits after SIGTERM before it kills: above the grace plus the hard
 * exit, so a running job is either finished or released to the queue, never cut in the middle.
 */
export const TERMINATION_GRACE_SECONDS = Math.ceil(
  (SHUTDOWN_GRACE_MS + SHUTDOWN_HARD_EXIT_MS) / 1000 + 20,
)

/** PIXELFLOW_MAX_UPLOAD_BYTES (the default): proxies in front must allow the same body size. */
export const MAX_UPLOAD_BYTES = 52_428_800

/** PIXELFLOW_QUEUE_MAX_ATTEMPTS' default: deliveries before a job is dead-lettered. */
export const QUEUE_MAX_ATTEMPTS = 5

/**
 * The definition in PromQL, from the two series every Pixelflow process exports: the queue's
 * visible jobs (every process reports the same queue, hence max) over the sum of
 * pixelflow_worker_slots (each worker process reports its concurrency, other roles 0).
 */
export function backlogPerWorkerPromQL(namespace: string): string {
  return `max(pixelflow_queue_depth{namespace="${namespace}",state="visible"}) / clamp_min(sum(pixelflow_worker_slots{namespace="${namespace}"}), 1)`
}

/**
 * The definition as CloudWatch metric math: m1 = SQS ApproximateNumberOfMessagesVisible, m2 =
 * ECS RunningTaskCount of the worker service (Container Insights), each task running
 * WORKER_SLOTS_PER_REPLICA slots.
 */
export const BACKLOG_PER_WORKER_METRIC_MATH = `m1 / (m2 * ${WORKER_SLOTS_PER_REPLICA})`
