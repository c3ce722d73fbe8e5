import { mkdtemp, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { pino } from 'pino'
import { createPixelflow } from '../src/start/pixelflow.js'
import { benchConfig } from './harness/config.js'
import { makeUploadBody } from './upload/run.js'

const body = await makeUploadBody('/work/shared/corpus/photos')
const dataDir = await mkdtemp(join(tmpdir(), 'prof-'))
const pixelflow = await createPixelflow(benchConfig(dataDir), pino({ level: 'silent' }))
const { key } = await pixelflow.deps.apiKeys.create('bench-owner')
const url = await pixelflow.app.listen({ host: '127.0.0.1', port: 0 })
let n = 0
const bodies = Array.from({ length: 64 }, (_, i) => {
  const b = Buffer.from(body)
  b.writeUInt32BE(i, b.length - 8)
  return b
})
const run = (seconds: number) =>
  autocannon({
    url: `${url}/v1/images`,
    method: 'POST',
    connections: 32,
    duration: seconds,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
    requests: [
      {
        setupRequest: (r: any) => ({
          ...r,
          body: (() => {
            const b = Buffer.from(body)
            b.writeUInt32BE(n++, 100)
            return b
          })(),
        }),
      },
    ],
  })
await run(2)
const session = new Session()
session.connect()
await session.post('Profiler.enable')
await session.post('Profiler.start')
const cpu = process.cpuUsage()
const result = await run(Number(process.env.SECS ?? 8))
const used = process.cpuUsage(cpu)
const { profile } = await session.post('Profiler.stop')
await writeFile('/tmp/prof/upload.cpuprofile', JSON.stringify(profile))
console.log(
  'req/s',
  result.requests.average,
  'p99',
  result.latency.p99,
  'non2xx',
  result.non2xx,
  'cpu ms/upload (incl autocannon)',
  ((used.user + used.system) / 1000 / result.requests.total).toFixed(2),
)
await pixelflow.close()
process.exit(0)
