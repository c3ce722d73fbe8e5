import type { MetadataConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import { bucketOfId } from '../images/ids.js'
import type { MetadataDb } from './db.js'
import { SHARD_MIGRATIONS } from './migrations/index.js'
import { createShardRouter, type ShardRouter } from './shard-router.js'
import { createShardStore, type ShardStore } from './shard-store.js'
import { migrate, openSqlite } from './sqlite.js'

/** The metadata layer: one ShardStore per shard, picked by the router. Never spans shards in a transaction. */
export interface ShardedMetadata {
  readonly router: ShardRouter
  readonly shards: readonly ShardStore[]
  forOwner(ownerId: string): ShardStore
  forBucket(bucket: number): ShardStore
  /** null when the id is malformed: callers answer 404 without touching a shard. */
  forImageId(id: string): ShardStore | null
  check(): Promise<void>
  close(): Promise<void>
}

export async function openShardedMetadata(config: MetadataConfig): Promise<ShardedMetadata> {
  const router = createShardRouter(config.shards.length)
  const shards: ShardStore[] = []
  for (const [index, path] of config.shards.entries()) {
    const store = createShardStore(openSqlite<MetadataDb>(path))
    await migrate(store.db as never, SHARD_MIGRATIONS)
    await assertShardIdentity(store, index, config.shards.length)
    shards.push(guardShard(store, index))
  }
  const forBucket = (bucket: number) => shards[router.shardOfBucket(bucket)] as ShardStore
  return {
    router,
    shards,
    forBucket,
    forOwner: (ownerId) => forBucket(router.bucketOfOwner(ownerId)),
    forImageId(id) {
      const bucket = bucketOfId(id)
      return bucket === null ? null : forBucket(bucket)
    },
    async check() {
      await Promise.all(shards.map((s) => s.getMeta('shard_index')))
    },
    async close() {
      await Promise.allSettled(shards.map((s) => s.db.destroy()))
    },
  }
}

/**
 * A shard remembers its position and the shard count it was created with. Reordering the list or
 * changing its length without resharding would send owners to the wrong file, so it is refused.
 */
async function assertShardIdentity(store: ShardStore, index: number, count: number): Promise<void> {
  const seen = { index: await store.getMeta('shard_index'), count: await store.getMeta('shard_count') }
  if (seen.index === null) {
    await store.setMeta('shard_index', String(index))
    await store.setMeta('shard_count', String(count))
    return
  }
  if (seen.index !== String(index) || seen.count !== String(count)) {
    throw new Error(
      `Shard ${index} of ${count} was created as shard ${seen.index} of ${seen.count}; ` +
        'changing the shard list needs a reshard, not a config edit',
    )
  }
}

/** SQLite failures that mean "this shard cannot serve now", as opposed to a bug in a query. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|CORRUPT|NOTADB)/

/**
 * Translates a shard's availability failures into SHARD_UNAVAILABLE (503) at the boundary, so
 * only the owners on that shard see errors and callers need not know the driver's codes.
 */
function guardShard(store: ShardStore, index: number): ShardStore {
  const guarded = { ...store }
  for (const [name, method] of Object.entries(store)) {
    if (typeof method !== 'function') continue
    ;(guarded as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await (method as (...a: unknown[]) => Promise<unknown>).apply(guarded, args)
      } catch (error) {
        const code = String((error as { code?: unknown } | null)?.code ?? '')
        if (UNAVAILABLE.test(code)) throw new AppError('SHARD_UNAVAILABLE', `Metadata shard ${index} is unavailable`, { cause: error })
        throw error
      }
    }
  }
  return guarded
}
