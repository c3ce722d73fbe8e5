/**
 * Child process of the shards part (forked by shards/ops.ts and shards/rebalance.ts). A child opens the
 * metadata as a service process would (its own pools, its own copy of the directory, its own
 * router) and plays one role:
 *
 *   load     BENCH_META_CLIENTS async clients looping one operation (get, get-raw, list, insert)
 *            for the seconds the parent asks, then the latencies and the child's CPU go back;
 *   writers  BENCH_META_WRITERS loops of insert → startProcessing → completeImage on owners of the
 *            buckets being moved (the parent tells which, as the mover reaches them), until `stop`.
 *
 * Owners are `owner-<n>` for n below BENCH_META_OWNERS, as the parent seeded them.
 */
import { readFileSync } from 'node:fs'
import { bucketOfId } from '../../src/domain/ids.js'
import { claimForWrite } from '../../src/metadata/ownership.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { errorText, isMain } from '../harness/child.js'
import { cpuSecondsOf, wallNow } from '../harness/measure.js'
import {
  type LoadOp,
  type LoadResult,
  newRow,
  openMetadata,
  ownerName,
  type ParentMessage,
  type Target,
  variantsFor,
  type WriteKind,
  type WriterOp,
  type WritersResult,
} from './metadata.js'

/** The message with its causes (SHARD_UNAVAILABLE wraps the driver's error). */
function describe(error: unknown): string {
  const parts: string[] = []
  for (let e: unknown = error; e && parts.length < 4; e = (e as { cause?: unknown }).cause)
    parts.push(e instanceof Error ? e.message : String(e))
  return parts.join(' ← ')
}

/**
 * `count` async loops of `step` until `done()`, as both roles run their clients: a failed step
 * is counted (the first error kept) and the loop goes on. Also the wall and CPU time they took.
 */
async function loops(
  count: number,
  done: () => boolean,
  step: () => Promise<void>,
): Promise<{ errors: number; firstError: string | null; seconds: number; cpuSeconds: number }> {
  let errors = 0
  let firstError: string | null = null
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (!done()) {
        try {
          await step()
        } catch (error) {
          errors++
          firstError ??= describe(error)
        }
      }
    }),
  )
  return {
    errors,
    firstError,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: cpuSecondsOf(process.cpuUsage(cpu)),
  }
}

/** `load` role: the sample of seeded ids (a JSON file) and the owner count come from the parent. */
async function loadRole(metadata: ShardedMetadata): Promise<void> {
  const clients = Number(process.env.BENCH_META_CLIENTS ?? 32)
  const owners = Number(process.env.BENCH_META_OWNERS)
  const ids = JSON.parse(readFileSync(process.env.BENCH_META_SAMPLE!, 'utf8')) as string[]
  const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!
  const randomOwner = () => ownerName(Math.floor(Math.random() * owners))

  async function once(op: LoadOp): Promise<boolean> {
    switch (op) {
      case 'get': {
        const id = pick(ids)
        return (await metadata.forImageId(id)!.getImage(id)) !== null
      }
      case 'get-raw': {
        // The same two SELECTs as ShardStore.getImage on the shard the directory names, without
        // the ownership check (assertReadable) that follows them there.
        const id = pick(ids)
        const db = (await metadata.shard(metadata.directory().shardOf[bucketOfId(id)!]!)).db
        const row = await db
          .selectFrom('images')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirst()
        if (!row) return false
        await db.selectFrom('variants').selectAll().where('image_id', 'in', [id]).execute()
        return true
      }
      case 'list': {
        const owner = randomOwner()
        await metadata.forOwner(owner).listImages(owner, 20)
        return true
      }
      case 'insert': {
        const row = newRow(metadata, randomOwner())
        const created = await metadata
          .forBucket(row.bucket)
          .createImage(row, JSON.stringify({ imageId: row.id }), Date.now())
        if ('existing' in created) throw new Error(`${row.id} came back as an idempotent replay`)
        return true
      }
      case 'insert-raw': {
        // createImage's transaction (claim the bucket, image row, outbox row) on the shard the
        // directory names, without reading the new row back (createImage does, in the transaction).
        const row = newRow(metadata, randomOwner())
        const now = Date.now()
        const db = (await metadata.shard(metadata.directory().shardOf[row.bucket]!)).db
        await db.transaction().execute(async (trx) => {
          await claimForWrite(trx, row.bucket)
          await trx
            .insertInto('images')
            .values({
              id: row.id,
              owner_id: row.ownerId,
              bucket: row.bucket,
              visibility: row.visibility,
              status: 'queued',
              format: row.format,
              width: row.width,
              height: row.height,
              frames: row.frames,
              bytes: row.bytes,
              sha256: row.sha256,
              idempotency_key: null,
              placeholder: null,
              failure_code: null,
              failure_detail: null,
              attempts: 0,
              created_at: now,
              updated_at: now,
            })
            .execute()
          await trx
            .insertInto('outbox')
            .values({
              job_id: row.id,
              bucket: row.bucket,
              payload: JSON.stringify({ imageId: row.id }),
              created_at: now,
            })
            .execute()
        })
        return true
      }
    }
  }

  async function run(op: LoadOp, seconds: number, record: boolean): Promise<LoadResult> {
    const latenciesMs: number[] = []
    let ops = 0
    let misses = 0
    const deadline = performance.now() + seconds * 1000
    const ran = await loops(
      clients,
      () => performance.now() >= deadline,
      async () => {
        const t0 = performance.now()
        if (!(await once(op))) misses++
        ops++
        if (record) latenciesMs.push(performance.now() - t0)
      },
    )
    return {
      type: 'result',
      op,
      ops,
      misses,
      ...ran,
      latenciesMs: latenciesMs.map((ms) => Math.round(ms * 1000) / 1000),
    }
  }

  process.on('message', (message: ParentMessage) => {
    if (message.type !== 'run') return
    run(message.op, message.seconds, message.record).then(
      (result) => process.send!(result),
      (error: unknown) => process.send!({ error: String(error) }),
    )
  })
}

