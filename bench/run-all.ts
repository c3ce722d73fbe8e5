/**
 * `npm run bench [-- photo folder]`: every part in sequence, one summary table (Markdown, ready
 * for RESULTS.md) on stdout, progress on stderr, and the raw runs in bench/results/<time>.json.
 * Each side of each part runs in its own child process, so its timing and peak RSS are its own.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { benchE2e } from './e2e-latency.js'
import { benchGateway } from './gateway.js'
import { benchMetadataShards } from './metadata-shards.js'
import { benchQueues } from './queue-throughput.js'
import { markdownTable, type PartResult, photoFolder } from './support.js'
import { benchUploads } from './upload-load.js'
import { benchWorkers } from './worker-throughput.js'

const folder = photoFolder()
const machine = {
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  sharp: sharp.versions.sharp,
  libvips: sharp.versions.vips,
  commit: gitCommit(),
}
const started = new Date()
console.error(
  `Pixelflow bench, ${started.toISOString()}, ${machine.cores} cores (${machine.cpu}), photos from ${folder}`,
)

const parts: PartResult[] = []
const loadAverages: number[] = [loadavg()[0]!]
for (const [name, part] of [
  ['worker throughput', () => benchWorkers(folder)],
  ['upload acceptance', () => benchUploads(folder)],
  ['gateway: metadata reads, auth and rate limiting', () => benchGateway()],
  ['queue throughput (needs Redis and RabbitMQ)', () => benchQueues()],
  ['end-to-end latency, api + worker processes', () => benchE2e(folder)],
  [
    'shards: sharded metadata on PostgreSQL, ops for 1, 2, 4, 8 shards and a 4 → 5 rebalance',
    () => benchMetadataShards(),
  ],
] as const) {
  // BENCH_PARTS=queue,end-to-end (words of the part names, comma-separated) runs only those parts.
  if (
    process.env.BENCH_PARTS &&
    !process.env.BENCH_PARTS.split(',').some((word) => name.includes(word.trim()))
  )
    continue
  console.error(`\n${name}:`)
  parts.push(...[await part()].flat())
  loadAverages.push(loadavg()[0]!)
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
for (const part of parts)
  if ('table' in part) console.log(`\n${part.title}\n\n${String(part.table)}`)

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(resultsDir, { recursive: true })
const file = `${resultsDir}${started.toISOString().replace(/[:.]/g, '-')}.json`
writeFileSync(file, JSON.stringify({ started, machine, folder, loadAverages, parts }, null, 2))
console.error(`\nRaw runs written to ${file}`)

/** The commit measured, marked dirty when the tree has changes: figures belong to a version. */
function gitCommit(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return 'unknown'
  }
}
