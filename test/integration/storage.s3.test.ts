import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createS3Store, type S3StoreOptions } from '../../src/storage/drivers/s3.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { readAll } from '../../src/storage/read-all.js'
import { describeObjectStore, failingStream } from '../contracts/object-store.contract.js'
import { freePort } from '../fixtures/serve-process.js'

const S3_URL = process.env.PIXELFLOW_TEST_S3_URL ?? ''
const BUCKET = process.env.PIXELFLOW_TEST_S3_BUCKET ?? 'pixelflow-test'
const REGION = process.env.PIXELFLOW_TEST_S3_REGION ?? 'us-east-1'
/** scripts/s3-server.mjs (fauxqs) takes any credentials; these let the suite run against MinIO or S3. */
const CREDENTIALS = {
  accessKeyId: process.env.PIXELFLOW_TEST_S3_ACCESS_KEY_ID ?? 'test',
  secretAccessKey: process.env.PIXELFLOW_TEST_S3_SECRET_ACCESS_KEY ?? 'test',
}
if (!S3_URL) {
  console.info(
    'storage.s3.test.ts skipped: start `node scripts/s3-server.mjs &` and set PIXELFLOW_TEST_S3_URL=http://127.0.0.1:4569 to run it',
  )
}

const MiB = 1024 * 1024
/** Every store of this run lives under its own prefix, and every store under its own sub-prefix. */
const RUN = `pixelflow-test/${randomUUID()}`
let stores = 0

function s3Store(overrides: Partial<S3StoreOptions> = {}): Promise<ObjectStore> {
  return createS3Store({
    bucket: BUCKET,
    region: REGION,
    endpoint: S3_URL,
    forcePathStyle: true,
    ...CREDENTIALS,
    prefix: `${RUN}/${stores++}`,
    ...overrides,
  })
}

/** The raw SDK, to look at the bucket behind the driver's back. */
function rawClient(): S3Client {
  return new S3Client({
    region: REGION,
    endpoint: S3_URL,
    forcePathStyle: true,
    credentials: CREDENTIALS,
  })
}

/** `bytes` as a stream of 64 KiB chunks, like a request body. */
function chunkedStream(bytes: Buffer, chunkSize = 64 * 1024): Readable {
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length; at += chunkSize)
    chunks.push(bytes.subarray(at, at + chunkSize))
  return Readable.from(chunks)
}

async function getBytes(store: ObjectStore, key: string, range?: { start: number; end: number }) {
  const stream = await store.get(key, range)
  return stream && readAll(stream)
}

/**
 * A pass-through HTTP proxy in front of the S3 server that records the S3 operation of each
 * request: it shows which calls the driver made (PutObject or multipart, AbortMultipartUpload)
 * whatever the server supports. Headers pass unchanged, so signatures still hold. The
 * operation named `refuse` is answered 405 instead, as s3rver answers AbortMultipartUpload.
 */
async function recordingProxy(
  refuse?: string,
): Promise<{ url: string; calls: string[]; close: () => Promise<void> }> {
  const calls: string[] = []
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', S3_URL)
    const operation = operationOf(req.method ?? '', target.searchParams)
    calls.push(operation)
    if (operation === refuse) {
      req.resume()
      res.writeHead(405, { 'content-type': 'application/xml' })
      res.end(
        '<Error><Code>MethodNotAllowed</Code><Message>Refused by the test proxy</Message></Error>',
      )
      return
    }
    const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', (error) => res.destroy(error))
    req.pipe(upstream)
  })
  const url = await listen(server)
  return { url, calls, close: () => closeServer(server) }
}

function operationOf(method: string, query: URLSearchParams): string {
  if (query.has('uploads')) return 'CreateMultipartUpload'
  if (query.has('uploadId')) {
    return (
      (
        {
          PUT: 'UploadPart',
          POST: 'CompleteMultipartUpload',
          DELETE: 'AbortMultipartUpload',
        } as Record<string, string>
      )[method] ?? method
    )
  }
  return query.get('x-id') ?? `${method} ${[...query.keys()].join('&')}`
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}

