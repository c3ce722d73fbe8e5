import { describe, expect, it } from 'vitest'
import type { NewImage } from '../../src/domain/image.js'
import { newImageRow } from '../fixtures/image-rows.js'
import { freshMetadataPerTest, type MetadataDialect } from '../fixtures/metadata-env.js'

/** createImage with dedupe: the same cases on SQLite files and on PostgreSQL databases. */
export function metadataDedupeContract(dialect: MetadataDialect): void {
  describe(`content dedupe on ${dialect}`, () => {
    const fresh = freshMetadataPerTest(dialect, 2)

    const create = (row: NewImage, dedupe = true) =>
      fresh.metadata
        .forBucket(row.bucket)
        .createImage(row, JSON.stringify({ imageId: row.id }), Date.now(), undefined, dedupe)

    it('simultaneous creates of the same bytes make one row; the others get it back', async () => {
      const sha256 = 'ab'.repeat(32)
      const rows = Array.from({ length: 16 }, () =>
        newImageRow(fresh.metadata, 'alice', { sha256 }),
      )
      const results = await Promise.all(rows.map((row) => create(row)))
      const created = results.filter((r) => !('existing' in r))
      expect(created).toHaveLength(1)
      const winner = created[0] as { id: string }
      for (const r of results)
        if ('existing' in r)
          expect(r).toMatchObject({ existing: { id: winner.id }, deduplicated: true })
      const stored = await fresh.metadata.forOwner('alice').listImages('alice', 100)
      expect(stored.map((i) => i.id)).toEqual([winner.id])
    })

    it('is per owner, per visibility, skips failed images, and is off unless asked', async () => {
      const sha256 = 'cd'.repeat(32)
      const first = await create(newImageRow(fresh.metadata, 'alice', { sha256 }))
      expect('existing' in first).toBe(false)
      const firstId = (first as { id: string }).id
      expect('existing' in (await create(newImageRow(fresh.metadata, 'bob', { sha256 })))).toBe(
        false,
      )
      const privateRow = newImageRow(fresh.metadata, 'alice', { sha256, visibility: 'private' })
      expect('existing' in (await create(privateRow))).toBe(false)
      expect(
        'existing' in (await create(newImageRow(fresh.metadata, 'alice', { sha256 }), false)),
      ).toBe(false)
      await fresh.metadata
        .forImageId(firstId)!
        .failImage(firstId, 'IMAGE_UNDECODABLE', 'x', Date.now())
      // Now the only public, unfailed image of these bytes is the one made without dedupe.
      const again = await create(newImageRow(fresh.metadata, 'alice', { sha256 }))
      expect(again).toMatchObject({ deduplicated: true })
      expect((again as { existing: { id: string } }).existing.id).not.toBe(firstId)
    })

    it('an Idempotency-Key already used comes back as a replay, not as a duplicate', async () => {
      const sha256 = 'ef'.repeat(32)
      const first = await create(
        newImageRow(fresh.metadata, 'alice', { sha256, idempotencyKey: 'k' }),
      )
      const other = await create(
        newImageRow(fresh.metadata, 'alice', { sha256: '01'.repeat(32), idempotencyKey: 'k' }),
      )
      expect(other).toEqual({ existing: expect.objectContaining({ id: (first as any).id }) })
    })
  })
}
