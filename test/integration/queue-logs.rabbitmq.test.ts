import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { QueueDriver } from '../../src/queue/queue.js'
import { eventually } from '../fixtures/eventually.js'
import {
  closeConnections,
  createVhost,
  deleteVhost,
  openRabbitQueue,
  vhostUrl,
} from './fixtures/rabbitmq-broker.js'

const URL_ = process.env.PIXELFLOW_TEST_RABBITMQ_URL
if (!URL_)
  console.info(
    'queue-logs.rabbitmq.test.ts skipped: set PIXELFLOW_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 to run it',
  )

const opened: { queue: QueueDriver; vhost: string }[] = []
afterEach(async () => {
  for (const { queue, vhost } of opened.splice(0)) {
    await queue.close()
    await deleteVhost(vhost)
  }
})

/** A lost broker leaves a trace: one warn when the connection drops, one info when it is back. */
describe.skipIf(!URL_)('RabbitMQ driver logs', () => {
  it('logs losing the broker at warn and regaining it at info, with the queue and the outage', async () => {
    const vhost = await createVhost()
    const logs: Record<string, any>[] = []
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void logs.push(JSON.parse(line)) },
    )
    const queue = await openRabbitQueue({
      url: vhostUrl(URL_!, vhost),
      queue: 'logs',
      leaseMs: 5_000,
      maxAttempts: 3,
      backoffBaseMs: 100,
      backoffMaxMs: 100,
      logger,
    })
    opened.push({ queue, vhost })
    expect(logs).toEqual([])
    await closeConnections(vhost)
    const lost = await eventually(
      () => logs.find((l) => l.msg === 'queue connection lost') ?? false,
      { timeoutMs: 10_000, message: 'the loss logged' },
    )
    expect(lost).toMatchObject({ level: 40, queue: 'logs', driver: 'rabbitmq' })
    expect(lost.err.message).toMatch(/CONNECTION_FORCED|closed/i)
    const back = await eventually(
      () => logs.find((l) => l.msg === 'queue connection restored') ?? false,
      { timeoutMs: 15_000, message: 'the reconnect logged' },
    )
    expect(back).toMatchObject({ level: 30, queue: 'logs', driver: 'rabbitmq' })
    expect(back.downMs).toBeGreaterThanOrEqual(0)
    await queue.check()
    expect(logs.filter((l) => l.msg === 'queue connection lost')).toHaveLength(1)
  })
})
