import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import { type ApiKeys, createApiKeys } from '../auth/api-keys.js'
import type { Config } from '../config/schema.js'
import { openShardedMetadata, type ShardedMetadata } from '../metadata/sharded-metadata.js'
import { createMetrics, type Metrics } from '../observability/metrics.js'
import { createQueue, prefetchFor } from '../queue/create-queue.js'
import type { QueueDriver } from '../queue/queue.js'
import { createObjectStore } from '../storage/create-object-store.js'
import type { ObjectStore } from '../storage/object-store.js'
import { authTablesOf, type ControlDb, directoryTablesOf, openControlDb } from './control-db.js'

/** The ports every role opens, from one config: the composition root's output. */
export interface Deps {
  store: ObjectStore
  queue: QueueDriver
  metadata: ShardedMetadata
  control: Kysely<ControlDb>
  apiKeys: ApiKeys
  metrics: Metrics
}

export interface DepsOptions {
  /** This process runs workers (a broker queue then holds prefetched jobs for it). */
  consume?: boolean
  /** Refuse to start while a shard is down (the `migrate` and `shards` commands). */
  requireAllShards?: boolean
  onShardError?: (error: Error, shardId: number) => void
  /** Where the queue driver logs losing and regaining its broker. */
  logger?: Logger
}

/** Opens every port from the config; the control database is migrated before anything reads it. */
export async function openDeps(config: Config, options: DepsOptions = {}): Promise<Deps> {
  const store = await createObjectStore(config.storage)
  const queue = await createQueue(config.queue, {
    consume: options.consume ?? false,
    prefetch: prefetchFor(config.worker.concurrency),
    logger: options.logger,
  })
  const control = await openControlDb(config.metadata.control)
  const metadata = await openShardedMetadata(config.metadata, {
    control: directoryTablesOf(control),
    requireAll: options.requireAllShards,
    onShardError: options.onShardError,
  })
  const apiKeys = createApiKeys(authTablesOf(control))
  return { store, queue, metadata, control, apiKeys, metrics: createMetrics(queue) }
}

/** Closes what openDeps opened; every step runs even if one fails. */
export async function closeDeps(deps: Deps): Promise<void> {
  await Promise.allSettled([deps.queue.close(), deps.metadata.close(), deps.control.destroy()])
}
