/**
 * The outside services some parts need (Redis, RabbitMQ, PostgreSQL): where they are, whether
 * one answers, and how to remove what a run left in Redis (its own prefix only).
 */
import amqp from 'amqplib'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const RABBITMQ_URL = process.env.BENCH_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672/'
export const PG_URL = process.env.PIXELFLOW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A URL fit for a log line: the password, if any, replaced. */
export const redactUrl = (url: string) =>
  url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, '$1:***@')

/** A run id for names in shared services: time plus randomness, so parallel runs never collide. */
export function runId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 10)}`
}

/** True when a Redis answers PING at `url` within a second; a part then skips its Redis sides. */
export async function redisReachable(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

/** True when a RabbitMQ accepts a connection at `url` within a second; else its sides are skipped. */
export async function rabbitReachable(url: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url, { timeout: 1000 })
    await connection.close()
    return true
  } catch {
    return false
  }
}

/** Deletes every key that starts with `prefix` (SCAN MATCH, then DEL): a run's own keys and nothing else. */
export async function deleteRedisKeys(prefix: string, url = REDIS_URL): Promise<number> {
  if (!/^pixelflow-(bench-[\w]+|e2e)-[\w-]+/.test(prefix))
    throw new Error(`Refusing to delete keys under ${prefix}: not a bench prefix`)
  const redis = new Redis(url, { lazyConnect: true })
  await redis.connect()
  let deleted = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return deleted
}
