import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'

/** Every stream, whatever its bucket: after a hint may have been lost (Redis reconnected). */
export const ALL_BUCKETS = -1

/**
 * Wake-up hints for live streams: "bucket b has new events, read now". A hint carries no event
 * (events are read from the shards' outboxes), so a lost hint only delays a stream until its
 * next poll.
 */
export interface EventNotifier {
  /** After a commit that wrote an event of `bucket`: wakes the streams watching it, here and elsewhere. */
  publish(bucket: number): void
  /** `listener` gets each hinted bucket, or ALL_BUCKETS. Returns the unsubscribe. */
  subscribe(listener: (bucket: number) => void): () => void
  close(): Promise<void>
}

/** One process (`serve`, or a role without Redis): the hint goes to this process's streams. */
export function createLocalNotifier(): EventNotifier & { emit(bucket: number): void } {
  const emitter = new EventEmitter().setMaxListeners(0)
  const emit = (bucket: number) => emitter.emit('wake', bucket)
  return {
    emit,
    publish: emit,
    subscribe(listener) {
      emitter.on('wake', listener)
      return () => emitter.off('wake', listener)
    },
    async close() {
      emitter.removeAllListeners()
    },
  }
}

export interface RedisNotifierOptions {
  url: string
  channel: string
  onError?: (error: unknown) => void
}

/**
 * Hints over Redis pub/sub, so a worker's commit wakes the streams of every API process. Local
 * streams are woken directly, Redis or not. Redis failures are reported, never thrown: the
 * streams' poll covers them, and every (re)subscription wakes all local streams, since hints
 * published while the subscriber was away are gone.
 */
export async function createRedisNotifier(options: RedisNotifierOptions): Promise<EventNotifier> {
  const { Redis } = await import('ioredis')
  const { channel, onError = () => {} } = options
  const origin = randomUUID()
  const common = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  }
  const publisher = new Redis(options.url, { ...common, commandTimeout: 1000 }).on('error', onError)
  const subscriber = new Redis(options.url, { ...common, autoResubscribe: false }).on(
    'error',
    onError,
  )
  const local = createLocalNotifier()
  subscriber.on('message', (from: string, message: string) => {
    const [sender, bucket] = message.split(' ')
    if (from === channel && sender !== origin) local.emit(Number(bucket))
  })
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(() => local.emit(ALL_BUCKETS), onError)
  })
  return {
    publish(bucket) {
      local.emit(bucket)
      publisher.publish(channel, `${origin} ${bucket}`).catch(onError)
    },
    subscribe: local.subscribe,
    async close() {
      await local.close()
      publisher.disconnect()
      subscriber.disconnect()
    },
  }
}
