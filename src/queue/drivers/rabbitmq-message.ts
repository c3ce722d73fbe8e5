import { randomUUID } from 'node:crypto'
import type { ConfirmChannel, Message, Options } from 'amqplib'
import type { JobRecord } from '../job-record.js'
import type { DeadJob } from '../queue.js'

export type { JobRecord }

const ATTEMPTS = 'x-pixelflow-attempts'
const CREATED_AT = 'x-pixelflow-created-at'
// JSON in one string header: simpler to bound and to read back than an AMQP array of strings.
const ERRORS = 'x-pixelflow-errors'
/** amqplib refuses header tables over 64 KiB; keep each error well under it (maxAttempts ≤ 5). */
export const MAX_ERROR_CHARS = 2000

export interface Outgoing {
  content: Buffer
  options: Options.Publish
}

export function encodeJob(job: JobRecord, expirationMs?: number): Outgoing {
  return {
    content: Buffer.from(job.payload, 'utf8'),
    options: {
      messageId: job.id,
      persistent: true,
      // Unroutable (the queue was deleted): the broker returns it instead of confirming a drop.
      mandatory: true,
      headers: {
        [ATTEMPTS]: job.attempts,
        [CREATED_AT]: job.createdAt,
        [ERRORS]: JSON.stringify(job.errors),
      },
      ...(expirationMs === undefined
        ? {}
        : { expiration: String(Math.max(0, Math.round(expirationMs))) }),
    },
  }
}

export function decodeJob(message: Message, now: number): JobRecord {
  const headers = message.properties.headers ?? {}
  return {
    // Not ours (published by hand without a message id): still deliverable, the worker will fail it.
    id:
      typeof message.properties.messageId === 'string'
        ? message.properties.messageId
        : `unknown-${randomUUID()}`,
    payload: message.content.toString('utf8'),
    attempts: count(headers[ATTEMPTS]),
    createdAt: typeof headers[CREATED_AT] === 'number' ? headers[CREATED_AT] : now,
    errors: parseErrors(headers[ERRORS]),
  }
}

/**
 * Earlier deliveries of this copy. Quorum queues count returns (requeue, reject, a consumer's
 * channel dying) in `x-delivery-count`; RabbitMQ 4.3 counts only failed ones there and every
 * acquisition in `x-acquired-count` (from the 4.3 docs, not checked here: this broker is 3.10.8).
 */
export function deliveryCount(message: Message): number {
  const headers = message.properties.headers
  return Math.max(count(headers?.['x-delivery-count']), count(headers?.['x-acquired-count']))
}

/** A dead-queue message as a DeadJob; copies the broker dead-lettered (delivery limit) say so. */
export function toDeadJob(
  message: Message,
  main: string,
  deliveryLimit: number,
  now: number,
): DeadJob {
  const job = decodeJob(message, now)
  const deaths = message.properties.headers?.['x-death']
  const death = Array.isArray(deaths) ? deaths.find((d) => d?.queue === main) : undefined
  if (!death)
    return {
      id: job.id,
      payload: job.payload,
      attempts: job.attempts,
      errors: job.errors,
      createdAt: job.createdAt,
    }
  const deliveries = deliveryLimit + 1
  const reason = `dead-lettered by the broker (${String(death.reason)}): delivered ${deliveries} times without an ack or a recorded failure (worker crashes, lease expiries or releases)`
  return {
    id: job.id,
    payload: job.payload,
    attempts: job.attempts + deliveries,
    errors: [...job.errors, reason],
    createdAt: job.createdAt,
  }
}

/**
 * Publishes and resolves once the broker confirmed every message (persisted, and on a quorum
 * queue accepted by a majority). A nack, a return or a closed channel rejects: the caller retries,
 * and a copy that did land is a harmless duplicate.
 */
export async function publishConfirmed(
  channel: ConfirmChannel,
  returns: () => number,
  queue: string,
  messages: Outgoing[],
  timeoutMs: number,
): Promise<void> {
  const returnsBefore = returns()
  const confirms = messages.map(
    ({ content, options }) =>
      new Promise<void>((resolve, reject) => {
        // The return value only says the socket buffer is full; amqplib still queues the frame.
        channel.sendToQueue(queue, content, options, (error) =>
          error ? reject(asError(error)) : resolve(),
        )
      }),
  )
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`[rabbitmq] no publisher confirm within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    await Promise.race([Promise.all(confirms), timeout])
  } finally {
    clearTimeout(timer)
  }
  // basic.return arrives before the confirm of the same message, so a return is counted by now.
  if (returns() !== returnsBefore)
    throw new Error(`[rabbitmq] a message to ${queue} was returned unroutable`)
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
}

function parseErrors(value: unknown): string[] {
  if (typeof value !== 'string') return []
  try {
    const parsed: unknown = JSON.parse(value)
    return Array.isArray(parsed) ? parsed.map(String) : []
  } catch {
    return []
  }
}

function asError(error: unknown): Error {
  return error instanceof Error
    ? error
    : new Error(`[rabbitmq] publish not confirmed: ${String(error)}`)
}
