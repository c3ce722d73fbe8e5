/**
 * The raw-sharp side of the corpus part, in its own process (forked by corpus/run.ts): the work a
 * worker does for each photo (bench/worker/baseline.ts `equalWork`: decode once, placeholder,
 * dominant colour, every output written and fsynced), timed
 *   single  for BENCH_SINGLE alone, BENCH_SINGLE_TIMES times one after another (one untimed first);
 *   corpus  for every photo of BENCH_FOLDER in BENCH_CONCURRENCY lanes, as the service's job slots.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { answerParent } from '../harness/child.js'
import { listPhotos } from '../harness/photos.js'
import { equalWork, timeBaseline, warmUpSharp } from '../worker/baseline.js'

export interface RawRun {
  singleMs: number[]
  corpusSeconds: number
  corpusCpuSeconds: number
}

answerParent(async (): Promise<RawRun> => {
  const outDir = await mkdtemp(join(tmpdir(), 'pixelflow-corpus-raw-'))
  try {
    const single = process.env.BENCH_SINGLE!
    await warmUpSharp()
    await equalWork(single, outDir)
    const singleMs: number[] = []
    for (let i = 0; i < Number(process.env.BENCH_SINGLE_TIMES); i++) {
      const started = performance.now()
      await equalWork(single, outDir)
      singleMs.push(performance.now() - started)
    }
    const corpus = await timeBaseline(
      listPhotos(process.env.BENCH_FOLDER!),
      Number(process.env.BENCH_CONCURRENCY),
      (path) => equalWork(path, outDir),
    )
    return { singleMs, corpusSeconds: corpus.seconds, corpusCpuSeconds: corpus.cpuSeconds }
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
})
