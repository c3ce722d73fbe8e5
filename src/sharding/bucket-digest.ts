import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { MetadataDb } from '../metadata/db.js'
import { idsAfter } from './bucket-transfer.js'

type Db = Kysely<MetadataDb>

/** Each image of a bucket by id: a hash of its row with its variants' rows, and their count. */
export type ImageHashes = Map<string, { sha256: string; variants: number }>

export interface BucketDigest {
  images: number
  variants: number
  sha256: string
}

/** Ids per query when images are read again by id: within every driver's bound-parameter cap. */
const BY_ID = 500

/**
 * Hashes every image of a bucket one by one, so that a move can take the bucket's hashes before
 * its fence and, under it, hash again only the images its change log replayed since. Null when
 * the bucket holds more than `max` images: the caller digests it whole instead, in constant memory.
 */
export async function hashBucket(
  db: Db,
  bucket: number,
  max = Number.POSITIVE_INFINITY,
  chunk = 1000,
): Promise<ImageHashes | null> {
  const hashes: ImageHashes = new Map()
  for (let after: string | null = null; ; ) {
    const images = await idsAfter(
      db.selectFrom('images').selectAll(),
      bucket,
      after,
      chunk,
    ).execute()
    await addHashes(db, hashes, images)
    if (hashes.size > max) return null
    if (images.length < chunk) return hashes
    after = images.at(-1)?.id as string
  }
}

/** Hashes these images again where `hashes` holds them; an image the side no longer has is dropped. */
export async function rehash(db: Db, hashes: ImageHashes, ids: readonly string[]): Promise<void> {
  for (let at = 0; at < ids.length; at += BY_ID) {
    const some = ids.slice(at, at + BY_ID)
    for (const id of some) hashes.delete(id)
    await addHashes(
      db,
      hashes,
      await db.selectFrom('images').selectAll().where('id', 'in', some).execute(),
    )
  }
}

/** Count and checksum of hashed images, independent of the order they were read in. */
export function digestOf(hashes: ImageHashes): BucketDigest {
  const hash = createHash('sha256')
  let variants = 0
  for (const id of [...hashes.keys()].sort()) {
    const image = hashes.get(id)!
    hash.update(`${id} ${image.sha256}\n`)
    variants += image.variants
  }
  return { images: hashes.size, variants, sha256: hash.digest('hex') }
}

/** Count and checksum of a bucket's rows, the same on SQLite and PostgreSQL for the same data. */
export async function digestBucket(db: Db, bucket: number, chunk = 1000): Promise<BucketDigest> {
  return digestOf((await hashBucket(db, bucket, Number.POSITIVE_INFINITY, chunk))!)
}

/** Reads the variants of `images` (one query) and adds each image's hash. */
async function addHashes(
  db: Db,
  hashes: ImageHashes,
  images: readonly Record<string, unknown>[],
): Promise<void> {
  if (images.length === 0) return
  const variants = await db
    .selectFrom('variants')
    .selectAll()
    .where(
      'image_id',
      'in',
      images.map((image) => image.id as string),
    )
    .orderBy('image_id')
    .orderBy('name')
    .orderBy('format')
    .execute()
  const byImage = new Map<string, (typeof variants)[number][]>()
  for (const variant of variants) {
    const own = byImage.get(variant.image_id)
    if (own) own.push(variant)
    else byImage.set(variant.image_id, [variant])
  }
  for (const image of images) {
    const own = byImage.get(image.id as string) ?? []
    const hash = createHash('sha256').update(canonical(image))
    for (const variant of own) hash.update(canonical(variant))
    hashes.set(image.id as string, { sha256: hash.digest('hex'), variants: own.length })
  }
}

/** Column order and number types differ between drivers; sorted keys and JSON make them agree. */
function canonical(row: Record<string, unknown>): string {
  const keys = Object.keys(row).sort()
  return `${JSON.stringify(keys.map((k) => [k, typeof row[k] === 'bigint' ? Number(row[k]) : row[k]]))}\n`
}
