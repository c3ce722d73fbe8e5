/** A new queue for every run of a side, and its removal: nothing of a run stays in a broker. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { topologyFor } from '../../src/queue/drivers/rabbitmq-topology.js'
import { deleteRedisKeys, RABBITMQ_URL, REDIS_URL } from '../harness/services.js'
import type { Target } from './ports.js'
import type { Side } from './sides.js'

/** A new queue for one run, and how to remove everything it left. */
export async function prepare(
  side: Side,
  runId: string,
  /** The bench's own Redis with an append-only file, for the 'bullmq-aof' sides. */
  aofRedisUrl?: string,
): Promise<{ target: Target; remove(): Promise<void> }> {
  if (side.backend === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-queue-bench-'))
    return {
      target: { backend: 'sqlite', path: join(dir, 'queue.db') },
      remove: () => rm(dir, { recursive: true, force: true }),
    }
  }
  if (side.backend === 'rabbitmq') {
    const queue = `pixelflow-bench-queue.${runId}`
    return {
      target: { backend: 'rabbitmq', url: RABBITMQ_URL, queue },
      remove: () => deleteRabbitQueues(queue),
    }
  }
  const prefix = `pixelflow-bench-queue-${runId}`
  const aof = side.backend === 'bullmq-aof'
  if (aof && !aofRedisUrl) throw new Error('bullmq-aof: no Redis with an append-only file')
  const url = aof ? aofRedisUrl! : REDIS_URL
  return {
    // The side processes drive BullMQ the same way whatever the Redis keeps on disk.
    target: {
      backend: side.backend === 'bullmq-worker' ? 'bullmq-worker' : 'bullmq',
      url,
      prefix,
      queue: 'jobs',
    },
    remove: async () => void (await deleteRedisKeys(`${prefix}:`, url)),
  }
}

/** The main, dead and delay queues our driver declares for `queue` (same defaults as ports.ts). */
async function deleteRabbitQueues(queue: string): Promise<void> {
  const { leaseMs, ...retry } = loadConfig({}).queue
  void leaseMs
  const topology = topologyFor({ queue, ...retry, deliveryLimit: 20 })
  const amqp = await import('amqplib')
  const connection = await amqp.connect(RABBITMQ_URL)
  try {
    const channel = await connection.createChannel()
    for (const name of [topology.main, topology.dead, ...topology.delays.values()])
      await channel.deleteQueue(name)
    await channel.close()
  } finally {
    await connection.close()
  }
}
