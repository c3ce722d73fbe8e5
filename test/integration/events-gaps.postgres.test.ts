import { setTimeout as sleep } from 'node:timers/promises'
import type { Transaction } from 'kysely'
import { afterEach, beforeEach, expect, it } from 'vitest'
import type { ImageEventType } from '../../src/domain/events.js'
import type { MetadataDb } from '../../src/metadata/db.js'
import { appendEvent } from '../../src/metadata/shard-events.js'
import type { ShardStore } from '../../src/metadata/shard-store.js'
import { createMetadataEnv, type MetadataEnv } from '../fixtures/metadata-env.js'
import { describeWithPostgres } from '../fixtures/postgres.js'

/**
 * A PostgreSQL serial is taken at insert and seen at commit: two transactions can commit out of
 * order. A reader that handed out the later seq first would skip the earlier one forever.
 */
describeWithPostgres('events-gaps.postgres.test.ts')('event outbox seq gaps on PostgreSQL', () => {
  let env: MetadataEnv
  let shard: ShardStore

  beforeEach(async () => {
    env = await createMetadataEnv('postgres', 1, 0)
    const { metadata } = await env.open()
    shard = await metadata.shard(0)
  })
  afterEach(() => env.cleanup())

  const append = (trx: Transaction<MetadataDb>, imageId: string, type: ImageEventType) =>
    appendEvent(trx, {
      bucket: 1,
      ownerId: 'gap-owner',
      imageId,
      type,
      data: { imageId, status: 'ready' },
      now: Date.now(),
    })

  /** Every row committed so far. */
  const visibleSeqs = async () =>
    (await shard.db.selectFrom('events').select('seq').orderBy('seq').execute()).map((r) =>
      Number(r.seq),
    )

  const pending = (work: Promise<unknown>) =>
    Promise.race([work.then(() => 'done'), sleep(300).then(() => 'pending')])

  it('a later transaction cannot take a seq before the earlier one committed, so seq order is commit order', async () => {
    const early = await shard.db.startTransaction().execute()
    await append(early, 'img-early', 'image.ready')
    const late = await shard.db.startTransaction().execute()
    const lateAppend = append(late, 'img-late', 'image.ready')
    // Without the lock the later seq would commit first and a reader past it would skip the
    // earlier one; with it the later append waits for the earlier transaction to end.
    expect(await pending(lateAppend)).toBe('pending')
    expect(await shard.readEvents(0, 10)).toEqual([])
    expect(await shard.eventsHead()).toBe(0)
    expect(await shard.readOwnerEvents('gap-owner', 0, 10)).toEqual({ events: [], position: 0 })

    await early.commit().execute()
    await lateAppend
    const first = await shard.readEvents(0, 10)
    expect(first.map((e) => e.data.imageId)).toEqual(['img-early'])
    await late.commit().execute()
    const events = await shard.readEvents(first[0]!.seq, 10)
    expect(events.map((e) => e.data.imageId)).toEqual(['img-late'])
    expect(events[0]!.seq).toBeGreaterThan(first[0]!.seq)
    expect(await shard.eventsHead()).toBe(events[0]!.seq)
  })

  it('a rolled-back transaction leaves a hole that readers pass at once', async () => {
    const doomed = await shard.db.startTransaction().execute()
    await append(doomed, 'img-doomed', 'image.ready')
    const after = await shard.db.startTransaction().execute()
    const afterAppend = append(after, 'img-after', 'image.ready')
    expect(await pending(afterAppend)).toBe('pending')
    await doomed.rollback().execute()
    await afterAppend
    await after.commit().execute()
    const events = await shard.readEvents(0, 10)
    expect(events.map((e) => e.data.imageId)).toEqual(['img-after'])
    expect(events[0]!.seq).toBe(2) // seq 1 went with the rollback
  })

  it('many writers committing in random order: a polling reader sees every event once, in seq order', async () => {
    const writers = Array.from({ length: 40 }, async (_, i) => {
      const trx = await shard.db.startTransaction().execute()
      await append(trx, `img-${i}`, 'image.ready')
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 50))
      await trx.commit().execute()
    })
    const seen: number[] = []
    let done = false
    const all = Promise.all(writers).then(() => (done = true))
    for (let after = 0; ; ) {
      // Taken before the read: `done` turning true while a read is in flight says nothing of
      // what that read saw (CI stopped one commit short that way).
      const committed = done
      const page = await shard.readEvents(after, 7)
      seen.push(...page.map((e) => e.seq))
      after = page.at(-1)?.seq ?? after
      if (committed && page.length === 0) break
    }
    await all
    expect(seen).toHaveLength(40)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    expect(seen).toEqual(await visibleSeqs())
  })
})
