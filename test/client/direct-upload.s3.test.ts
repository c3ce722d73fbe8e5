import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type ClientServer, progressLog, rejection, startClientServer } from './server.js'

const S3_URL = process.env.PIXELFLOW_TEST_S3_URL ?? ''
const BUCKET = process.env.PIXELFLOW_TEST_S3_BUCKET ?? 'pixelflow-test'
if (!S3_URL)
  console.info(
    'direct-upload.s3.test.ts skipped: start `node scripts/s3-server.mjs 4569 &` and set PIXELFLOW_TEST_S3_URL=http://127.0.0.1:4569 to run it',
  )

describe.skipIf(!S3_URL)('client: direct-to-S3 uploads (S3 emulator)', () => {
  let s: ClientServer
  beforeAll(async () => {
    s = await startClientServer({
      PIXELFLOW_STORAGE_DRIVER: 's3',
      PIXELFLOW_S3_BUCKET: BUCKET,
      PIXELFLOW_S3_ENDPOINT: S3_URL,
      PIXELFLOW_S3_PREFIX: `pixelflow-test/client-${randomUUID()}`,
      PIXELFLOW_S3_ACCESS_KEY_ID: process.env.PIXELFLOW_TEST_S3_ACCESS_KEY_ID ?? 'test',
      PIXELFLOW_S3_SECRET_ACCESS_KEY: process.env.PIXELFLOW_TEST_S3_SECRET_ACCESS_KEY ?? 'test',
    })
  })
  afterAll(async () => s?.close())

  it('uploads.send: announces, PUTs to the presigned URL with progress, completes', async () => {
    const client = s.client()
    const bytes = await makeJpeg(640, 480)
    const progress = progressLog()
    const image = await client.uploads.send(bytes, {
      filename: 'direct.jpg',
      onProgress: progress.onProgress,
    })
    expect(image).toMatchObject({ bytes: bytes.length, format: 'jpeg' })
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    expect((await client.waitUntilReady(image.id)).status).toBe('ready')
  })

  it('an object that is not an image is refused at complete, as a typed error', async () => {
    const client = s.client()
    const text = Buffer.from('not a picture at all '.repeat(40))
    const error = await rejection(client.uploads.send(text, { contentType: 'image/jpeg' }))
    // complete checks the object's magic bytes, whatever the announcement said.
    expect(error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 })
  })
})
