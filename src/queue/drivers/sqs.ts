import { randomUUID } from 'node:crypto'
import type { Message } from '@aws-sdk/client-sqs'
import type { LeasedJob, QueueDriver, QueueStats } from '../queue.js'
import {
  once,
  openSqs,
  queueCounts,
  queueUrlOfArn,
  readRedrivePolicy,
  sqsError,
  toSeconds,
} from './sqs-client.js'
import { createDeadLetters } from './sqs-dead.js'
import { createLeaseTable, createRetryMemory } from './sqs-leases.js'
import { decodeJob, receiveCount } from './sqs-message.js'
import { type SqsQueueOptions, validateOptions } from './sqs-options.js'
import { createSender } from './sqs-send.js'
import { createSettler } from './sqs-settle.js'

export type { SqsQueueOptions } from './sqs-options.js'

/**
 * QueueDriver on Amazon SQS (the contract in ../queue.ts). Receive is ReceiveMessage with a short long poll and
 * the lease as visibility timeout; leases are also kept here so a stale token never reaches the
 * broker (sqs-leases.ts). On a standard queue a retry re-sends the job with its history and a
 * DelaySeconds backoff and deletes the old message (SQS cannot edit one), so the history survives
 * any worker and SQS counts the job as delayed; attempts = earlier copies' deliveries + this
 * message's ApproximateReceiveCount. On a FIFO queue (`.fifo`) enqueue deduplicates by job id for
 * SQS's 5-minute window, and a retry pushes the visibility out instead (FIFO has no per-message
 * delay), with the history kept by this process (createRetryMemory). Standard queues may deliver
 * a job twice, and a repeated enqueue is a second message: workers are idempotent.
 */
export async function createSqsQueue(options: SqsQueueOptions): Promise<QueueDriver> {
  const now = options.now ?? Date.now
  const { queueUrl, leaseMs } = options
  const waitTimeSeconds = options.waitTimeSeconds ?? 1
  validateOptions(options, waitTimeSeconds)
  const sqs = await openSqs({ ...options, waitTimeSeconds })
  const fifo = queueUrl.endsWith('.fifo')
  const leases = createLeaseTable(now)
  const retries = createRetryMemory(now)
  const closing = new AbortController()
  const policy = once(() => readRedrivePolicy(sqs, queueUrl))
  const deadUrl = once(async () => {
    if (options.deadQueueUrl) return options.deadQueueUrl
    const target = (await policy())?.deadLetterTargetArn
    if (!target)
      throw new Error(
        `[sqs] no deadQueueUrl, and ${queueUrl} has no RedrivePolicy to take one from`,
      )
    return queueUrlOfArn(sqs, target)
  })
  const send = createSender({ sqs, queueUrl, fifo, deadUrl })
  const settler = createSettler({ ...options, sqs, fifo, leases, retries, send, now })
  const receiveLimit = async () => (await policy())?.maxReceiveCount ?? null
  const dead = createDeadLetters({
    sqs,
    deadUrl,
    now,
    receiveLimit,
    send: (job, messageId) => send.redriven(job, messageId),
  })

  function lease(message: Message, sentAt: number): LeasedJob {
    const messageId = message.MessageId ?? ''
    const job = decodeJob(message, now())
    retries.due(messageId)
    job.errors = retries.errorsFor(messageId) ?? job.errors
    const attempts = job.attempts + receiveCount(message)
    const token = randomUUID()
    // Counted from when the request left, so it never outlasts the broker's visibility timeout.
    const leaseUntil = sentAt + leaseMs
    leases.add({
      token,
      job,
      messageId,
      receiptHandle: message.ReceiptHandle ?? '',
      attempts,
      leaseUntil,
    })
    return { id: job.id, payload: job.payload, attempts, token, leaseUntil }
  }

  async function receiveBatch(max: number, wait: number): Promise<Message[]> {
    const request = new sqs.sdk.ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      VisibilityTimeout: toSeconds(leaseMs),
      WaitTimeSeconds: wait,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    })
    try {
      return (await sqs.client.send(request, { abortSignal: closing.signal })).Messages ?? []
    } catch (error) {
      if (closing.signal.aborted) return [] // close() cut the long poll short: anything taken comes back after one lease
      throw sqsError('ReceiveMessage', queueUrl, error)
    }
  }

  return {
    driver: 'sqs',
    async enqueue(jobs) {
      await send.enqueue(
        jobs.map(({ id, payload }) => ({ id, payload, attempts: 0, createdAt: now(), errors: [] })),
      )
    },
    async receive(max) {
      if (closing.signal.aborted || max <= 0) return []
      leases.sweep()
      const jobs: LeasedJob[] = []
      // Long-poll for the first batch only; further batches (max > 10) take what is there now.
      for (let wait = waitTimeSeconds; jobs.length < max; wait = 0) {
        const want = Math.min(10, max - jobs.length)
        const sentAt = now()
        const messages = await receiveBatch(want, wait)
        for (const message of messages) jobs.push(lease(message, sentAt))
        if (messages.length < want) break
      }
      return jobs
    },
    ack: settler.ack,
    extend: settler.extend,
    release: settler.release,
    fail: settler.fail,
    async stats() {
      const [main, deadQueue] = await Promise.all([
        queueCounts(sqs, queueUrl),
        deadUrl().then((url) => queueCounts(sqs, url)),
      ])
      // On FIFO a retry waiting out its backoff is in flight for SQS; count this process's as delayed.
      const waiting = fifo ? Math.min(retries.waiting(), main.notVisible) : 0
      const stats: QueueStats = {
        visible: main.visible,
        inFlight: main.notVisible - waiting,
        delayed: main.delayed + waiting,
        dead: deadQueue.visible + deadQueue.notVisible + deadQueue.delayed, // held by a listDead scan is still dead
        // Left out: the SQS API has no age of the oldest message (CloudWatch's ApproximateAgeOfOldestMessage has).
      }
      return stats
    },
    listDead: (limit) => dead.list(limit),
    redrive: (id) => dead.redrive(id),
    async check() {
      const signal = AbortSignal.timeout(options.checkTimeoutMs ?? 2_000)
      const ping = (url: string) =>
        sqs.client.send(
          new sqs.sdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
          { abortSignal: signal },
        )
      try {
        await Promise.all([ping(queueUrl), deadUrl().then(ping)])
      } catch (error) {
        throw sqsError(
          'check',
          queueUrl,
          signal.aborted ? new Error('no answer in time', { cause: error }) : error,
        )
      }
    },
    async close() {
      if (closing.signal.aborted) return
      closing.abort()
      // Give back what is still leased, so it is redelivered now rather than after its lease.
      await Promise.all(
        leases
          .drain()
          .map((held) => settler.changeVisibility(held.receiptHandle, 0).catch(() => {})),
      )
      sqs.client.destroy()
    },
  }
}
