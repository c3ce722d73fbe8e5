import type { Kysely } from 'kysely'
import type { MetadataConfig } from '../config/schema.js'
import { isUnavailable, migrate, openDatabase } from '../db/database.js'
import { BUCKET_COUNT } from '../domain/bucket.js'
import { bucketOfId } from '../domain/ids.js'
import type { Image } from '../domain/image.js'
import { createOwnerStrategy } from '../domain/owner-strategy.js'
import { AppError } from '../errors/index.js'
import type { DirectoryDb } from './control-db.js'
import { createDirectoryStore, type Directory, type DirectoryStore } from './directory.js'
import { mergeNewestFirst } from './merge.js'
import { SHARD_MIGRATIONS } from './migrations/index.js'
import { BucketNotServed } from './ownership.js'
import { bootstrapDirectory, createShardSet, type ShardHandle } from './shard-set.js'
import type { ShardStats, ShardStore } from './shard-store.js'

/** ShardStore's image methods with the bucket bound: what a caller holding an owner or an id uses. */
const BUCKET_METHODS = [
  'createImage',
  'findByIdempotencyKey',
  'getImage',
  'listImages',
  'deleteImage',
  'startProcessing',
  'setFocalPoint',
  'completeImage',
  'replaceVariants',
  'failImage',
  'requeueStuck',
  'failStuck',
] as const
type BucketMethod = (typeof BUCKET_METHODS)[number]
export type BucketStore = {
  [K in BucketMethod]: ShardStore[K] extends (bucket: number, ...args: infer A) => infer R
    ? (...args: A) => R
    : never
}

/** How long a request waits for a fenced bucket's switch before answering BUCKET_MOVING. */
const MOVE_WAIT_MS = 10_000

/** The metadata layer: owner → bucket → shard, with a directory that follows online moves. */
export interface ShardedMetadata {
  bucketOfOwner(ownerId: string): number
  forOwner(ownerId: string): BucketStore
  forBucket(bucket: number): BucketStore
  /** null when the id is malformed: callers answer 404 without touching a shard. */
  forImageId(id: string): BucketStore | null
  /** Every registered shard (the relay drains each one's outbox). */
  shards(): ShardHandle[]
  /** A shard's own store, migrated (for the relay, the mover and stats); SHARD_UNAVAILABLE when down. */
  shard(id: number): Promise<ShardStore>
  directory(): Directory
  readonly directoryStore: DirectoryStore
  /** Migrates a new database, registers it as a shard (holding no buckets yet) and returns its id. */
  addShard(url: string): Promise<number>
  /** Reloads the directory from the control database; concurrent callers share one reload. */
  refresh(): Promise<Directory>
  /** Every owner's images, newest first, merged across shards; `before` is the previous page's last id. */
  listAll(limit: number, before?: string): Promise<Image[]>
  stats(): Promise<ShardReport[]>
  check(): Promise<void>
  close(): Promise<void>
}

export type ShardReport = { id: number; url: string; stats: ShardStats | null; error?: string }

export interface ShardedMetadataOptions {
  control: Kysely<DirectoryDb>
  /** Fail at startup when a shard is down (the `migrate` command); serving starts without it. */
  requireAll?: boolean
  onShardError?: (error: Error, shardId: number) => void
}