/** `writers` role: new images go through their life (queued → processing → ready) in the buckets being moved. */
async function writersRole(metadata: ShardedMetadata): Promise<void> {
  const writers = Number(process.env.BENCH_META_WRITERS ?? 4)
  const owners = Number(process.env.BENCH_META_OWNERS)
  const variants = Number(process.env.BENCH_META_VARIANTS ?? 2)
  const ownersOf = new Map<number, string[]>()
  for (let n = 0; n < owners; n++) {
    const owner = ownerName(n)
    const bucket = metadata.bucketOfOwner(owner)
    const list = ownersOf.get(bucket) ?? []
    list.push(owner)
    ownersOf.set(bucket, list)
  }
  const moving = new Set<number>()
  let planned: number[] = []
  let stopping = false
  let running: Promise<WritersResult> | null = null

  /** A bucket being moved right now when there is one (3 times in 4), else any planned bucket with owners. */
  function chooseOwner(): { owner: string; bucket: number } {
    for (;;) {
      const pool = moving.size > 0 && Math.random() < 0.75 ? [...moving] : planned
      const bucket = pool[Math.floor(Math.random() * pool.length)]!
      const list = ownersOf.get(bucket)
      if (list?.length) return { owner: list[Math.floor(Math.random() * list.length)]!, bucket }
    }
  }

  async function run(): Promise<WritersResult> {
    const timeline: WriterOp[] = []
    let onMovingBuckets = 0
    let inserted = 0
    const timed = async <T>(
      kind: WriteKind,
      bucket: number,
      work: () => Promise<T>,
    ): Promise<T> => {
      if (moving.has(bucket)) onMovingBuckets++
      const startedAt = wallNow()
      const t0 = performance.now()
      const result = await work()
      timeline.push([
        kind,
        bucket,
        Math.round(startedAt * 1000) / 1000,
        Math.round((performance.now() - t0) * 1000) / 1000,
      ])
      return result
    }
    const ran = await loops(
      writers,
      () => stopping,
      async () => {
        const { owner, bucket } = chooseOwner()
        const row = newRow(metadata, owner)
        const store = metadata.forBucket(bucket)
        const created = await timed('insert', bucket, () =>
          store.createImage(row, JSON.stringify({ imageId: row.id }), Date.now()),
        )
        if ('existing' in created) throw new Error(`${row.id} came back as an idempotent replay`)
        inserted++
        await timed('start', bucket, () => store.startProcessing(row.id, Date.now()))
        const done = await timed('complete', bucket, () =>
          store.completeImage(
            row.id,
            {
              variants: variantsFor(row.id, variants),
              placeholder: { type: 'thumbhash', value: 'bench' },
            },
            Date.now(),
          ),
        )
        if (!done) throw new Error(`completeImage(${row.id}) found nothing to complete`)
      },
    )
    return { type: 'result', timeline, onMovingBuckets, inserted, ...ran }
  }

  process.on('message', (message: ParentMessage) => {
    if (message.type === 'moving') {
      if (message.on) moving.add(message.bucket)
      else moving.delete(message.bucket)
    } else if (message.type === 'start') {
      planned = message.planned
      moving.clear()
      stopping = false
      running = run()
    } else if (message.type === 'stop' && running) {
      stopping = true
      running.then(
        (result) => process.send!(result),
        (error: unknown) => process.send!({ error: String(error) }),
      )
      running = null
    }
  })
}

if (isMain(import.meta.url)) {
  try {
    const target = JSON.parse(process.env.BENCH_META_TARGET!) as Target
    const { metadata } = await openMetadata(target)
    if (process.env.BENCH_META_ROLE === 'writers') await writersRole(metadata)
    else await loadRole(metadata)
    // The parent kills this process when it has what it needs; IPC keeps it alive until then.
    process.send!({ type: 'ready' })
  } catch (error) {
    process.send!({ error: errorText(error) })
  }
}
