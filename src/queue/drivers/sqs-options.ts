export interface SqsQueueOptions {
  queueUrl: string
  region: string
  /** An SQS-compatible endpoint (an emulator); AWS when unset. */
  endpoint?: string
  /**
   * Where jobs go after maxAttempts failures. Unset: the dead-letter target of the main queue's
   * RedrivePolicy, which should be configured anyway as the crash-loop backstop (sqs-client.ts).
   */
  deadQueueUrl?: string
  /** Rounded up to whole seconds for the visibility timeout; leases are tracked to the ms here. */
  leaseMs: number
  maxAttempts: number
  backoffBaseMs: number
  /** A retry waits at most this long, rounded up to whole seconds; SQS caps delays at 15 min. */
  backoffMaxMs: number
  /**
   * The long-poll wait of a receive that finds nothing (0–20 s, default 1): short, so the worker
   * loop stays responsive and a shutdown is not held up. At most half the lease, as a message that
   * arrives late in the wait gets a lease counted from the request (sqs-leases.ts).
   */
  waitTimeSeconds?: number
  accessKeyId?: string
  secretAccessKey?: string
  /** How long check() may take before it rejects (default 2 s), for /readyz. */
  checkTimeoutMs?: number
  now?: () => number
  /** The jitter source; tests pin it. */
  random?: () => number
}

export function validateOptions(options: SqsQueueOptions, waitTimeSeconds: number): void {
  const refuse = (why: string) => {
    throw new Error(`[sqs] ${why}`)
  }
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20)
    refuse('waitTimeSeconds must be a whole number from 0 to 20')
  if (options.leaseMs < 1000 || options.leaseMs > 43_200_000)
    refuse('leaseMs must be from 1 s to 12 h, the visibility timeout range of SQS')
  if (waitTimeSeconds * 1000 > options.leaseMs / 2)
    refuse('waitTimeSeconds must be at most half of leaseMs')
  if (options.maxAttempts < 1) refuse('maxAttempts must be at least 1')
}
