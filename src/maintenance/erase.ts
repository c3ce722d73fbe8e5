import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { ApiKeys } from '../auth/api-keys.js'
import type { AuthTables } from '../auth/tables.js'
import type { Image } from '../domain/image.js'
import { objectKeys } from '../domain/image.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import type { ObjectStore } from '../storage/object-store.js'

/**
 * The metadata cache key of an image. It must equal images/image-service.ts `imageKey` (a
 * sibling use case this folder may not import); erase.test.ts checks the two agree.
 */
export const cachedImageKey = (id: string) => `image:${id}`

/**
 * Where a CDN's copies of an erased image are purged (composed in start/: src/transforms
 * cdn-purge.ts with the purger PIXELFLOW_CDN_PURGE chooses). It receives the image (its id, its variants with their keys) after its row is gone and before
 * the erasure moves on; it must be idempotent, because a resumed erasure may call it again for
 * the image that was in progress at the crash. A failure stops the erasure, which a second run
 * resumes.
 */
export type CdnPurge = (image: Pick<Image, 'id' | 'variants'>) => Promise<void>

export interface EraseDeps {
  metadata: ShardedMetadata
  store: ObjectStore
  /** The control database's `settings` table holds the erasure's progress (see EraseJournal). */
  control: Kysely<AuthTables>
  /** Through the key service, so its reused key rows are forgotten at once in this process. */
  apiKeys: Pick<ApiKeys, 'revokeOwner' | 'deleteOwner'>
  /** The metadata cache (with Redis: shared, so a delete reaches every process's L1 too). */
  cache?: { delete(key: string): Promise<void> }
  purge?: CdnPurge
  /** Called after each image is gone (progress for the CLI, a crash point for tests). */
  onErased?: (imageId: string) => void | Promise<void>
}

export interface EraseReport {
  ownerId: string
  /** true when an unfinished erasure of this owner was found and continued. */
  resumed: boolean
  images: number
  apiKeys: number
}

/** A record of progress kept until the erasure ends: `pending` is the image being erased. */
interface EraseState {
  ownerId: string
  startedAt: number
  pending: string | null
  erased: number
}

const PAGE = 100

/**
 * Erases everything Pixelflow holds of one owner: every image row (with its variant rows and
 * outbox job), every object under those images, their cache entries and CDN copies (through the
 * purge seam), and the owner's API keys. Resumable: the erasure is recorded in the control
 * database before anything is deleted, and the image in progress is recorded before its row goes,
 * so a run after a crash sweeps that image's objects and continues with the rest.
 *
 * Order per image: the row first, then the cache entry, the CDN copies, and the objects. With the
 * row gone, a worker that is processing the image cannot commit a result (completeImage finds no
 * row) and removes the variants it wrote itself; new deliveries of its job skip it. The owner's
 * keys are revoked first, so no new upload with them starts while the images go; a JWT-holding
 * owner must be refused by the identity provider (Pixelflow does not mint those).
 */
export async function eraseOwner(deps: EraseDeps, ownerId: string): Promise<EraseReport> {
  const journal = eraseJournal(deps.control)
  const existing = await journal.get(ownerId)
  const state: EraseState = existing ?? {
    ownerId,
    startedAt: Date.now(),
    pending: null,
    erased: 0,
  }
  if (!existing) await journal.put(state)

  // Keys in a rotation's grace period (revoked_at in the future) stop now too.
  const revoked = await deps.apiKeys.revokeOwner(ownerId)

  // The image that was in progress at a crash: its row may be gone already, its objects not.
  if (state.pending) {
    await deps.metadata.forImageId(state.pending)?.deleteImage(state.pending)
    await finishImage(deps, { id: state.pending, variants: [] })
    state.erased++
    state.pending = null
    await journal.put(state)
  }

  const shard = deps.metadata.forOwner(ownerId)
  for (;;) {
    // Always the first page: every image on it is gone before the next read.
    const page = await shard.listImages(ownerId, PAGE)
    if (page.length === 0) break
    for (const image of page) {
      state.pending = image.id
      await journal.put(state)
      await deps.metadata.forImageId(image.id)?.deleteImage(image.id)
      await finishImage(deps, image)
      state.erased++
      await deps.onErased?.(image.id)
    }
  }
  state.pending = null
  // The keys' rows go last: until then, a revoked key still says whose data is being erased.
  await deps.apiKeys.deleteOwner(ownerId)
  await journal.remove(ownerId)
  return {
    ownerId,
    resumed: existing !== null,
    images: state.erased,
    apiKeys: revoked,
  }
}

/** Everything of an image after its row: cache, CDN, objects. Idempotent. */
async function finishImage(deps: EraseDeps, image: Pick<Image, 'id' | 'variants'>) {
  await deps.cache?.delete(cachedImageKey(image.id))
  await deps.purge?.(image)
  // The whole prefix, not only the keys GC recognises: it is this image's folder, and erasure
  // means nothing of it stays.
  await deletePrefix(deps.store, objectKeys.prefix(image.id))
}

/** Unfinished erasures, to list (`owners erase --list`) and to resume. */
export async function unfinishedErasures(
  control: Kysely<AuthTables>,
): Promise<{ ownerId: string; startedAt: number; erased: number }[]> {
  const rows = await control
    .selectFrom('settings')
    .select('value')
    .where('key', 'like', `${KEY_PREFIX}%`)
    .execute()
  return rows.map((r) => {
    const { ownerId, startedAt, erased } = JSON.parse(r.value) as EraseState
    return { ownerId, startedAt, erased }
  })
}

const KEY_PREFIX = 'erase:'

/**
 * Progress in the control database's key-value `settings` table (no migration needed). The key
 * hashes the owner id: owner ids run to 255 characters, setting keys to 64.
 */
function eraseJournal(control: Kysely<AuthTables>) {
  const keyOf = (ownerId: string) =>
    KEY_PREFIX + createHash('sha256').update(ownerId).digest('hex').slice(0, 48)
  return {
    async get(ownerId: string): Promise<EraseState | null> {
      const row = await control
        .selectFrom('settings')
        .select('value')
        .where('key', '=', keyOf(ownerId))
        .executeTakeFirst()
      return row ? (JSON.parse(row.value) as EraseState) : null
    },
    async put(state: EraseState): Promise<void> {
      const value = JSON.stringify(state)
      await control
        .insertInto('settings')
        .values({ key: keyOf(state.ownerId), value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute()
    },
    async remove(ownerId: string): Promise<void> {
      await control.deleteFrom('settings').where('key', '=', keyOf(ownerId)).execute()
    },
  }
}