export async function openShardedMetadata(
  config: MetadataConfig,
  options: ShardedMetadataOptions,
): Promise<ShardedMetadata> {
  const directoryStore = createDirectoryStore(options.control)
  const set = createShardSet(config, options)
  let current = await bootstrapDirectory(config, directoryStore, set, options.requireAll ?? false)
  let strategy = createOwnerStrategy(current.strategy, current.placements)
  let reloading: Promise<Directory> | null = null

  function refresh(): Promise<Directory> {
    reloading ??= directoryStore
      .load()
      .then((loaded) => {
        if (!loaded) throw new Error('The bucket directory disappeared from the control database')
        current = loaded
        strategy = createOwnerStrategy(loaded.strategy, loaded.placements)
        set.sync(loaded.shards)
        return loaded
      })
      .finally(() => (reloading = null))
    return reloading
  }
  const timer = setInterval(
    () => refresh().catch((error) => options.onShardError?.(error as Error, -1)),
    config.directoryRefreshMs,
  )
  timer.unref()

  /** Runs `op` on the shard the directory names; on a refusal refreshes and retries, waiting out a fence. */
  async function route<T>(bucket: number, op: (store: ShardStore) => Promise<T>): Promise<T> {
    const started = Date.now()
    for (let attempt = 0; ; attempt++) {
      const shardId = current.shardOf[bucket] as number
      try {
        return await op(await set.ready(shardId))
      } catch (error) {
        if (!(error instanceof BucketNotServed)) throw translate(error, shardId)
        if (Date.now() - started > MOVE_WAIT_MS)
          throw new AppError('BUCKET_MOVING', `Bucket ${bucket} is being moved; retry`, {
            cause: error,
          })
        // Same epoch: the bucket is fenced for its switch; wait for it. The epoch is one row, the
        // directory 4096: reload only when it changed.
        if ((await directoryStore.epoch()) !== current.epoch) await refresh()
        else await sleep(Math.min(5 * 2 ** attempt, 100))
      }
    }
  }

  function forBucket(bucket: number): BucketStore {
    const bound = {} as Record<BucketMethod, unknown>
    for (const name of BUCKET_METHODS) {
      bound[name] = (...args: unknown[]) =>
        route(bucket, (store) =>
          (store[name] as (...a: unknown[]) => Promise<unknown>)(bucket, ...args),
        )
    }
    return bound as BucketStore
  }

  /**
   * Fan-out to every shard, then a k-way merge. A move hands a bucket over by having the target
   * serve it before the source lets go, so the shards always cover all buckets between them; a
   * page whose shards did not (a shard this process does not know yet, an unlucky interleaving)
   * is read again after a refresh. A bucket served by two shards at once is deduplicated by id.
   */
  async function listAll(limit: number, before?: string): Promise<Image[]> {
    const started = Date.now()
    for (let attempt = 0; ; attempt++) {
      const pages = await Promise.all(
        set
          .handles()
          .map((h) => guarded(h.id, async () => (await set.ready(h.id)).listAll(limit, before))),
      )
      const covered = new Set(pages.flatMap((p) => p.served))
      if (covered.size === BUCKET_COUNT)
        return mergeNewestFirst(
          pages.map((p) => p.images),
          (image) => image.id,
          limit,
        )
      if (Date.now() - started > MOVE_WAIT_MS)
        throw new AppError(
          'BUCKET_MOVING',
          `${BUCKET_COUNT - covered.size} buckets are between shards; retry`,
        )
      await refresh()
      await sleep(Math.min(5 * 2 ** attempt, 200))
    }
  }

  async function guarded<T>(shardId: number, op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (error) {
      throw translate(error, shardId)
    }
  }

  return {
    bucketOfOwner: (ownerId) => strategy.bucketOf(ownerId),
    forOwner: (ownerId) => forBucket(strategy.bucketOf(ownerId)),
    forBucket,
    forImageId(id) {
      const bucket = bucketOfId(id)
      return bucket === null ? null : forBucket(bucket)
    },
    shards: () => set.handles(),
    shard: (id) => guarded(id, () => set.ready(id)),
    directory: () => current,
    directoryStore,
    refresh,
    async addShard(url) {
      // Migrated before it is registered: no router can send it anything before its tables exist.
      const db = openDatabase(url)
      try {
        await migrate(db, SHARD_MIGRATIONS)
      } finally {
        await db.destroy()
      }
      const id = await directoryStore.addShard(url)
      await refresh()
      await set.ready(id)
      return id
    },
    listAll,
    async stats() {
      return Promise.all(
        set.handles().map(async (h) => {
          try {
            return {
              id: h.id,
              url: h.url,
              stats: await guarded(h.id, async () => (await set.ready(h.id)).stats()),
            }
          } catch (error) {
            return { id: h.id, url: h.url, stats: null, error: (error as Error).message }
          }
        }),
      )
    },
    // Ready while the control database answers: one shard down must not take every owner out of service.
    async check() {
      await directoryStore.epoch()
    },
    async close() {
      clearInterval(timer)
      await set.close()
    },
  }
}

/** A shard's availability failures become SHARD_UNAVAILABLE (503): only that shard's owners see them. */
function translate(error: unknown, shardId: number): unknown {
  if (isUnavailable(error))
    return new AppError('SHARD_UNAVAILABLE', `Metadata shard ${shardId} is unavailable`, {
      cause: error,
    })
  return error
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
