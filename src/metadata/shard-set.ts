import type { MetadataConfig } from '../config/schema.js'
import { migrate, openDatabase } from '../db/database.js'
import { BUCKET_COUNT, initialLayout } from '../domain/bucket.js'
import type { StrategyConfig } from '../domain/owner-strategy.js'
import type { MetadataDb } from './db.js'
import type { Directory, DirectoryStore } from './directory.js'
import { SHARD_MIGRATIONS } from './migrations/index.js'
import { seedOwnership } from './ownership.js'
import { createShardStore, type ShardStore } from './shard-store.js'

export interface ShardHandle {
  readonly id: number
  readonly url: string
}

interface Entry extends ShardHandle {
  store: ShardStore
  ready: Promise<ShardStore> | null
}

/**
 * The open shards by id. A shard is migrated and its identity checked before first use; when it
 * is down that fails and is retried on the next use, so one dead shard does not stop the process.
 */
export function createShardSet(
  config: MetadataConfig,
  options: { onShardError?: (error: Error, shardId: number) => void },
) {
  const entries = new Map<number, Entry>()

  function add(id: number, url: string): void {
    if (entries.get(id)?.url === url) return
    const db = openDatabase<MetadataDb>(url, {
      poolSize: config.poolSize,
      onConnectionError: (error) => options.onShardError?.(error, id),
    })
    entries.set(id, { id, url, store: createShardStore(db), ready: null })
  }

  function ready(id: number): Promise<ShardStore> {
    const entry = entries.get(id)
    if (!entry)
      return Promise.reject(
        new Error(
          `Shard ${id} is not registered; the directory names a shard this process does not know`,
        ),
      )
    entry.ready ??= prepare(entry).catch((error: unknown) => {
      entry.ready = null
      throw error
    })
    return entry.ready
  }

  return {
    ready,
    /** Opens shards the registry gained (a `shards add` in another process). */
    sync(shards: ReadonlyMap<number, string>): void {
      for (const [id, url] of shards) add(id, url)
    },
    handles: (): ShardHandle[] => [...entries.values()].map(({ id, url }) => ({ id, url })),
    async close(): Promise<void> {
      await Promise.allSettled([...entries.values()].map((e) => e.store.db.destroy()))
    },
  }
}

export type ShardSet = ReturnType<typeof createShardSet>

async function prepare(entry: Entry): Promise<ShardStore> {
  await migrate(entry.store.db as never, SHARD_MIGRATIONS)
  await assertIdentity(entry.store, entry.id)
  return entry.store
}

/**
 * A shard remembers the id it was registered with (older files: their index). Pointing a shard id
 * at another database would route owners to rows that are not theirs, so it is refused.
 */
async function assertIdentity(store: ShardStore, id: number): Promise<void> {
  const seen = (await store.getMeta('shard_id')) ?? (await store.getMeta('shard_index'))
  if (seen === null) return store.setMeta('shard_id', String(id))
  if (seen !== String(id)) {
    throw new Error(
      `This database was registered as shard ${seen}, not shard ${id}; changing the shard list needs \`pixelflow shards\`, not a config edit`,
    )
  }
}

/** The owner strategy the config asks for, in the form the control database keeps. */
export function strategyOf(config: MetadataConfig): StrategyConfig {
  if (config.strategy === 'range') return { kind: 'range', splits: config.rangeSplits }
  return { kind: config.strategy }
}

/**
 * Loads the directory, creating it on the first start: each configured shard is told which
 * buckets it serves (the contiguous layout) before the directory that routes to it exists. Later
 * starts check the config still agrees with what the control database records.
 */
export async function bootstrapDirectory(
  config: MetadataConfig,
  store: DirectoryStore,
  set: ShardSet,
  requireAll: boolean,
): Promise<Directory> {
  let directory = await store.load()
  if (!directory) {
    const ids = config.shards.map((_, id) => id)
    const layout = initialLayout(ids)
    set.sync(new Map(config.shards.map((url, id) => [id, url])))
    for (const id of ids) {
      const buckets = Array.from({ length: BUCKET_COUNT }, (_, b) => b).filter(
        (b) => layout[b] === id,
      )
      await seedOwnership((await set.ready(id)).db, buckets)
    }
    await store.initialize(config.shards, layout, strategyOf(config))
    directory = (await store.load()) as Directory
  }
  assertConfigAgrees(config, directory)
  set.sync(directory.shards)
  await Promise.all(
    set.handles().map((h) =>
      set.ready(h.id).catch((error: unknown) => {
        if (requireAll) throw error
      }),
    ),
  )
  return directory
}

function assertConfigAgrees(config: MetadataConfig, directory: Directory): void {
  const wanted = JSON.stringify(strategyOf(config))
  const stored = JSON.stringify(directory.strategy)
  if (wanted !== stored) {
    throw new Error(
      `The shard strategy is ${stored} in the control database but ${wanted} in the config; owners would move, so it cannot change`,
    )
  }
  config.shards.forEach((url, id) => {
    const registered = directory.shards.get(id)
    if (registered === undefined)
      throw new Error(
        `Shard ${id} (${redact(url)}) is not registered: add it with \`pixelflow shards add <url>\``,
      )
    if (registered !== url)
      throw new Error(
        `Shard ${id} is ${redact(registered)} in the control database but ${redact(url)} in the config`,
      )
  })
}

/** A shard URL without its password, for messages and `shards status`. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, '$1:***@')
}
