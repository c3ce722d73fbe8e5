import type { SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs'
import type { SqsLink } from './sqs-client.js'
import {
  chunkBatch,
  dedupId,
  encodeAttributes,
  type JobRecord,
  messageBody,
} from './sqs-message.js'

export interface Sender {
  /** New jobs: SendMessageBatch, 10 (or 256 KiB) at a time; any entry SQS refused fails the call. */
  enqueue(jobs: JobRecord[]): Promise<void>
  /** A failed job's next try, with its history, hidden for `delaySeconds` (standard queues only). */
  retry(job: JobRecord, delaySeconds: number): Promise<void>
  /** A job that used up its attempts, into the dead queue; `messageId` is the message it leaves. */
  dead(job: JobRecord, messageId: string): Promise<void>
  /** A dead job back to the main queue; `messageId` is the dead message it comes from. */
  redriven(job: JobRecord, messageId: string): Promise<void>
}

/**
 * Every message the driver sends. On FIFO queues each job is its own message group (jobs are
 * independent, and one group would let only one job be in flight at a time), and enqueue uses the
 * job id as deduplication id: SQS then drops a repeated enqueue of that id for 5 minutes, which
 * covers an outbox relay publishing again after a crash. Dead-lettering and redrive send under ids
 * of their own, or SQS would drop them as repeats of the original enqueue.
 */
export function createSender(options: {
  sqs: SqsLink
  queueUrl: string
  fifo: boolean
  deadUrl: () => Promise<string>
}): Sender {
  const { sqs, queueUrl, fifo } = options

  function entry(
    job: JobRecord,
    isFifo: boolean,
    dedup: string,
    delaySeconds = 0,
  ): Omit<SendMessageBatchRequestEntry, 'Id'> {
    return {
      MessageBody: messageBody(job),
      MessageAttributes: encodeAttributes(job),
      ...(delaySeconds > 0 ? { DelaySeconds: delaySeconds } : {}),
      ...(isFifo
        ? { MessageGroupId: dedupId(job.id), MessageDeduplicationId: dedupId(dedup) }
        : {}),
    }
  }

  async function sendOne(
    url: string,
    message: Omit<SendMessageBatchRequestEntry, 'Id'>,
  ): Promise<void> {
    await sqs.client.send(new sqs.sdk.SendMessageCommand({ QueueUrl: url, ...message }))
  }

  return {
    async enqueue(jobs) {
      const entries = jobs.map((job) => entry(job, fifo, job.id))
      for (const chunk of chunkBatch(entries)) {
        const Entries = chunk.map((message, i) => ({ Id: String(i), ...message }))
        const out = await sqs.client.send(
          new sqs.sdk.SendMessageBatchCommand({ QueueUrl: queueUrl, Entries }),
        )
        const failed = out.Failed ?? []
        if (failed.length > 0) {
          // Earlier entries went through; the caller (the outbox relay) sends the batch again,
          // and the repeats are duplicates that workers absorb.
          const reasons = failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')
          throw new Error(
            `[sqs] SendMessageBatch to ${queueUrl}: ${failed.length} of ${Entries.length} refused (${reasons})`,
          )
        }
      }
    },
    async retry(job, delaySeconds) {
      await sendOne(queueUrl, entry(job, false, job.id, delaySeconds))
    },
    async dead(job, messageId) {
      const url = await options.deadUrl()
      await sendOne(url, entry(job, url.endsWith('.fifo'), `dead:${messageId}`))
    },
    async redriven(job, messageId) {
      await sendOne(queueUrl, entry(job, fifo, `redrive:${messageId}`))
    },
  }
}
