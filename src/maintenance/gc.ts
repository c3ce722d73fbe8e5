import { Counter, type Registry } from 'prom-client'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { ObjectEntry, ObjectStore } from '../storage/object-store.js'
import { OBJECT_PREFIXES, type ObjectKind, recogniseKey } from './object-kinds.js'

/** One hour: far longer than any upload may stream (its original is stored before its row). */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000

export interface GcOptions {
  store: ObjectStore
  /** Only the router is used: an image id names its bucket, the directory names the shard. */
  metadata: Pick<ShardedMetadata, 'forImageId'>
  /**
   * Objects younger than this are never judged: an upload stores its original before it commits
   * the row, and a worker writes variants before it commits `ready`. An image with any object
   * younger than this is left whole for the next run.
   */
  olderThanMs: number
  /** Report what would be deleted; delete nothing. */
  dryRun?: boolean
  now?: number
  metrics?: GcMetrics
  /** At most this many keys are kept in the report's lists (the counts stay exact). */
  reportLimit?: number
}

export interface GcReport {
  dryRun: boolean
  olderThanMs: number
  /** Objects seen under the service's prefixes. */
  scanned: number
  /** Images whose objects were checked against their shard. */
  imagesChecked: number
  /** Images with an object younger than the grace period: left for a later run. */
  imagesTooYoung: number
  /** Images with objects and no row: orphans. */
  orphanImages: number
  /** Orphaned objects deleted (or, on a dry run, that would be). */
  orphanObjects: number
  orphanBytes: number
  byKind: Record<ObjectKind, number>
  /** Orphaned keys (at most reportLimit). */
  orphanKeys: string[]
  /** Keys no kind of object claims: never touched (at most reportLimit). */
  unrecognised: string[]
  unrecognisedCount: number
  /** Images whose shard could not answer: skipped, never treated as orphans. */
  errors: { imageId: string; error: string }[]
}

export type GcMetrics = ReturnType<typeof createGcMetrics>

/** The collector's counters, on the given registry (a process's `/metrics`, or a test's own). */
export function createGcMetrics(registry: Registry) {
  return {
    objects: new Counter({
      name: 'pixelflow_gc_objects_total',
      help: 'Objects the garbage collector handled, by kind and result: deleted, would_delete (dry run), unrecognised (left alone), skipped_error (shard did not answer)',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    runs: new Counter({
      name: 'pixelflow_gc_runs_total',
      help: 'Garbage collection runs, by mode (delete, dry_run)',
      labelNames: ['mode'],
      registers: [registry],
    }),
  }
}

/**
 * Finds and removes objects that no image row owns: left by a crash between a row's delete and
 * its objects' delete, or by an upload refused after its bytes were stored. One pass over the
 * store in key order, so each image's objects arrive together; every image is judged by its row
 * on the shard its id names. Safe while the service runs: only images whose objects are all older
 * than `olderThanMs` are judged, an unreachable shard skips its images, and only keys that
 * `recogniseKey` claims are ever deleted.
 */
export async function collectGarbage(options: GcOptions): Promise<GcReport> {
  const { store, metadata, olderThanMs, dryRun = false, metrics, reportLimit = 1000 } = options
  const cutoff = (options.now ?? Date.now()) - olderThanMs
  const report: GcReport = {
    dryRun,
    olderThanMs,
    scanned: 0,
    imagesChecked: 0,
    imagesTooYoung: 0,
    orphanImages: 0,
    orphanObjects: 0,
    orphanBytes: 0,
    byKind: { original: 0, variant: 0, derived: 0 },
    orphanKeys: [],
    unrecognised: [],
    unrecognisedCount: 0,
    errors: [],
  }
  metrics?.runs.inc({ mode: dryRun ? 'dry_run' : 'delete' })

  async function judge(imageId: string, objects: (ObjectEntry & { kind: ObjectKind })[]) {
    if (objects.some((o) => o.modifiedAt > cutoff)) {
      report.imagesTooYoung++
      return
    }
    report.imagesChecked++
    let row: unknown
    try {
      // recogniseKey only claims ids whose bucket decodes, so the router answers a store; were it
      // not to, "no store" must never read as "no row".
      const shard = metadata.forImageId(imageId)
      if (!shard) throw new Error(`No shard routes image id ${imageId}`)
      row = await shard.getImage(imageId)
    } catch (error) {
      report.errors.push({ imageId, error: error instanceof Error ? error.message : String(error) })
      for (const o of objects) metrics?.objects.inc({ kind: o.kind, result: 'skipped_error' })
      return
    }
    if (row) return
    report.orphanImages++
    for (const object of objects) {
      if (!dryRun) await store.delete(object.key)
      report.orphanObjects++
      report.orphanBytes += object.size
      report.byKind[object.kind]++
      if (report.orphanKeys.length < reportLimit) report.orphanKeys.push(object.key)
      metrics?.objects.inc({ kind: object.kind, result: dryRun ? 'would_delete' : 'deleted' })
    }
  }

  for (const prefix of OBJECT_PREFIXES) {
    let current: string | null = null
    let group: (ObjectEntry & { kind: ObjectKind })[] = []
    for await (const entry of store.scan(prefix)) {
      report.scanned++
      const recognised = recogniseKey(entry.key)
      if (!recognised) {
        report.unrecognisedCount++
        if (report.unrecognised.length < reportLimit) report.unrecognised.push(entry.key)
        metrics?.objects.inc({ kind: 'unknown', result: 'unrecognised' })
        continue
      }
      if (recognised.imageId !== current) {
        if (current !== null) await judge(current, group)
        current = recognised.imageId
        group = []
      }
      group.push({ ...entry, kind: recognised.kind })
    }
    if (current !== null) await judge(current, group)
  }
  return report
}
