import { createHash } from 'node:crypto'
import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs'
import type { JobRecord } from '../job-record.js'

export type { JobRecord }

export const MAX_ERROR_CHARS = 2000
/** The history kept per job: the latest failures, so a long history never outgrows a message. */
export const MAX_ERRORS = 50
/** The request size cap of SendMessageBatch on queues created before 2025 (now 1 MiB). */
const MAX_BATCH_BYTES = 256 * 1024

const ID = 'JobId'
const ATTEMPTS = 'JobAttempts'
const CREATED_AT = 'JobCreatedAt'
const ERRORS = 'JobErrors'
const DEAD_AT = 'JobDeadAt'
/** SQS refuses an empty body: an empty payload travels as a placeholder with this flag. */
const EMPTY = 'JobPayloadEmpty'
const PLACEHOLDER = '-'

export function messageBody(job: JobRecord): string {
  return job.payload === '' ? PLACEHOLDER : job.payload
}

export function encodeAttributes(job: JobRecord): Record<string, MessageAttributeValue> {
  const number = (value: number): MessageAttributeValue => ({
    DataType: 'Number',
    StringValue: String(value),
  })
  const attributes: Record<string, MessageAttributeValue> = {
    [ID]: { DataType: 'String', StringValue: job.id },
    [ATTEMPTS]: number(job.attempts),
    [CREATED_AT]: number(job.createdAt),
  }
  if (job.errors.length > 0)
    attributes[ERRORS] = { DataType: 'String', StringValue: JSON.stringify(job.errors) }
  if (job.deadAt !== undefined) attributes[DEAD_AT] = number(job.deadAt)
  if (job.payload === '') attributes[EMPTY] = number(1)
  return attributes
}

/** A message without our attributes (sent by hand, say) is still a job: its id is its MessageId. */
export function decodeJob(message: Message, now: number): JobRecord {
  const attributes = message.MessageAttributes ?? {}
  const text = (name: string) => attributes[name]?.StringValue
  const number = (name: string) => {
    const value = Number(text(name))
    return Number.isFinite(value) ? value : undefined
  }
  const errors = text(ERRORS)
  const deadAt = number(DEAD_AT)
  return {
    id: text(ID) ?? message.MessageId ?? '',
    payload: text(EMPTY) === '1' ? '' : (message.Body ?? ''),
    attempts: number(ATTEMPTS) ?? 0,
    createdAt: number(CREATED_AT) ?? (Number(message.Attributes?.SentTimestamp) || now),
    errors: errors ? parseErrors(errors) : [],
    ...(deadAt === undefined ? {} : { deadAt }),
  }
}

function parseErrors(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text)
    if (Array.isArray(value)) return value.map(String)
  } catch {
    // not ours: keep it as one entry
  }
  return [text]
}

/** Receives of this message so far, this one included (the ApproximateReceiveCount attribute). */
export function receiveCount(message: Message): number {
  return Math.max(1, Number(message.Attributes?.ApproximateReceiveCount) || 1)
}

/**
 * An error message SQS will accept: bounded, and without the characters SQS refuses in message
 * attributes (control characters other than tab, CR and LF; lone surrogates; U+FFFE/U+FFFF).
 */
export function cleanError(error: string): string {
  const bounded = error.slice(0, MAX_ERROR_CHARS)
  return bounded.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
    /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    '\uFFFD',
  )
}

export function appendError(errors: string[], error: string): string[] {
  return [...errors, cleanError(error)].slice(-MAX_ERRORS)
}

/** FIFO deduplication ids: at most 128 characters of [A-Za-z0-9] and ASCII punctuation. */
export function dedupId(value: string): string {
  if (value.length <= 128 && /^[\x21-\x7E]+$/.test(value)) return value
  return createHash('sha256').update(value).digest('hex')
}

/**
 * Splits batch entries into SendMessageBatch requests: at most 10 entries, and at most 256 KiB of
 * bodies and attributes together (SQS counts attribute names, types and values).
 */
export function chunkBatch<
  T extends { MessageBody?: string; MessageAttributes?: Record<string, MessageAttributeValue> },
>(entries: T[]): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const entry of entries) {
    const size = entrySize(entry)
    if (current.length === 10 || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(entry)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

function entrySize(entry: {
  MessageBody?: string
  MessageAttributes?: Record<string, MessageAttributeValue>
}): number {
  let size = Buffer.byteLength(entry.MessageBody ?? '')
  for (const [name, value] of Object.entries(entry.MessageAttributes ?? {})) {
    size +=
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? '') +
      Buffer.byteLength(value.StringValue ?? '')
  }
  return size
}
