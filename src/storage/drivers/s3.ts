import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { assertObjectKey } from '../object-key.js'
import type { ByteRange, ObjectStore } from '../object-store.js'
import { storageUnavailable } from '../unavailable.js'

export interface S3StoreOptions {
  bucket: string
  region: string
  /** An S3-compatible endpoint (MinIO, R2, a test server…); AWS when unset. */
  endpoint?: string
  /** `http://host/bucket/key` instead of `http://bucket.host/key`: most S3-compatible stores need it. */
  forcePathStyle?: boolean
  /** Both or neither; without them the SDK's default chain applies (env, profile, instance role…). */
  accessKeyId?: string
  secretAccessKey?: string
  /** Every key is stored under this prefix ('a/b' → 'a/b/<key>'); `list` answers keys relative to it. */
  prefix?: string
  /** Bodies larger than this go up as multipart uploads of parts this size (default 8 MiB, at least 5 MiB). */
  partSizeBytes?: number
  /** Parts of one upload in flight at once (default 2). An upload buffers up to (queueSize + 1) parts. */
  queueSize?: number
  /** How long a TCP connection may take (default 5 s). */
  connectionTimeoutMs?: number
  /**
   * How long a request may take to its response headers, body upload included, and how long a
   * socket may then sit idle while a body streams (default 60 s). Bounds check() for /readyz.
   */
  requestTimeoutMs?: number
  /** Attempts per request, the first included (SDK default 3). */
  maxAttempts?: number
  /** Keys per ListObjectsV2 page (default and S3 maximum 1000); lower only to test pagination. */
  listPageSize?: number
  /**
   * A put whose source stream failed rethrows that stream's error; if cleaning up the
   * multipart upload also failed, that second failure is reported here (default: ignored).
   * A bucket lifecycle rule "AbortIncompleteMultipartUpload" is the backstop for such parts.
   */
  onCleanupError?: (error: unknown) => void
}

const MiB = 1024 * 1024

/**
 * Objects in an S3 bucket (or any S3-compatible store), under an optional key prefix. This
 * factory imports the AWS SDK, so a deployment that never creates an S3 store never loads it.
 * A put is durable once S3 has acknowledged the PutObject or CompleteMultipartUpload; a failed
 * put aborts its multipart upload, so no object (and, cleanup permitting, no part) is left.
 */
export async function createS3Store(options: S3StoreOptions): Promise<ObjectStore> {
  const [sdk, { Upload }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/lib-storage'),
  ])
  const {
    bucket,
    partSizeBytes = 8 * MiB,
    queueSize = 2,
    listPageSize = 1000,
    onCleanupError = () => {},
  } = options
  if (partSizeBytes < 5 * MiB)
    throw new Error('S3 store: partSizeBytes must be at least 5 MiB, the S3 minimum')
  const client = createClient(sdk.S3Client, options)
  const root = normalisePrefix(options.prefix ?? '')
  const s3Key = (key: string) => root + assertObjectKey(key)

  return {
    driver: 's3',
    async put(key, body) {
      const Key = s3Key(key)
      const upload = (Body: Readable | Buffer) =>
        new Upload({
          client,
          params: { Bucket: bucket, Key, Body },
          partSize: partSizeBytes,
          queueSize,
        }).done()
      if (Buffer.isBuffer(body)) {
        await upload(body).catch((error: unknown) => {
          throw storeError('put', Key, error)
        })
        return { key, size: body.length }
      }
      const source = countingSource(body)
      try {
        await upload(source.stream)
      } catch (error) {
        // Released as local disk's pipeline() releases it: the caller's stream is not read further.
        source.stream.destroy()
        body.destroy()
        // The source's own failure (a disconnect, a refused upload) is what the caller must see,
        // as with local disk; a failure after it (aborting the multipart upload) is secondary.
        if (source.error === undefined) throw storeError('put', Key, error)
        if (error !== source.error)
          onCleanupError(storeError('clean-up of the failed put', Key, error))
        throw source.error
      }
      return { key, size: source.bytes() }
    },
    async get(key, range) {
      const Key = s3Key(key)
      try {
        const { Body } = await client.send(
          new sdk.GetObjectCommand({ Bucket: bucket, Key, Range: rangeHeader(range) }),
        )
        if (Body === undefined) return Readable.from([])
        if (!(Body instanceof Readable))
          throw new Error('GetObject answered a body that is not a Node stream')
        return Body
      } catch (error) {
        if (errorName(error) === 'NoSuchKey') return null
        throw storeError('get', Key, error)
      }
    },
    async head(key) {
      const Key = s3Key(key)
      try {
        const { ContentLength } = await client.send(
          new sdk.HeadObjectCommand({ Bucket: bucket, Key }),
        )
        return { key, size: ContentLength ?? 0 }
      } catch (error) {
        // A HEAD answer has no body, so a 404 cannot tell a missing key from a missing bucket;
        // check() (HeadBucket) is what reports the latter.
        if (isNotFound(error)) return null
        throw storeError('head', Key, error)
      }
    },
    async delete(key) {
      const Key = s3Key(key)
      try {
        // S3 answers 204 for a missing key too; some compatible stores answer NoSuchKey.
        await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key }))
      } catch (error) {
        if (errorName(error) !== 'NoSuchKey') throw storeError('delete', Key, error)
      }
    },
    async list(prefix) {
      // As on local disk, 'img/1' and 'img/1/' both mean the folder img/1, never img/10.
      const trimmed = prefix.replace(/\/+$/, '')
      const Prefix = trimmed === '' ? root : `${s3Key(trimmed)}/`
      const keys: string[] = []
      let ContinuationToken: string | undefined
      try {
        do {
          const page = await client.send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket,
              Prefix,
              ContinuationToken,
              MaxKeys: listPageSize,
            }),
          )
          for (const object of page.Contents ?? []) {
            if (object.Key?.startsWith(root)) keys.push(object.Key.slice(root.length))
          }
          ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
        } while (ContinuationToken)
      } catch (error) {
        throw storeError('list', Prefix, error)
      }
      return keys.sort()
    },
    async *scan(prefix) {
      const trimmed = prefix.replace(/\/+$/, '')
      const Prefix = trimmed === '' ? root : `${s3Key(trimmed)}/`
      let ContinuationToken: string | undefined
      do {
        const page = await client
          .send(
            new sdk.ListObjectsV2Command({
              Bucket: bucket,
              Prefix,
              ContinuationToken,
              MaxKeys: listPageSize,
            }),
          )
          .catch((error: unknown) => {
            throw storeError('list', Prefix, error)
          })
        // ListObjectsV2 answers in key order (UTF-8 binary), page after page.
        for (const object of page.Contents ?? []) {
          if (!object.Key?.startsWith(root)) continue
          yield {
            key: object.Key.slice(root.length),
            size: object.Size ?? 0,
            modifiedAt: object.LastModified?.getTime() ?? 0,
          }
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (ContinuationToken)
    },
    async check() {
      try {
        await client.send(new sdk.HeadBucketCommand({ Bucket: bucket }))
      } catch (error) {
        throw storeError('check bucket', bucket, error)
      }
    },
  }
}

