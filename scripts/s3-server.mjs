#!/usr/bin/env node
// An S3-compatible server for tests and CI: fauxqs, in memory, path-style, on 127.0.0.1 only.
//
//   node scripts/s3-server.mjs [port] &      (or PIXELFLOW_TEST_S3_PORT; default 4569)
//   PIXELFLOW_TEST_S3_URL=http://127.0.0.1:4569 npx vitest run test/integration/storage.s3.test.ts
//
// It creates the test bucket (PIXELFLOW_TEST_S3_BUCKET, default pixelflow-test), prints one
// "s3-server ready" line, and serves until SIGINT/SIGTERM. Any credentials are accepted.
// fauxqs over s3rver: s3rver 3.7.1 ignores `Range: bytes=0-0`, fails ListObjectsV2 pages
// (500), and has no AbortMultipartUpload; neither lists multipart uploads.
import { buildApp } from 'fauxqs'

const port = Number(process.argv[2] ?? process.env.PIXELFLOW_TEST_S3_PORT ?? 4569)
const bucket = process.env.PIXELFLOW_TEST_S3_BUCKET ?? 'pixelflow-test'
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`s3-server: not a port: ${process.argv[2] ?? process.env.PIXELFLOW_TEST_S3_PORT}`)
  process.exit(2)
}

// fauxqs's startFauxqs() listens on 0.0.0.0; buildApp() lets us bind to loopback only.
const app = buildApp({ logger: false })
await app.listen({ host: '127.0.0.1', port })
const url = `http://127.0.0.1:${port}`

// CreateBucket, path-style (fauxqs checks no signature); idempotent.
const created = await fetch(`${url}/${bucket}`, { method: 'PUT' })
if (!created.ok) {
  console.error(
    `s3-server: creating bucket ${bucket} failed: ${created.status} ${await created.text()}`,
  )
  await app.close()
  process.exit(1)
}

console.log(`s3-server ready: ${url} bucket=${bucket} (fauxqs, in memory)`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
