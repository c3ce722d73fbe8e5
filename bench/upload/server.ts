/**
 * One upload server for the load bench, in its own process (forked by upload/run.ts) so the load
 * generator does not share its heap and its peak RSS is its own. BENCH_SERVER is:
 *   pixelflow  the real service on 127.0.0.1, workers off: only acceptance is measured
 *              (auth, inspect + hash, stream to the store with fsync, shard commit, outbox relay);
 *   bare       a bare Fastify route that streams the body to a file with fsync and answers 202.
 * It sends the parent { url, headers } once listening, then on "stop" its peak RSS, the CPU it
 * used since listening and the major (mark-compact) collections it made meanwhile, and exits.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { createPixelflow } from '../../src/start/pixelflow.js'
import { failToParent } from '../harness/child.js'
import { benchConfig } from '../harness/config.js'
import { cpuSecondsOf, peakRssMb } from '../harness/measure.js'

export interface ServerReady {
  url: string
  headers: Record<string, string>
}

export interface ServerStopped {
  peakRssMb: number
  cpuSeconds: number
  /**
   * Mark-compacts since listening. An upload's objects that outlive two scavenges are promoted,
   * and marking the old space again and again was a fifth of the server's CPU (RESULTS.md,
   * 2026-12-06 night); this count follows that cost without depending on the machine's speed.
   */
  majorGcs: number
}

interface Server extends ServerReady {
  close(): Promise<void>
}

const HOST = '127.0.0.1'

async function startPixelflow(dataDir: string): Promise<Server> {
  const pixelflow = await createPixelflow(benchConfig(dataDir), pino({ level: 'silent' }))
  const { key } = await pixelflow.deps.apiKeys.create('bench-owner')
  const url = await pixelflow.app.listen({ host: HOST, port: 0 })
  return {
    url: `${url}/v1/images`,
    headers: { authorization: `Bearer ${key}` },
    close: () => pixelflow.close(),
  }
}

async function startBare(dataDir: string): Promise<Server> {
  const app: FastifyInstance = Fastify({ logger: false })
  // Like ours: the body arrives as a stream and is never buffered whole.
  app.addContentTypeParser('image/jpeg', (_request, payload, done) => done(null, payload))
  app.post('/upload', async (request, reply) => {
    const id = randomUUID()
    // flush: fsync before close, the same durability call our local-disk store makes.
    await pipeline(
      request.body as Readable,
      createWriteStream(join(dataDir, id), { flags: 'wx', flush: true }),
    )
    return reply.code(202).send({ id, status: 'queued' })
  })
  const url = await app.listen({ host: HOST, port: 0 })
  return { url: `${url}/upload`, headers: {}, close: () => app.close() }
}

function countMajorGcs(): { stop(): number } {
  let count = 0
  const observer = new PerformanceObserver((list) => {
    // A gc entry's detail says which collector ran (Node's typings leave it unknown).
    for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[])
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) count++
  })
  observer.observe({ entryTypes: ['gc'] })
  return {
    stop() {
      observer.disconnect()
      return count
    },
  }
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-upload-bench-'))
  const server =
    process.env.BENCH_SERVER === 'pixelflow'
      ? await startPixelflow(dataDir)
      : await startBare(dataDir)
  const cpu = process.cpuUsage()
  const majorGcs = countMajorGcs()
  process.once('message', async () => {
    const stopped: ServerStopped = {
      peakRssMb: peakRssMb(),
      cpuSeconds: cpuSecondsOf(process.cpuUsage(cpu)),
      majorGcs: majorGcs.stop(),
    }
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
    process.send!(stopped, () => process.exit(0))
  })
  process.send!({ url: server.url, headers: server.headers } satisfies ServerReady)
}

main().catch(failToParent)
