/**
 * Part 2: upload acceptance under load. autocannon (32 connections, a ~1 MB JPEG body) against
 * POST /v1/images on a listening Pixelflow with its workers off, next to a bare Fastify route
 * that only streams the body to a file with fsync. Sides alternate over BENCH_UPLOAD_ROUNDS
 * rounds (default 2) of BENCH_UPLOAD_SECONDS (default 10) each, after a short unrecorded warm-up.
 *
 *   npx tsx bench/upload/run.ts [photo folder]
 */
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import sharp from 'sharp'
import { isMain, killAll, nextMessage } from '../harness/child.js'
import { listPhotos, mimeOf, photoFolder } from '../harness/photos.js'
import { startPlain } from '../harness/plain.js'
import type { PartResult } from '../harness/report.js'
import { runAlone } from '../harness/standalone.js'
import { inRoundOrder, median } from '../harness/stats.js'
import type { ServerReady, ServerStopped } from './server.js'

type Server = 'pixelflow' | 'bare'
interface LoadRun {
  server: Server
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  /** Anything but a 202, plus socket errors and timeouts: must be 0 for the run to count. */
  failures: number
  statusCodes: unknown
  /** Server CPU (warm-up included) per accepted upload: steadier than req/s on a shared machine. */
  cpuMsPerUpload: number
  /** Mark-compacts per 1,000 accepted uploads (warm-up included, like the CPU). */
  majorGcsPerThousand: number
  peakRssMb: number
}

const SERVERS: readonly Server[] = ['pixelflow', 'bare']
const LABELS: Record<Server, string> = {
  pixelflow: 'Pixelflow POST /v1/images (workers off)',
  bare: 'bare Fastify: stream to file + fsync',
}
const SERVER_FILE = fileURLToPath(new URL('./server.ts', import.meta.url))
const CONNECTIONS = 32
const WARM_UP_SECONDS = 2
const BODY_BYTES = 1024 * 1024

/**
 * A real JPEG of about 1 MB, re-encoded from the first corpus photo. JPEG size grows roughly with
 * the pixel count, so scaling the width by √(target / size) converges in a few encodes.
 */
export async function makeUploadBody(folder: string): Promise<Buffer> {
  const photos = listPhotos(folder)
  const source = photos.find((path) => mimeOf(path) === 'image/jpeg') ?? photos[0]!
  let width = 1600
  let body = Buffer.alloc(0)
  for (let i = 0; i < 8 && Math.abs(body.length / BODY_BYTES - 1) > 0.03; i++) {
    if (body.length > 0) width = Math.round(width * Math.sqrt(BODY_BYTES / body.length))
    body = await sharp(source, { autoOrient: true })
      .resize({ width })
      .jpeg({ quality: 90 })
      .toBuffer()
  }
  return body
}

/**
 * The photo with a counter in a JPEG comment segment right after the start-of-image marker: a
 * valid JPEG with bytes of its own. With one body for every request, all uploads but the first
 * were content duplicates, which Pixelflow answers with the earlier image (and deletes the bytes
 * it just stored): not the path a real upload takes.
 */
export function numbered(body: Buffer, count: number): Buffer {
  const comment = Buffer.alloc(12)
  comment.writeUInt16BE(0xfffe, 0) // COM
  comment.writeUInt16BE(10, 2) // its length, counting these two bytes
  comment.writeBigUInt64BE(BigInt(count), 4)
  return Buffer.concat([body.subarray(0, 2), comment, body.subarray(2)])
}

/** Each request's body numbered, from 1. */
export function distinctBodies(body: Buffer): (request: autocannon.Request) => autocannon.Request {
  let count = 0
  return (request) => {
    request.body = numbered(body, ++count)
    return request
  }
}

