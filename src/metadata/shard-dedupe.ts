import { type Kysely, sql, type Transaction } from 'kysely'
import { dialectOf } from '../db/database.js'
import type { Image, NewImage } from '../domain/image.js'
import type { MetadataDb } from './db.js'
import { withVariants } from './shard-rows.js'

/**
 * Content dedupe, inside the upload's write transaction: the owner's earlier image with the same
 * Idempotency-Key (a replay), or else with the same bytes and the same visibility that has not
 * failed (a failed image may be uploaded again and gets a new one; a deleted image has no row).
 * Per owner only, never across owners: see docs/clients.md.
 *
 * Two uploads of the same bytes at once: SQLite runs one write transaction at a time, and on
 * PostgreSQL a transaction-scoped advisory lock on (owner, sha256) makes the second wait for the
 * first to commit, so the second finds the first either way. No unique index is needed (nor
 * possible: failed images and the two visibilities may repeat bytes).
 */
export async function findEarlier(
  trx: Transaction<MetadataDb>,
  image: NewImage,
): Promise<{ existing: Image; deduplicated?: true } | null> {
  if (dialectOf(trx) === 'postgres')
    await sql`select pg_advisory_xact_lock(hashtextextended(${`dedupe:${image.ownerId}:${image.sha256}`}, 0))`.execute(
      trx,
    )
  // The same Idempotency-Key first: a retry that raced its first attempt is a replay (or a
  // mismatch), not a duplicate.
  const replay = image.idempotencyKey
    ? await trx
        .selectFrom('images')
        .selectAll()
        .where('owner_id', '=', image.ownerId)
        .where('idempotency_key', '=', image.idempotencyKey)
        .executeTakeFirst()
    : undefined
  if (replay) return { existing: await withVariants(trx, replay) }
  const row = await sameBytes(trx, image).executeTakeFirst()
  return row ? { existing: await withVariants(trx, row), deduplicated: true } : null
}

/**
 * The owner's oldest image with these bytes and visibility that has not failed. Index
 * `images_owner_sha256_id` answers it in one seek, order included; with (owner, sha256) alone
 * SQLite preferred (owner, id) for the order and read every image of the owner on each upload.
 */
export function sameBytes(
  db: Kysely<MetadataDb>,
  image: Pick<NewImage, 'ownerId' | 'sha256' | 'visibility'>,
) {
  return db
    .selectFrom('images')
    .selectAll()
    .where('owner_id', '=', image.ownerId)
    .where('sha256', '=', image.sha256)
    .where('visibility', '=', image.visibility)
    .where('status', '!=', 'failed')
    .orderBy('id')
    .limit(1)
}
