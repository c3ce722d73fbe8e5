import { backoffMs } from '../backoff.js'
import type { FailOutcome, QueueDriver } from '../queue.js'
import { isInvalidParameter, isLeaseGone, type SqsLink, sqsError, toSeconds } from './sqs-client.js'
import type { LeaseTable, RetryMemory } from './sqs-leases.js'
import { appendError } from './sqs-message.js'
import type { Sender } from './sqs-send.js'

interface SettleOptions {
  sqs: SqsLink
  queueUrl: string
  fifo: boolean
  leases: LeaseTable
  retries: RetryMemory
  send: Sender
  leaseMs: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  now: () => number
  random?: () => number
}

export type Settler = Pick<QueueDriver, 'ack' | 'extend' | 'release' | 'fail'> & {
  changeVisibility(receiptHandle: string, seconds: number): Promise<unknown>
}

/**
 * What a lease holder can do with its job. Each call first checks the lease in this process
 * (sqs-leases.ts explains why the receipt handle alone is not enough), then asks SQS. A broker
 * answer that the handle no longer holds the message means stale; a transport failure is thrown.
 */
export function createSettler(options: SettleOptions): Settler {
  const { sqs, queueUrl, leases, retries, send, now } = options
  const visibility = toSeconds(options.leaseMs)

  const changeVisibility = (receiptHandle: string, seconds: number) =>
    sqs.client.send(
      new sqs.sdk.ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    )
  const deleteMessage = (receiptHandle: string) =>
    sqs.client.send(
      new sqs.sdk.DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }),
    )

  /** True once SQS did it; false if SQS says the handle no longer holds the message. */
  async function settle(action: string, request: () => Promise<unknown>): Promise<boolean> {
    try {
      await request()
      return true
    } catch (error) {
      if (isLeaseGone(error)) return false
      throw sqsError(action, queueUrl, error)
    }
  }

  async function fail(
    id: string,
    token: string,
    error: string,
    counted = Number.POSITIVE_INFINITY,
  ): Promise<FailOutcome> {
    const held = leases.take(id, token)
    if (!held) return 'stale'
    const attempts = Math.min(held.attempts, counted)
    const job = { ...held.job, attempts, errors: appendError(held.job.errors, error) }
    const isDead = attempts >= options.maxAttempts
    const delay = Math.min(
      900,
      toSeconds(backoffMs(attempts, options.backoffBaseMs, options.backoffMaxMs, options.random)),
    )
    try {
      if (isDead) await send.dead({ ...job, deadAt: now() }, held.messageId)
      else if (!options.fifo) await send.retry(job, delay)
      else {
        // FIFO: no per-message delay, so the same message stays hidden for the backoff.
        await changeVisibility(held.receiptHandle, delay)
        retries.remember(held.messageId, job.errors, now() + delay * 1000)
        return 'retry'
      }
    } catch (cause) {
      if (isLeaseGone(cause)) return 'stale'
      // Not recorded: give the message back at once so the job is retried, never lost.
      await changeVisibility(held.receiptHandle, 0).catch(() => {})
      throw sqsError(isDead ? 'dead-lettering' : 'retrying', queueUrl, cause)
    }
    retries.forget(held.messageId)
    // The new copy is stored. Should this delete fail, the old message comes back after its
    // visibility timeout as a duplicate, which the worker's idempotence absorbs.
    await deleteMessage(held.receiptHandle).catch(() => {})
    return isDead ? 'dead' : 'retry'
  }

  return {
    changeVisibility,
    async ack(id, token) {
      const held = leases.take(id, token)
      if (!held || !(await settle('DeleteMessage', () => deleteMessage(held.receiptHandle))))
        return false
      retries.forget(held.messageId)
      return true
    },
    async extend(id, token) {
      const held = leases.held(id, token)
      if (!held) return false
      const sentAt = now()
      try {
        await changeVisibility(held.receiptHandle, visibility)
      } catch (error) {
        if (isLeaseGone(error)) leases.drop(token)
        // Also refused: past SQS's 12 h cap from the first receive. The lease then runs out as it is.
        if (isLeaseGone(error) || isInvalidParameter(error)) return false
        throw sqsError('ChangeMessageVisibility', queueUrl, error)
      }
      // From when the request left: SQS restarted the countdown no earlier than that.
      return leases.renew(token, sentAt + options.leaseMs)
    },
    async release(id, token) {
      const held = leases.take(id, token)
      return (
        held !== null &&
        settle('ChangeMessageVisibility', () => changeVisibility(held.receiptHandle, 0))
      )
    },
    fail,
  }
}
