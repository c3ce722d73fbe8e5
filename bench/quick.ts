/**
 * `npm run bench -- --quick` (CI runs it after the tests): the parts with a ratio target, each
 * cut to seconds, in under two minutes on the 2-core machine. It prints every ratio beside its
 * target and exits 1 only on a gross regression (harness/targets.ts says where that line is):
 * runs this short are noisy, so a ratio merely under its target is reported, not failed.
 *
 * Cut from the full report: the worker part on the 6 smallest photos, upload acceptance for one
 * 3 s round per side, auth + rate limit for one 2 s slice per route (no metadata-read sides), the
 * queue with 2000 jobs on the sides that have a target and their BullMQ baselines. Left out: the
 * end-to-end, corpus, delivery, shards and capacity parts, which need minutes to say anything.
 */
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { benchGateway } from './gateway/run.js'
import { machineInfo } from './harness/machine.js'
import { loadAverage } from './harness/measure.js'
import { listPhotos } from './harness/photos.js'
import { markdownTable, type PartResult } from './harness/report.js'
import { RABBITMQ_URL, REDIS_URL, rabbitReachable, redisReachable } from './harness/services.js'
import { writeResults } from './harness/standalone.js'
import { ratioTable, verdict } from './harness/targets.js'
import { benchQueues } from './queue/run.js'
import type { Side } from './queue/sides.js'
import { benchUploads } from './upload/run.js'
import { benchWorkers } from './worker/run.js'

const WORKER_PHOTOS = 6
const QUEUE_JOBS = 2000

/** A folder of links to the smallest photos: the worker part's ratio, in seconds. */
async function smallestPhotos(folder: string, count: number): Promise<string> {
  const photos = listPhotos(folder)
  const sizes = await Promise.all(photos.map(async (path) => (await stat(path)).size))
  const chosen = photos
    .map((path, i) => ({ path, size: sizes[i]! }))
    .sort((a, b) => a.size - b.size)
    .slice(0, count)
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-quick-photos-'))
  for (const { path } of chosen) await symlink(path, join(dir, basename(path)))
  return dir
}

async function queueSides(): Promise<Side[] | null> {
  if (!(await redisReachable(REDIS_URL))) return null // no BullMQ baseline, no ratio
  const sides: Side[] = [
    { backend: 'sqlite', batch: 1 },
    { backend: 'sqlite', batch: 10 },
    { backend: 'bullmq-aof', batch: 1 },
    { backend: 'bullmq-aof', batch: 10 },
  ]
  if (await rabbitReachable(RABBITMQ_URL)) sides.push({ backend: 'rabbitmq', batch: 1 })
  return sides
}

export async function benchQuick(folder: string): Promise<number> {
  const started = new Date()
  const machine = machineInfo()
  const loads = [loadAverage()]
  console.error(`Pixelflow quick bench, ${started.toISOString()}, ${machine.cores} cores`)
  const parts: PartResult[] = []
  const skipped: string[] = []
  const few = await smallestPhotos(folder, WORKER_PHOTOS)
  try {
    console.error('\nworker throughput:')
    parts.push(await benchWorkers(few, 2))
  } finally {
    await rm(few, { recursive: true, force: true })
  }
  console.error('\nupload acceptance:')
  parts.push(await benchUploads(folder, 1, 3))
  console.error('\nauth + rate limit:')
  parts.push(...(await benchGateway(1, 2, false)))
  const sides = await queueSides()
  if (sides) {
    console.error('\nqueue throughput:')
    parts.push(await benchQueues(QUEUE_JOBS, 1, 4, sides))
  } else skipped.push(`queue (no Redis at ${REDIS_URL} for the BullMQ baseline)`)
  loads.push(loadAverage())

  const ratios = parts.flatMap((part) => part.ratios ?? [])
  const minutes = (Date.now() - started.getTime()) / 60_000
  console.log(
    `\nPixelflow quick bench, commit ${machine.commit}, ${machine.cores} cores, load ${loads.map((l) => l.toFixed(1)).join(' → ')}, took ${minutes.toFixed(1)} min\n`,
  )
  console.log(markdownTable(parts))
  console.log(`\n${ratioTable(ratios)}`)
  for (const part of skipped) console.log(`\nskipped: ${part}`)
  writeResults('quick-', started, { started, machine, loads, parts })
  const gross = ratios.filter((ratio) => verdict(ratio) === 'gross regression')
  if (gross.length > 0) {
    console.log(`\n${gross.length} gross regression(s): ${gross.map((r) => r.id).join(', ')}`)
    return 1
  }
  console.log('\nno gross regression')
  return 0
}
