import { afterEach, describe, expect, it } from 'vitest'
import { migrate } from '../db/database.js'
import { openSqlite } from '../db/sqlite.js'
import type { MetadataDb } from '../metadata/db.js'
import { SHARD_MIGRATIONS } from '../metadata/migrations/index.js'
import { digestBucket, digestOf, hashBucket, rehash } from './bucket-digest.js'
import { applyChanges, replaceImages } from './bucket-transfer.js'

const opened: ReturnType<typeof openSqlite<MetadataDb>>[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.destroy()))
})

async function shard() {
  const db = openSqlite<MetadataDb>(':memory:')
  opened.push(db)
  await migrate(db as never, SHARD_MIGRATIONS)
  return db
}

/** `count` images of `bucket` (ids in order), two variants each, and one image of another bucket. */
async function seeded(bucket: number, count: number) {
  const db = await shard()
  const image = (id: string, inBucket: number) => ({
    id,
    owner_id: 'owner',
    bucket: inBucket,
    visibility: 'public' as const,
    status: 'ready' as const,
    format: 'jpeg' as const,
    width: 640,
    height: 480,
    frames: 1,
    bytes: 1000,
    sha256: id.padEnd(64, '0'),
    dominant_color: null,
    attempts: 1,
    created_at: 1,
    updated_at: 1,
    idempotency_key: null,
    failure_code: null,
    failure_detail: null,
    placeholder: null,
    placeholder_type: null,
    focal_x: null,
    focal_y: null,
  })
  const ids = Array.from({ length: count }, (_, i) => `img${String(i).padStart(3, '0')}`)
  await db
    .insertInto('images')
    .values([...ids.map((id) => image(id, bucket)), image('other', bucket + 1)])
    .execute()
  await db
    .insertInto('variants')
    .values(
      ids.flatMap((id) =>
        (['webp', 'jpeg'] as const).map((format) => ({
          image_id: id,
          bucket,
          name: 'thumb',
          format,
          width: 160,
          height: 120,
          bytes: 900,
          etag: `"${id}-${format}"`,
          object_key: `images/${id}/thumb.${format}`,
          version: null,
        })),
      ),
    )
    .execute()
  return { db, ids }
}

describe('digestBucket', () => {
  it('walks the whole bucket and nothing else, the same whatever the chunk, a boundary included', async () => {
    const { db } = await seeded(7, 6)
    const whole = await digestBucket(db, 7, 1000)
    expect(whole).toMatchObject({ images: 6, variants: 12 })
    for (const chunk of [1, 2, 3, 5, 6]) expect(await digestBucket(db, 7, chunk)).toEqual(whole)
  })

  it('agrees on a copy and tells a changed variant apart', async () => {
    const { db: source, ids } = await seeded(7, 6)
    const target = await shard()
    await replaceImages(source, target, ids)
    for (const chunk of [3, 4, 6])
      expect(await digestBucket(target, 7, chunk)).toEqual(await digestBucket(source, 7, chunk))
    await target
      .updateTable('variants')
      .set({ bytes: 901 })
      .where('image_id', '=', ids.at(-1)!)
      .where('format', '=', 'jpeg')
      .execute()
    expect((await digestBucket(target, 7, 4)).sha256).not.toBe(
      (await digestBucket(source, 7, 4)).sha256,
    )
  })
})

describe('hashes taken before the fence, and the images replayed since hashed again', () => {
  it('agree with a whole digest once the log is replayed, after updates and deletes', async () => {
    const { db: source, ids } = await seeded(7, 6)
    const target = await shard()
    await replaceImages(source, target, ids)
    const before = { source: await hashBucket(source, 7), target: await hashBucket(target, 7) }
    // Writes the source takes after the hashes, each logged as the capture phase logs them.
    await source.updateTable('images').set({ bytes: 2000 }).where('id', '=', ids[1]!).execute()
    await source.deleteFrom('variants').where('image_id', '=', ids[4]!).execute()
    await source.deleteFrom('images').where('id', '=', ids[4]!).execute()
    await source
      .insertInto('bucket_changes')
      .values([ids[1]!, ids[4]!].map((image_id) => ({ bucket: 7, image_id })))
      .execute()
    const replayed = new Set<string>()
    expect(await applyChanges(source, target, 7, 100, replayed)).toBe(2)
    expect([...replayed].sort()).toEqual([ids[1], ids[4]])
    await rehash(source, before.source!, [...replayed])
    await rehash(target, before.target!, [...replayed])
    const now = await digestBucket(source, 7)
    expect(now).toMatchObject({ images: 5, variants: 10 })
    expect(digestOf(before.source!)).toEqual(now)
    expect(digestOf(before.target!)).toEqual(now)
  })

  it('tells a difference the log does not name apart', async () => {
    const { db: source, ids } = await seeded(7, 6)
    const target = await shard()
    await replaceImages(source, target, ids.slice(1))
    const [a, b] = [await hashBucket(source, 7), await hashBucket(target, 7)]
    expect(digestOf(a!)).not.toEqual(digestOf(b!))
  })

  it('gives up (null) on a bucket larger than the limit', async () => {
    const { db } = await seeded(7, 6)
    expect(await hashBucket(db, 7, 5, 2)).toBeNull()
    expect((await hashBucket(db, 7, 6, 2))?.size).toBe(6)
  })
})
