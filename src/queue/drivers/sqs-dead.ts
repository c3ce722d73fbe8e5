import type { Message } from '@aws-sdk/client-sqs'
import type { DeadJob } from '../queue.js'
import type { SqsLink } from './sqs-client.js'
import { decodeJob, type JobRecord } from './sqs-message.js'

export interface DeadLetters {
  list(limit: number): Promise<DeadJob[]>
  redrive(id: string): Promise<boolean>
}

interface DeadOptions {
  sqs: SqsLink
  deadUrl: () => Promise<string>
  /** The main queue's RedrivePolicy maxReceiveCount, to count the deliveries of what SQS moved. */
  receiveLimit: () => Promise<number | null>
  /** Sends a redriven job back to the main queue; `messageId` is the dead message it comes from. */
  send: (job: JobRecord, messageId: string) => Promise<void>
  now: () => number
}

/** How long a scan holds what it has read; released at once when it ends. */
const HOLD_SECONDS = 30

/**
 * The dead queue has no index and SQS cannot peek: a receive with VisibilityTimeout 0 returns
 * the same messages again and again, so listing more than 10 that way never ends. Both
 * operations instead read the dead queue holding what they read (invisible for HOLD_SECONDS), so
 * each message is seen once, until a long-polled receive comes back empty, then give back what
 * they did not delete with a visibility of 0. A receive on the dead queue counts as a receive:
 * harmless, the dead queue has no RedrivePolicy. Admin operations, O(dead jobs): serialised in
 * this process, and a reader in another process meanwhile sees only what is not held.
 */
export function createDeadLetters(options: DeadOptions): DeadLetters {
  const { sqs, now } = options
  let chain: Promise<unknown> = Promise.resolve()

  function serial<T>(work: () => Promise<T>): Promise<T> {
    const run = chain.then(work, work)
    chain = run.catch(() => {})
    return run
  }

  async function hold(url: string, limit: number): Promise<Message[]> {
    const held = new Map<string, Message>()
    while (held.size < limit) {
      const out = await sqs.client.send(
        new sqs.sdk.ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, limit - held.size),
          VisibilityTimeout: HOLD_SECONDS,
          // Long polling asks every SQS server; a short poll may miss messages on a small queue.
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
        }),
      )
      const messages = out.Messages ?? []
      if (messages.length === 0) break
      for (const message of messages)
        held.set(message.MessageId ?? message.ReceiptHandle ?? '', message)
    }
    return [...held.values()]
  }

  /** Best effort: what is not given back becomes visible by itself after HOLD_SECONDS. */
  async function giveBack(url: string, messages: Message[]): Promise<void> {
    for (let at = 0; at < messages.length; at += 10) {
      const Entries = messages.slice(at, at + 10).map((message, i) => ({
        Id: String(i),
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: 0,
      }))
      await sqs.client
        .send(new sqs.sdk.ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries }))
        .catch(() => {})
    }
  }

  async function toDeadJob(message: Message): Promise<DeadJob> {
    const job = decodeJob(message, now())
    const base = { id: job.id, payload: job.payload, createdAt: job.createdAt }
    if (job.deadAt !== undefined) return { ...base, attempts: job.attempts, errors: job.errors }
    // Moved by SQS's RedrivePolicy: this copy was received maxReceiveCount times without an outcome.
    const limit = (await options.receiveLimit()) ?? 0
    const note = `moved to the dead queue by SQS after ${limit} receives without an outcome (RedrivePolicy: a crash loop, expired leases or releases)`
    return { ...base, attempts: job.attempts + limit, errors: [...job.errors, note] }
  }

  return {
    list: (limit) =>
      serial(async () => {
        if (limit <= 0) return []
        const url = await options.deadUrl()
        const held = await hold(url, limit)
        try {
          const jobs = await Promise.all(held.map(toDeadJob))
          return jobs.sort((a, b) => a.createdAt - b.createdAt)
        } finally {
          await giveBack(url, held)
        }
      }),
    redrive: (id) =>
      serial(async () => {
        const url = await options.deadUrl()
        const held = await hold(url, Number.POSITIVE_INFINITY)
        const matching = held.filter((message) => decodeJob(message, now()).id === id)
        let keep = held
        try {
          const first = matching[0]
          if (!first) return false
          // One fresh copy, attempts reset and history kept (as the SQLite driver does). It is sent
          // before the dead copies are deleted: a crash in between leaves a duplicate, not a loss.
          const { deadAt: _, ...job } = decodeJob(first, now())
          await options.send({ ...job, attempts: 0 }, first.MessageId ?? '')
          keep = held.filter((message) => !matching.includes(message))
          for (let at = 0; at < matching.length; at += 10) {
            const Entries = matching
              .slice(at, at + 10)
              .map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle }))
            await sqs.client.send(new sqs.sdk.DeleteMessageBatchCommand({ QueueUrl: url, Entries }))
          }
          return true
        } finally {
          await giveBack(url, keep)
        }
      }),
  }
}