function createClient(S3: typeof S3Client, options: S3StoreOptions): S3Client {
  const {
    accessKeyId,
    secretAccessKey,
    connectionTimeoutMs = 5000,
    requestTimeoutMs = 60_000,
  } = options
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error('S3 store: set both accessKeyId and secretAccessKey, or neither')
  }
  return new S3({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey }
        : undefined,
    maxAttempts: options.maxAttempts,
    // NodeHttpHandler options. Without throwOnRequestTimeout a late answer only logs a warning;
    // socketTimeout also bounds a response body that stops streaming.
    requestHandler: {
      connectionTimeout: connectionTimeoutMs,
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: requestTimeoutMs,
    },
  })
}

/** The bytes of `body`, counted as Upload reads them; `error` is set if `body` itself failed. */
function countingSource(body: Readable) {
  const state = { bytes: 0, error: undefined as unknown }
  async function* chunks() {
    try {
      for await (const chunk of body) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
        state.bytes += bytes.length
        yield bytes
      }
    } catch (error) {
      state.error = error
      throw error
    }
  }
  return {
    stream: Readable.from(chunks(), { objectMode: false }),
    bytes: () => state.bytes,
    get error() {
      return state.error
    },
  }
}

/** '' or 'a/b/': the key prefix every object of this store lives under. */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? '' : `${assertObjectKey(trimmed)}/`
}

function rangeHeader(range: ByteRange | undefined): string | undefined {
  return range ? `bytes=${range.start}-${range.end}` : undefined
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined
}

function isNotFound(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
    ?.httpStatusCode
  return errorName(error) === 'NotFound' || errorName(error) === 'NoSuchKey' || status === 404
}

/** Any failure other than a missing key: an Error naming the operation, with the SDK's error as cause. */
/**
 * Any S3 failure but a missing key (unreachable endpoint, timeout, 5xx, throttling, a bucket gone
 * or credentials refused) is the store's, not the request's: STORAGE_UNAVAILABLE (503 with
 * Retry-After), with the SDK's error as cause. check() keeps the detailed message for /readyz's
 * log; the clean-up report too, since neither reaches a client.
 */
function storeError(operation: string, target: string, error: unknown): Error {
  if (operation === 'check bucket' || operation.startsWith('clean-up')) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return new Error(`S3 ${operation} ${JSON.stringify(target)} failed: ${detail}`, {
      cause: error,
    })
  }
  return storageUnavailable(operation, error)
}