/**
 * Whether the server lists in-progress multipart uploads: it must show one we open. (fauxqs
 * answers ?uploads with an object listing, which the SDK reads as "no uploads", so an empty
 * answer alone proves nothing.)
 */
async function listsMultipartUploads(client: S3Client): Promise<boolean> {
  const Key = `${RUN}/probe-${randomUUID()}`
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }))
  try {
    const listed = await client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: Key }),
    )
    return (listed.Uploads ?? []).some((upload) => upload.UploadId === UploadId)
  } catch {
    return false
  } finally {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId }))
      .catch(() => {})
  }
}

describe.skipIf(!S3_URL)('S3 object store', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()))
  })
  afterAll(async () => {
    const everything = await s3Store({ prefix: RUN })
    for (const key of await everything.list('')) await everything.delete(key)
  })

  describeObjectStore('s3', () => s3Store())

  it('lists every key across ListObjectsV2 pages, relative to its prefix', async () => {
    const store = await s3Store({ listPageSize: 2 })
    const keys = ['p/1', 'p/2', 'p/3', 'p/4', 'p/5/x', 'q']
    for (const key of keys) await store.put(key, Buffer.from(key))
    expect(await store.list('p/')).toEqual(keys.slice(0, 5))
    expect(await store.list('')).toEqual(keys)
    const scanned = []
    for await (const entry of store.scan('p/')) scanned.push([entry.key, entry.size])
    expect(scanned).toEqual(keys.slice(0, 5).map((key) => [key, key.length]))
  })

  it('stores keys under its prefix in the bucket, and only there', async () => {
    const prefix = `${RUN}/prefixed-${randomUUID()}`
    const store = await s3Store({ prefix: `/${prefix}/` })
    await store.put('a/b', Buffer.from('x'))
    const listed = await rawClient().send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${RUN}/prefixed-` }),
    )
    expect(listed.Contents?.map((object) => object.Key)).toEqual([`${prefix}/a/b`])
  })

  it('sends a small body as one PutObject', async () => {
    const proxy = await recordingProxy()
    cleanups.push(proxy.close)
    const store = await s3Store({ endpoint: proxy.url })
    await store.put('small', chunkedStream(randomBytes(300_000)))
    expect(proxy.calls).toEqual(['PutObject'])
  })

  it('uploads a 12 MB stream in 5 MiB parts, and reads it back byte for byte and by exact ranges', async () => {
    const proxy = await recordingProxy()
    cleanups.push(proxy.close)
    const store = await s3Store({ endpoint: proxy.url, partSizeBytes: 5 * MiB })
    const bytes = randomBytes(12_000_000)

    expect(await store.put('big/original', chunkedStream(bytes))).toEqual({
      key: 'big/original',
      size: bytes.length,
    })
    expect(proxy.calls).toEqual([
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'CompleteMultipartUpload',
    ])
    expect(await store.head('big/original')).toEqual({ key: 'big/original', size: bytes.length })
    expect((await getBytes(store, 'big/original'))?.equals(bytes)).toBe(true)
    const boundaries = [5 * MiB, 10 * MiB]
    const ranges = [
      [0, 0],
      [0, 5 * MiB - 1],
      [bytes.length - 1, bytes.length - 1],
      [3 * MiB, 11 * MiB],
    ]
    for (const boundary of boundaries)
      ranges.push([boundary - 1, boundary], [boundary - 100, boundary + 99])
    for (const [start = 0, end = 0] of ranges) {
      const got = await getBytes(store, 'big/original', { start, end })
      expect(got?.equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`).toBe(true)
    }
  })

  it('aborts the multipart upload when the source fails after 6 MB, leaving no object and no upload', async () => {
    const proxy = await recordingProxy()
    cleanups.push(proxy.close)
    const cleanupErrors: unknown[] = []
    const store = await s3Store({
      endpoint: proxy.url,
      partSizeBytes: 5 * MiB,
      onCleanupError: (e) => cleanupErrors.push(e),
    })
    const chunks = Array.from({ length: 6 }, () => randomBytes(1_000_000))

    await expect(store.put('big/broken', failingStream(chunks))).rejects.toThrow('client went away')
    // Part 1 went up before the failure, so there was a multipart upload to abort, and it was.
    expect(proxy.calls).toEqual(['CreateMultipartUpload', 'UploadPart', 'AbortMultipartUpload'])
    expect(cleanupErrors).toEqual([])
    expect(await store.head('big/broken')).toBeNull()
    expect(await store.get('big/broken')).toBeNull()
    expect(await store.list('big/')).toEqual([])

    const client = rawClient()
    if (!(await listsMultipartUploads(client))) {
      console.info(
        'storage.s3.test.ts: this server does not list multipart uploads; checked the AbortMultipartUpload call only',
      )
      return
    }
    const listed = await client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: RUN }),
    )
    expect(listed.Uploads ?? []).toEqual([])
  })

  it('still rethrows the source error when aborting the multipart upload fails, and reports that failure', async () => {
    const proxy = await recordingProxy('AbortMultipartUpload')
    cleanups.push(proxy.close)
    const cleanupErrors: unknown[] = []
    const store = await s3Store({
      endpoint: proxy.url,
      partSizeBytes: 5 * MiB,
      onCleanupError: (e) => cleanupErrors.push(e),
    })
    const chunks = Array.from({ length: 6 }, () => randomBytes(1_000_000))

    await expect(store.put('big/unaborted', failingStream(chunks))).rejects.toThrow(
      'client went away',
    )
    expect(proxy.calls.at(-1)).toBe('AbortMultipartUpload')
    expect(cleanupErrors).toHaveLength(1)
    expect(cleanupErrors[0]).toMatchObject({
      message: expect.stringContaining('clean-up of the failed put'),
      cause: { name: 'MethodNotAllowed' },
    })
    expect(await store.head('big/unaborted')).toBeNull()
  })

  it('checks a reachable bucket, and refuses a missing one', async () => {
    await expect((await s3Store()).check()).resolves.toBeUndefined()
    const missing = await s3Store({ bucket: `pixelflow-missing-${randomUUID().slice(0, 8)}` })
    await expect(missing.check()).rejects.toThrow(
      /S3 check bucket "pixelflow-missing-[^"]+" failed/,
    )
  })

  it('keeps errors other than a missing key as errors, with the S3 error as cause', async () => {
    const missing = await s3Store({ bucket: `pixelflow-missing-${randomUUID().slice(0, 8)}` })
    const error = await missing.get('some/key').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).cause).toMatchObject({ name: 'NoSuchBucket' })
  })

  it('check() rejects for an endpoint where nothing listens, quickly', async () => {
    const store = await s3Store({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      maxAttempts: 2,
    })
    const started = performance.now()
    await expect(store.check()).rejects.toThrow(/ECONNREFUSED/)
    expect(performance.now() - started).toBeLessThan(3000)
  })

  it('check() rejects for an endpoint that accepts connections but never answers, within its timeouts', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer()
    silent.on('connection', (socket) => sockets.add(socket))
    const endpoint = await listen(silent)
    cleanups.push(() => closeServer(silent))
    const store = await s3Store({
      endpoint,
      requestTimeoutMs: 300,
      connectionTimeoutMs: 300,
      maxAttempts: 2,
    })

    const started = performance.now()
    await expect(store.check()).rejects.toThrow(/TimeoutError/)
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(300)
    expect(elapsed).toBeLessThan(3000)
    expect(sockets.size).toBeGreaterThan(0)
  })
})
