/**
 * Child process of metadata-shards.ts, and the helpers both sides share. A child opens the
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
import type { Kysely } from 'kysely'
import { bucketOfId, newImageId } from '../src/domain/ids.js'
import type { NewImage, Variant } from '../src/domain/image.js'
import { claimForWrite } from '../src/metadata/ownership.js'
import { openShardedMetadata, type ShardedMetadata } from '../src/metadata/sharded-metadata.js'
import { type ControlDb, directoryTablesOf, openControlDb } from '../src/start/control-db.js'
import { isMain } from './support.js'

/** Where the metadata lives: what a service process gets from PIXELFLOW_CONTROL_DB, PIXELFLOW_SHARDS and the pool size. */
export interface Target {
  control: string
  shards: string[]
  poolSize: number
}

export const ownerName = (n: number) => `owner-${n}`

export async function openMetadata(
  target: Target,
): Promise<{ metadata: ShardedMetadata; close(): Promise<void> }> {
  const control = await openControlDb(target.control, { poolSize: 4 })
  const metadata = await openShardedMetadata(
    {
      shards: target.shards,
      control: target.control,
      strategy: 'hash',
      rangeSplits: [],
      directoryRefreshMs: 5_000,
      poolSize: target.poolSize,
    },
    { control: directoryTablesOf(control), requireAll: true },
  )
  return {
    metadata,
    close: async () => {
      await metadata.close()
      await control.destroy()
    },
  }
}

/** An upload's row for `ownerId`, as the upload use case commits it. */
export function newRow(metadata: ShardedMetadata, ownerId: string): NewImage {
  const bucket = metadata.bucketOfOwner(ownerId)
  const id = newImageId(bucket)
  return {
    id,
    ownerId,
    visibility: 'public',
    bucket,
    format: 'jpeg',
    width: 4000,
    height: 3000,
    frames: 1,
    bytes: 2_000_000 + Math.floor(Math.random() * 1_000_000),
    sha256: id.padEnd(64, '0'),
    idempotencyKey: null,
  }
}

/** The first `count` of the six default variants (three presets × WebP and JPEG). */
export const VARIANT_SHAPES = [
  { name: 'thumb', format: 'webp', width: 320, height: 240, bytes: 12_000 },
  { name: 'thumb', format: 'jpeg', width: 320, height: 240, bytes: 18_000 },
  { name: 'medium', format: 'webp', width: 1024, height: 768, bytes: 90_000 },
  { name: 'medium', format: 'jpeg', width: 1024, height: 768, bytes: 140_000 },
  { name: 'large', format: 'webp', width: 2048, height: 1536, bytes: 300_000 },
  { name: 'large', format: 'jpeg', width: 2048, height: 1536, bytes: 480_000 },
] as const

export function variantsFor(imageId: string, count: number): Variant[] {
  return VARIANT_SHAPES.slice(0, count).map((v) => ({
    ...v,
    etag: `"${imageId.slice(-12)}"`,
    key: `images/${imageId}/${v.name}.${v.format}`,
  }))
}

export type LoadOp = 'get' | 'get-raw' | 'list' | 'insert' | 'insert-raw'

export type ParentMessage =
  | { type: 'run'; op: LoadOp; seconds: number; record: boolean }
  | { type: 'start'; planned: number[] }
  | { type: 'moving'; bucket: number; on: boolean }
  | { type: 'stop' }

export interface LoadResult {
  type: 'result'
  op: LoadOp
  ops: number
  errors: number
  firstError: string | null
  /** get / get-raw answers without a row: must stay 0. */
  misses: number
  seconds: number
  cpuSeconds: number
  latenciesMs: number[]
}

export type WriteKind = 'insert' | 'start' | 'complete'

/** One write: its kind, its bucket, when it started (epoch ms, comparable with the parent's phase times) and how long it took (ms). */
export type WriterOp = [kind: WriteKind, bucket: number, startedAt: number, ms: number]

export interface WritersResult {
  type: 'result'
  seconds: number
  cpuSeconds: number
  /** Every write, in the order they ended. */
  timeline: WriterOp[]
  /** Writes to a bucket the parent had announced as moving. */
  onMovingBuckets: number
  inserted: number
  errors: number
  firstError: string | null
}

export type ChildMessage = { type: 'ready' } | LoadResult | WritersResult | { error: string }

const now = () => performance.timeOrigin + performance.now()

/** The message with its causes (SHARD_UNAVAILABLE wraps the driver's error). */
function describe(error: unknown): string {
  const parts: string[] = []
  for (let e: unknown = error; e && parts.length < 4; e = (e as { cause?: unknown }).cause)
    parts.push(e instanceof Error ? e.message : String(e))
  return parts.join(' ← ')
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
    let errors = 0
    let misses = 0
    let firstError: string | null = null
    const cpu = process.cpuUsage()
    const started = performance.now()
    const deadline = started + seconds * 1000
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now()
          try {
            if (!(await once(op))) misses++
            ops++
            if (record) latenciesMs.push(performance.now() - t0)
          } catch (error) {
            errors++
            firstError ??= describe(error)
          }
        }
      }),
    )
    const used = process.cpuUsage(cpu)
    return {
      type: 'result',
      op,
      ops,
      errors,
      firstError,
      misses,
      seconds: (performance.now() - started) / 1000,
      cpuSeconds: (used.user + used.system) / 1e6,
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
    let errors = 0
    let firstError: string | null = null
    const cpu = process.cpuUsage()
    const started = performance.now()
    const timed = async <T>(
      kind: WriteKind,
      bucket: number,
      work: () => Promise<T>,
    ): Promise<T> => {
      if (moving.has(bucket)) onMovingBuckets++
      const startedAt = now()
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
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (!stopping) {
          const { owner, bucket } = chooseOwner()
          try {
            const row = newRow(metadata, owner)
            const store = metadata.forBucket(bucket)
            const created = await timed('insert', bucket, () =>
              store.createImage(row, JSON.stringify({ imageId: row.id }), Date.now()),
            )
            if ('existing' in created)
              throw new Error(`${row.id} came back as an idempotent replay`)
            inserted++
            await timed('start', bucket, () => store.startProcessing(row.id, Date.now()))
            const done = await timed('complete', bucket, () =>
              store.completeImage(
                row.id,
                { variants: variantsFor(row.id, variants), placeholder: 'bench' },
                Date.now(),
              ),
            )
            if (!done) throw new Error(`completeImage(${row.id}) found nothing to complete`)
          } catch (error) {
            errors++
            firstError ??= describe(error)
          }
        }
      }),
    )
    const used = process.cpuUsage(cpu)
    return {
      type: 'result',
      timeline,
      onMovingBuckets,
      inserted,
      errors,
      firstError,
      seconds: (performance.now() - started) / 1000,
      cpuSeconds: (used.user + used.system) / 1e6,
    }
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
    process.send!({
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    })
  }
}
