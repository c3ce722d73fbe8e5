/**
 * The shards part's rebalance: the write pause per moved bucket during a 4 → 5 rebalance, on
 * PostgreSQL (a database per shard on the one server) or on SQLite (a file per shard, the
 * writers in another process, as a `pixelflow shards rebalance` beside `serve` would be).
 */
import type { ChildProcess } from 'node:child_process'
import type { BucketMoveRow, MovePhase } from '../../src/metadata/control-db.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { createMover } from '../../src/sharding/mover.js'
import { sleep } from '../harness/async.js'
import { ask, killAll, nextMessage, startChild } from '../harness/child.js'
import { cpuSecondsOf, loadAverage, wallNow } from '../harness/measure.js'
import type { TablePart } from '../harness/report.js'
import { percentile } from '../harness/stats.js'
import {
  adminClient,
  backendClock,
  createDatabases,
  createSqliteFiles,
  serverWide,
} from './databases.js'
import {
  openMetadata,
  type ParentMessage,
  SIDE_FILE,
  type Target,
  type WritersResult,
} from './metadata.js'
import type { MetaOptions } from './options.js'
import {
  overlapsWithFence,
  phaseDurations,
  type RebalanceRun,
  rebalancePart,
  STEPS,
  type Window,
  writerFigures,
  writerLine,
} from './rebalance-report.js'
import { type Engine, seed } from './seed.js'

export async function benchRebalance(
  o: MetaOptions,
  engine: Engine = 'postgres',
): Promise<TablePart> {
  const postgres = engine === 'postgres'
  const dbs = postgres ? await createDatabases(6) : await createSqliteFiles(6)
  const target: Target = {
    control: dbs.urls[0]!,
    shards: dbs.urls.slice(1, 5),
    poolSize: o.rebalancePoolSize,
  }
  let writer: ChildProcess | null = null
  const loadAverages = [loadAverage()]
  try {
    const { metadata, close } = await openMetadata(target)
    try {
      const seeded = await seed(
        metadata,
        o.rebalanceRows,
        o.rebalanceOwners,
        o.variants,
        0,
        '4 shards',
        engine,
      )
      console.error(
        `  seeded ${o.rebalanceRows} images (+ ${o.rebalanceRows * o.variants} variants) over 4 shards in ${seeded.seconds.toFixed(1)} s ` +
          `(${(o.rebalanceRows / seeded.seconds).toFixed(0)} images/s), VACUUM ANALYZE ${seeded.vacuumSeconds.toFixed(1)} s`,
      )
      if (postgres) await serverWide('CHECKPOINT')
      loadAverages.push(loadAverage())

      writer = startChild(SIDE_FILE, {
        BENCH_META_ROLE: 'writers',
        BENCH_META_TARGET: JSON.stringify(target),
        BENCH_META_OWNERS: String(o.rebalanceOwners),
        BENCH_META_WRITERS: String(o.writers),
        BENCH_META_VARIANTS: String(o.variants),
      })
      await nextMessage(writer, 60_000)
      const child = writer

      const added = await metadata.addShard(dbs.urls[5]!)
      const phases = new Map<number, Partial<Record<MovePhase, number>>>()
      let finished = 0
      const mover = createMover({
        metadata,
        parallel: o.moverParallel,
        chunkSize: o.chunkSize,
        onPhase: (move: BucketMoveRow, phase: MovePhase, step: number) => {
          if (step !== 0) return
          const times = phases.get(move.bucket) ?? {}
          times[phase] = wallNow()
          phases.set(move.bucket, times)
          if (phase === 'capture')
            child.send({ type: 'moving', bucket: move.bucket, on: true } satisfies ParentMessage)
          if (phase === 'cleanup') {
            child.send({ type: 'moving', bucket: move.bucket, on: false } satisfies ParentMessage)
            finished++
          }
        },
      })
      const plan = await mover.plan()
      if (!plan.every((m) => m.to === added))
        throw new Error(`the 4 → 5 plan moves buckets elsewhere than to shard ${added}`)
      const planned = plan.map((m) => m.bucket)

      // Writers alone first, on the same owners: what their latency is without a move.
      child.send({ type: 'start', planned } satisfies ParentMessage)
      await sleep(o.baselineSeconds * 1000)
      const baseline = await ask<WritersResult>(child, { type: 'stop' }, 60_000)
      console.error(`  writers alone: ${writerLine(writerFigures(baseline))}`)
      if (baseline.errors > 0)
        throw new Error(`writers failed before the rebalance: ${baseline.firstError}`)

      child.send({ type: 'start', planned } satisfies ParentMessage)
      await sleep(500) // writers running before the first fence
      loadAverages.push(loadAverage())
      const admin = postgres ? await adminClient() : null
      const backends = admin ? await backendClock(admin, dbs.urls) : null
      const cpuBefore = process.cpuUsage()
      const started = performance.now()
      const progress = setInterval(() => {
        const s = (performance.now() - started) / 1000
        console.error(
          `    ${finished} of ${plan.length} buckets moved in ${s.toFixed(0)} s, load ${loadAverage().toFixed(1)}`,
        )
      }, 15_000)
      let results: BucketMoveRow[]
      let seconds: number
      let cpuUsed: NodeJS.CpuUsage
      let postgresSeconds: number | null
      try {
        results = await mover.run(plan)
        seconds = (performance.now() - started) / 1000
        cpuUsed = process.cpuUsage(cpuBefore)
        postgresSeconds = backends ? await backends.read() : null
      } finally {
        clearInterval(progress)
        await admin?.end().catch(() => {})
      }
      loadAverages.push(loadAverage())
      await sleep(500) // and writing a little after the last switch
      const during = await ask<WritersResult>(child, { type: 'stop' }, 60_000)
      if (during.errors > 0)
        throw new Error(
          `writers failed during the rebalance (${during.errors} errors): ${during.firstError}`,
        )

      const failed = results.filter((r) => r.phase !== 'done')
      if (failed.length > 0 || results.length !== plan.length) {
        throw new Error(
          `${results.length} of ${plan.length} moves ended, ${failed.length} not done: ${failed[0]?.detail ?? ''}`,
        )
      }
      await verifyPlacement(metadata, o.rebalanceRows + baseline.inserted + during.inserted)

      const doneAt = new Map(results.map((r) => [r.bucket, r.updated_at]))
      const windows = new Map<number, Window>()
      for (const [bucket, t] of phases) {
        const w = { ...t, done: doneAt.get(bucket) }
        if (STEPS.some((phase) => w[phase] === undefined))
          throw new Error(`bucket ${bucket} lacks phase times: ${JSON.stringify(w)}`)
        windows.set(bucket, w as Window)
      }
      const pauses = [...windows.values()].map((w) => w.cleanup - w.fence)
      const overlapping = overlapsWithFence(during, windows)
      const run: RebalanceRun = {
        rows: o.rebalanceRows,
        owners: o.rebalanceOwners,
        variants: o.variants,
        seedSeconds: seeded.seconds,
        vacuumSeconds: seeded.vacuumSeconds,
        moves: results.length,
        failed: failed.length,
        seconds,
        rowsCopied: results.reduce((sum, r) => sum + r.rows_copied, 0),
        changesApplied: results.reduce((sum, r) => sum + r.changes_applied, 0),
        pauseMs: {
          p50: percentile(pauses, 50),
          p99: percentile(pauses, 99),
          max: Math.max(...pauses),
        },
        phaseMs: phaseDurations([...windows.values()]),
        moveMs: {
          p50: percentile(
            [...windows.values()].map((w) => w.done - w.capture),
            50,
          ),
          max: Math.max(...[...windows.values()].map((w) => w.done - w.capture)),
        },
        laneMsPerBucket:
          (seconds * 1000 * Math.min(o.moverParallel, results.length)) / results.length,
        writers: { baseline: writerFigures(baseline), during: writerFigures(during) },
        fencedWrites: overlapping,
        cpu: {
          moverSeconds: cpuSecondsOf(cpuUsed),
          writerSeconds: during.cpuSeconds,
          postgresSeconds,
        },
        loadAverages,
      }
      console.error(
        `  rebalance: ${run.moves} buckets, ${run.rowsCopied} rows copied in ${seconds.toFixed(1)} s (${(run.rowsCopied / seconds).toFixed(0)} rows/s), ` +
          `write pause p50 ${run.pauseMs.p50.toFixed(1)} ms, p99 ${run.pauseMs.p99.toFixed(1)} ms, max ${run.pauseMs.max.toFixed(1)} ms; writers ${writerLine(run.writers.during)}`,
      )
      return rebalancePart(run, o, engine)
    } finally {
      await close()
    }
  } finally {
    if (writer) killAll([writer])
    await dbs.drop()
  }
}

