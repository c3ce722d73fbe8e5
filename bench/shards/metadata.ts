/**
 * What the shards part's parent and its child processes share: where the metadata lives and how
 * a process opens it (as a service process would), the rows and variants it writes, and the
 * messages between them. Owners are `owner-<n>` for n below the owner count, as seeded.
 */
import { fileURLToPath } from 'node:url'
import { newImageId } from '../../src/domain/ids.js'
import type { NewImage, Variant } from '../../src/domain/image.js'
import { openShardedMetadata, type ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { directoryTablesOf, openControlDb } from '../../src/start/control-db.js'

/** The child process of both parts (its roles: load, writers). */
export const SIDE_FILE = fileURLToPath(new URL('./side.ts', import.meta.url))

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
    version: null,
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
