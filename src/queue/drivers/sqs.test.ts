import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import type { Message } from '@aws-sdk/client-sqs'
import { afterEach, describe, expect, it } from 'vitest'
import { createSqsQueue } from './sqs.js'
import { createLeaseTable, createRetryMemory } from './sqs-leases.js'
import {
  chunkBatch,
  cleanError,
  decodeJob,
  dedupId,
  encodeAttributes,
  MAX_ERROR_CHARS,
  messageBody,
} from './sqs-message.js'

// Nothing listens on port 9: these tests fail before any request, or against a refused connection.
const OFFLINE = {
  queueUrl: 'http://127.0.0.1:9/000000000000/q',
  deadQueueUrl: 'http://127.0.0.1:9/000000000000/q-dead',
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  accessKeyId: 'k',
  secretAccessKey: 's',
  leaseMs: 30_000,
  maxAttempts: 3,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
}

describe('SQS queue, without a server', () => {
  const sockets: Socket[] = []
  afterEach(() => sockets.splice(0).forEach((socket) => socket.destroy()))

  it.each([
    [{ waitTimeSeconds: 21 }, 'from 0 to 20'],
    [{ waitTimeSeconds: 1.5 }, 'whole number'],
    [{ leaseMs: 999 }, 'from 1 s to 12 h'],
    [{ leaseMs: 2_000, waitTimeSeconds: 2 }, 'half of leaseMs'],
    [{ maxAttempts: 0 }, 'at least 1'],
    [{ secretAccessKey: undefined }, 'both accessKeyId and secretAccessKey'],
  ])('refuses the options %j', async (overrides, message) => {
    await expect(createSqsQueue({ ...OFFLINE, ...overrides })).rejects.toThrow(message)
  })

  it('check() rejects at once when nothing listens', async () => {
    const queue = await createSqsQueue({ ...OFFLINE })
    const started = Date.now()
    await expect(queue.check()).rejects.toThrow('[sqs] check')
    expect(Date.now() - started).toBeLessThan(2_500)
    await queue.close()
  })

  it('check() rejects within checkTimeoutMs when the endpoint accepts but never answers', async () => {
    const server = createServer((socket) => void sockets.push(socket)).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const endpoint = `http://127.0.0.1:${port}`
    const queue = await createSqsQueue({
      ...OFFLINE,
      endpoint,
      queueUrl: `${endpoint}/0/q`,
      deadQueueUrl: `${endpoint}/0/d`,
      checkTimeoutMs: 300,
    })
    const started = Date.now()
    await expect(queue.check()).rejects.toThrow('no answer in time')
    expect(Date.now() - started).toBeLessThan(1_500)
    await queue.close()
    server.close()
  })
})

describe('SQS messages', () => {
  const asMessage = (job: Parameters<typeof encodeAttributes>[0], receives = 1): Message => ({
    MessageId: 'm1',
    Body: messageBody(job),
    MessageAttributes: encodeAttributes(job),
    Attributes: { ApproximateReceiveCount: String(receives), SentTimestamp: '5' },
  })

  it('round-trips a job through attributes, an empty payload included', () => {
    for (const payload of ['{"image":"é"}', '']) {
      const job = {
        id: 'img_1',
        payload,
        attempts: 2,
        createdAt: 1_700_000_000_000,
        errors: ['a', 'b'],
        deadAt: 7,
      }
      expect(decodeJob(asMessage(job), 0)).toEqual(job)
    }
    expect(messageBody({ id: 'x', payload: '', attempts: 0, createdAt: 0, errors: [] })).not.toBe(
      '',
    ) // SQS refuses empty bodies
  })

  it('reads a message that is not ours as a job named by its MessageId', () => {
    expect(
      decodeJob({ MessageId: 'm9', Body: 'raw', Attributes: { SentTimestamp: '42' } }, 0),
    ).toEqual({
      id: 'm9',
      payload: 'raw',
      attempts: 0,
      createdAt: 42,
      errors: [],
    })
  })

  it('bounds errors and replaces the characters SQS refuses', () => {
    expect(cleanError('a\u0000b\tc\uD800d\uD83D\uDE00')).toBe('a\uFFFDb\tc\uFFFDd\uD83D\uDE00')
    expect(cleanError('x'.repeat(MAX_ERROR_CHARS + 10))).toHaveLength(MAX_ERROR_CHARS)
  })

  it('keeps short printable ids as FIFO deduplication ids and hashes the rest', () => {
    expect(dedupId('img_01HZX-abc')).toBe('img_01HZX-abc')
    expect(dedupId('x'.repeat(129))).toMatch(/^[0-9a-f]{64}$/)
    expect(dedupId('é')).toMatch(/^[0-9a-f]{64}$/)
  })

  it('splits batches at 10 entries and at 256 KiB', () => {
    const small = Array.from({ length: 23 }, () => ({ MessageBody: 'x' }))
    expect(chunkBatch(small).map((chunk) => chunk.length)).toEqual([10, 10, 3])
    const big = Array.from({ length: 3 }, () => ({ MessageBody: 'x'.repeat(100 * 1024) }))
    expect(chunkBatch(big).map((chunk) => chunk.length)).toEqual([2, 1])
  })
})

describe('SQS leases', () => {
  let at = 1_000
  const now = () => at
  const job = { id: 'j', payload: '', attempts: 0, createdAt: 0, errors: [] }
  const lease = (token: string, leaseUntil: number) => ({
    token,
    job,
    messageId: 'm',
    receiptHandle: 'r',
    attempts: 1,
    leaseUntil,
  })

  it('holds a lease for its token until its deadline, not a moment longer', () => {
    const table = createLeaseTable(now)
    table.add(lease('t1', 2_000))
    expect(table.held('j', 't2')).toBeNull()
    expect(table.held('other', 't1')).toBeNull()
    at = 1_999
    expect(table.held('j', 't1')).not.toBeNull()
    expect(table.renew('t1', 3_000)).toBe(true)
    at = 2_999
    expect(table.take('j', 't1')).not.toBeNull()
    expect(table.take('j', 't1')).toBeNull()
    table.add(lease('t3', 3_500))
    at = 3_500
    expect(table.held('j', 't3')).toBeNull()
    expect(table.renew('t3', 9_000)).toBe(false)
  })

  it('remembers FIFO retries as waiting until their backoff ends or they are received again', () => {
    at = 0
    const memory = createRetryMemory(now, 2)
    memory.remember('m1', ['e1'], 100)
    memory.remember('m2', ['e2'], 200)
    expect(memory.waiting()).toBe(2)
    memory.due('m1')
    expect(memory.waiting()).toBe(1)
    expect(memory.errorsFor('m1')).toEqual(['e1'])
    memory.remember('m3', ['e3'], 300) // over the limit: the oldest is forgotten
    expect(memory.errorsFor('m1')).toBeUndefined()
    at = 250
    expect(memory.waiting()).toBe(1)
  })
})