/** Every row on the shard the directory names for its bucket, every bucket owned by exactly that shard, no change log left. */
async function verifyPlacement(metadata: ShardedMetadata, expectedRows: number): Promise<void> {
  const directory = await metadata.refresh()
  let total = 0
  const owned = new Array<number>(directory.shardOf.length).fill(0)
  for (const id of directory.shards.keys()) {
    const db = (await metadata.shard(id)).db
    const rows = await db
      .selectFrom('images')
      .select(['bucket', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('bucket')
      .execute()
    for (const row of rows) {
      if (directory.shardOf[row.bucket] !== id)
        throw new Error(
          `shard ${id} still holds ${row.n} rows of bucket ${row.bucket}, which the directory puts on ${directory.shardOf[row.bucket]}`,
        )
      total += Number(row.n)
    }
    const states = await db.selectFrom('bucket_ownership').select(['bucket', 'state']).execute()
    for (const s of states) {
      if (s.state !== 'owned' || directory.shardOf[s.bucket] !== id)
        throw new Error(`shard ${id} has bucket ${s.bucket} as ${s.state}`)
      owned[s.bucket]!++
    }
    const changes = await db
      .selectFrom('bucket_changes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    if (Number(changes.n) !== 0) throw new Error(`shard ${id} kept ${changes.n} change-log rows`)
  }
  if (owned.some((n) => n !== 1)) throw new Error('some bucket is owned by no shard or by two')
  if (total !== expectedRows)
    throw new Error(
      `${total} image rows across the shards after the rebalance, expected ${expectedRows}`,
    )
}
