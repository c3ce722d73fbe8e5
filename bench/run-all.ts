/**
 * `npm run bench [-- photo folder]`: every part in sequence, one summary table (Markdown, ready
 * for RESULTS.md) on stdout, progress on stderr, and the raw runs in bench/results/<time>.json.
 * Each side of each part runs in its own child process, so its timing and peak RSS are its own.
 * `npm run bench -- --quick`: the ratio targets in under two minutes (bench/quick.ts; CI runs it).
 */
import { benchCapacity } from './capacity/run.js'
import { benchCorpus } from './corpus/run.js'
import { benchDelivery } from './delivery/run.js'
import { benchE2e } from './e2e/run.js'
import { benchGateway } from './gateway/run.js'
import { machineInfo } from './harness/machine.js'
import { loadAverage } from './harness/measure.js'
import { photoFolder } from './harness/photos.js'
import { markdownTable, type PartResult } from './harness/report.js'
import { partTables, writeLatestReport, writeResults } from './harness/standalone.js'
import { ratioTable } from './harness/targets.js'
import { benchMemory } from './memory/run.js'
import { benchQueues } from './queue/run.js'
import { benchQuick } from './quick.js'
import { benchMetadataShards } from './shards/run.js'
import { benchUploads } from './upload/run.js'
import { benchWorkers } from './worker/run.js'

// --quick: the ratio targets only, in under two minutes, failing on a gross regression (CI).
if (process.argv.includes('--quick')) process.exit(await benchQuick(photoFolder()))

const folder = photoFolder()
const machine = machineInfo()
const started = new Date()
console.error(
  `Pixelflow bench, ${started.toISOString()}, ${machine.cores} cores (${machine.cpu}), photos from ${folder}`,
)

const parts: PartResult[] = []
const loadAverages: number[] = [loadAverage()]
/** Minutes each part took, by its short name: where to cut when the report outgrows 15 minutes. */
const partMinutes: [string, number][] = []
for (const [short, name, part] of [
  ['worker', 'worker throughput', () => benchWorkers(folder)],
  ['upload', 'upload acceptance', () => benchUploads(folder)],
  ['gateway', 'gateway: metadata reads, auth and rate limiting', () => benchGateway()],
  ['queue', 'queue throughput (needs Redis and RabbitMQ)', () => benchQueues()],
  ['e2e', 'end-to-end latency, api + worker processes', () => benchE2e(folder)],
  [
    'corpus',
    'corpus end to end on the one-process service vs raw sharp (one 4 MP photo, the corpus, workers under uploads)',
    () => benchCorpus(folder),
  ],
  [
    'delivery',
    'delivery: on-the-fly transforms (Pixelflow, ipx, raw sharp), derived-cache hits, nginx cache',
    () => benchDelivery(folder),
  ],
  [
    'memory',
    'memory of the one-process service (corpus, 100 × 20 MB burst)',
    () => benchMemory(folder),
  ],
  [
    'shards',
    'shards: sharded metadata on PostgreSQL, ops for 1, 2, 4, 8 shards and a 4 → 5 rebalance',
    () => benchMetadataShards(),
  ],
  ['capacity', 'capacity: autoscaling simulation', async () => benchCapacity()],
] as const) {
  // BENCH_PARTS=queue,end-to-end (words of the part names, comma-separated) runs only those parts.
  if (
    process.env.BENCH_PARTS &&
    !process.env.BENCH_PARTS.split(',').some((word) => name.includes(word.trim()))
  )
    continue
  console.error(`\n${name}:`)
  const partStarted = Date.now()
  parts.push(...[await part()].flat())
  partMinutes.push([short, (Date.now() - partStarted) / 60_000])
  loadAverages.push(loadAverage())
}

const minutes = (Date.now() - started.getTime()) / 60_000
const report = [
  `Pixelflow bench, ${started.toISOString().slice(0, 10)}, ${machine.cores} cores (${machine.cpu}), node ${machine.node}, sharp ${machine.sharp} / libvips ${machine.libvips}, commit ${machine.commit}`,
  `Load average (1 min) before and after each part: ${loadAverages.map((l) => l.toFixed(1)).join(' → ')}; took ${minutes.toFixed(1)} min`,
  `Minutes per part: ${partMinutes.map(([short, m]) => `${short} ${m.toFixed(1)}`).join(' · ')}`,
  markdownTable(parts),
  `Every ratio beside its target (bench/harness/targets.ts):\n\n${ratioTable(parts.flatMap((p) => p.ratios ?? []))}`,
  // Parts with more columns than the summary has also print their own table.
  ...partTables(parts),
  'Memory over time: ![RSS of the process tree](memory/rss.svg)',
].join('\n\n')
console.log(`\n${report}`)
writeResults('', started, { started, machine, folder, loadAverages, partMinutes, parts })
// Only a run of every part replaces the report at the top of RESULTS.md.
if (!process.env.BENCH_PARTS) writeLatestReport(report)