async function loadOnce(server: Server, body: Buffer, seconds: number): Promise<LoadRun> {
  const child = await startPlain(SERVER_FILE, { BENCH_SERVER: server })
  try {
    const ready = await nextMessage<ServerReady>(child, 30_000)
    const options = {
      url: ready.url,
      method: 'POST' as const,
      headers: { ...ready.headers, 'content-type': 'image/jpeg' },
      requests: [{ body, setupRequest: distinctBodies(body) }],
      connections: CONNECTIONS,
    }
    const warmUp = await autocannon({ ...options, duration: WARM_UP_SECONDS })
    const result = await autocannon({ ...options, duration: seconds })
    child.send('stop')
    const { peakRssMb, cpuSeconds, majorGcs } = await nextMessage<ServerStopped>(child, 60_000)
    const accepted = warmUp['2xx'] + result['2xx']
    return {
      server,
      requestsPerSecond: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      failures: result.non2xx + result.errors + result.timeouts,
      statusCodes: result.statusCodeStats,
      cpuMsPerUpload: (cpuSeconds * 1000) / accepted,
      majorGcsPerThousand: (majorGcs * 1000) / accepted,
      peakRssMb,
    }
  } catch (error) {
    killAll([child]) // a failed run must not leave its server listening
    throw error
  }
}

export async function benchUploads(
  folder: string,
  rounds = Number(process.env.BENCH_UPLOAD_ROUNDS ?? 2),
  seconds = Number(process.env.BENCH_UPLOAD_SECONDS ?? 10),
): Promise<PartResult> {
  const body = await makeUploadBody(folder)
  const runs: LoadRun[] = []
  for (let round = 0; round < Math.max(1, rounds); round++) {
    for (const server of inRoundOrder(SERVERS, round)) {
      const run = await loadOnce(server, body, seconds)
      runs.push(run)
      console.error(
        `  round ${round + 1} ${server}: ${run.requestsPerSecond.toFixed(1)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ` +
          `CPU ${run.cpuMsPerUpload.toFixed(1)} ms/upload, ${run.majorGcsPerThousand.toFixed(0)} major GCs per 1000, failures ${run.failures}, peak RSS ${Math.round(run.peakRssMb)} MB`,
      )
      if (run.failures > 0)
        throw new Error(
          `${server}: ${run.failures} requests failed; answers: ${JSON.stringify(run.statusCodes)}`,
        )
    }
  }

  const of = (server: Server) => runs.filter((r) => r.server === server)
  const mid = (server: Server, pick: (r: LoadRun) => number) => median(of(server).map(pick))
  const ratio =
    mid('pixelflow', (r) => r.requestsPerSecond) / mid('bare', (r) => r.requestsPerSecond)
  const p99Ratio = mid('pixelflow', (r) => r.p99Ms) / mid('bare', (r) => r.p99Ms)
  return {
    title: `Upload acceptance: ${(body.length / 1024 / 1024).toFixed(2)} MB JPEG, ${CONNECTIONS} connections, ${seconds} s × ${of('bare').length} runs per side`,
    rows: [
      ...SERVERS.map((server) => ({
        side: LABELS[server],
        figure:
          `${mid(server, (r) => r.requestsPerSecond).toFixed(1)} req/s, p50 ${mid(server, (r) => r.p50Ms)} ms, ` +
          `p99 ${mid(server, (r) => r.p99Ms)} ms (server CPU ${mid(server, (r) => r.cpuMsPerUpload).toFixed(1)} ms/upload; ` +
          `${mid(server, (r) => r.majorGcsPerThousand).toFixed(0)} major GCs per 1000 uploads)`,
        peakRssMb: Math.max(...of(server).map((r) => r.peakRssMb)),
      })),
      { side: 'ratio Pixelflow / bare (req/s)', figure: ratio.toFixed(2) },
      { side: 'ratio Pixelflow / bare (p99)', figure: p99Ratio.toFixed(2) },
    ],
    runs,
    ratios: [
      { id: 'upload-rps', value: ratio },
      { id: 'upload-p99', value: p99Ratio },
    ],
  }
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  const heading = `Upload acceptance, body made from ${folder}`
  await runAlone('upload', heading, () => benchUploads(folder), { folder })
}
