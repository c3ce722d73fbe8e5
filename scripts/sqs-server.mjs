#!/usr/bin/env node
// An SQS-compatible server for tests and CI: fauxqs, in memory, on 127.0.0.1 only.
//
//   node scripts/sqs-server.mjs [port] &      (or PIXELFLOW_TEST_SQS_PORT; default 4576)
//   PIXELFLOW_TEST_SQS_ENDPOINT=http://127.0.0.1:4576 npx vitest run test/integration/queue.sqs.test.ts
//
// It creates no queues: each test creates its own, under a unique name, and deletes them. It
// prints one "sqs-server ready" line and serves until SIGINT/SIGTERM. Any credentials are accepted.
// Queue URLs come back as http://sqs.<region>.localhost:<port>/000000000000/<name>: clients must set
// `endpoint` (the SDK then sends every request there and passes the URL only as a parameter).
import { buildApp } from 'fauxqs'

const port = Number(process.argv[2] ?? process.env.PIXELFLOW_TEST_SQS_PORT ?? 4576)
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`sqs-server: not a port: ${process.argv[2] ?? process.env.PIXELFLOW_TEST_SQS_PORT}`)
  process.exit(2)
}

// fauxqs's startFauxqs() listens on 0.0.0.0; buildApp() lets us bind to loopback only.
const app = buildApp({ logger: false })
try {
  await app.listen({ host: '127.0.0.1', port })
} catch (error) {
  console.error(
    `sqs-server: cannot listen on 127.0.0.1:${port}: ${error instanceof Error ? error.message : error}`,
  )
  process.exit(1)
}

console.log(`sqs-server ready: http://127.0.0.1:${port} (fauxqs, in memory)`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
