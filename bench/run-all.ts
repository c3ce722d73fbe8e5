/**
 * `npm run bench [-- photo folder]`: every part in sequence, one summary table (Markdown, ready
 * for RESULTS.md) on stdout, progress on stderr, and the raw runs in bench/results/<time>.json.
 * Each side of each part runs in its own child process, so its timing and peak RSS are its own.
 */
import { benchCapacity } from './capacity/run.js'
import { benchDelivery } from './delivery/run.js'
import { benchE2e } from './e2e/run.js'
import { benchGateway } from './gateway/run.js'
import { machineInfo } from './harness/machine.js'
import { loadAverage } from './harness/measure.js'
import { photoFolder } from './harness/photos.js'
import { markdownTable, type PartResult } from './harness/report.js'
import { partTables, writeResults } from './harness/standalone.js'
import { benchQueues } from './queue/run.js'
import { benchMetadataShards } from './shards/run.js'
import { benchUploads } from './upload/run.js'
import { benchWorkers } from './worker/run.js'

const folder = photoFolder()
const machine = machineInfo()
const started = new Date()
console.error(
  `Pixelflow bench, ${started.toISOString()}, ${machine.cores} cores (${machine.cpu}), photos from ${folder}`,
)

const parts: PartResult[] = []
const loadAverages: number[] = [loadAverage()]
for (const [name, part] of [
  ['worker throughput', () => benchWorkers(folder)],
  ['upload acceptance', () => benchUploads(folder)],
  ['gateway: metadata reads, auth and rate limiting', () => benchGateway()],
  ['queue throughput (needs Redis and RabbitMQ)', () => benchQueues()],
  ['end-to-end latency, api + worker processes', () => benchE2e(folder)],
  [
    'delivery: on-the-fly transforms (Pixelflow, ipx, raw sharp), derived-cache hits, nginx cache',
    () => benchDelivery(folder),
  ],
  [
    'shards: sharded metadata on PostgreSQL, ops for 1, 2, 4, 8 shards and a 4 → 5 rebalance',
    () => benchMetadataShards(),
  ],
  ['capacity: autoscaling simulation', async () => benchCapacity()],
] as const) {
  // BENCH_PARTS=queue,end-to-end (words of the part names, comma-separated) runs only those parts.
  if (
    process.env.BENCH_PARTS &&
    !process.env.BENCH_PARTS.split(',').some((word) => name.includes(word.trim()))
  )
    continue
  console.error(`\n${name}:`)
  parts.push(...[await part()].flat())
  loadAverages.push(loadAverage())
}

const minutes = (Date.now() - started.getTime()) / 60_000
console.log(
  `\nPixelflow bench, ${started.toISOString().slice(0, 10)}, ${machine.cores} cores, node ${machine.node}, sharp ${machine.sharp} / libvips ${machine.libvips}, commit ${machine.commit}`,
)
console.log(
  `Load average (1 min) before and after each part: ${loadAverages.map((l) => l.toFixed(1)).join(' → ')}; took ${minutes.toFixed(1)} min\n`,
)
console.log(markdownTable(parts))
// Parts with more columns than the summary has also print their own table.
for (const text of partTables(parts)) console.log(text)
writeResults('', started, { started, machine, folder, loadAverages, parts })
