import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CloudFrontClient } from '@aws-sdk/client-cloudfront'
import type { Logger } from 'pino'
import { assertPurgePath, closedError, type Purger } from '../purger.js'

export interface CloudFrontPurgerOptions {
  distributionId: string
  /** Another endpoint (tests: moto_server); AWS when unset. */
  endpoint?: string
  /** Purges within this window share one CreateInvalidation (default 1000 ms). */
  batchMs?: number
  /** Both or neither; without them the SDK's default chain applies (env, profile, task role…). */
  accessKeyId?: string
  secretAccessKey?: string
  /** Attempts per invalidation, the first included (default 3), and the first pause between them. */
  retry?: { attempts?: number; baseMs?: number }
  logger?: Logger
}

/** CloudFront's limit of paths in one invalidation. */
export const MAX_PATHS_PER_INVALIDATION = 3000

/** Failures that another attempt can fix; any other 4xx (no such distribution, access denied…) cannot. */
const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TooManyInvalidationsInProgress',
  'RequestTimeout',
  'ServiceUnavailable',
])

interface Batch {
  paths: Set<string>
  timer: NodeJS.Timeout
  promise: Promise<void>
  resolve(): void
  reject(error: unknown): void
}

/**
 * CloudFront invalidations. Deleting an image purges several URLs, and deletions come in bursts
 * (an owner's erasure), while CloudFront charges per path and limits invalidations in progress:
 * so purges are gathered for `batchMs` into one CreateInvalidation (split at 3000 paths, the
 * per-request limit), and every `/i/<id>/…` path is sent as the one wildcard `/i/<id>/*`, which
 * counts as one path and also covers spellings with a query string. An invalidation removes every
 * cached version of a path whatever the headers, so a negotiated URL needs no per-token entry.
 * This factory imports the AWS SDK, so a deployment without CloudFront never loads it.
 */
export async function createCloudFrontPurger(options: CloudFrontPurgerOptions): Promise<Purger> {
  const sdk = await import('@aws-sdk/client-cloudfront')
  const { distributionId, batchMs = 1000, logger } = options
  const attempts = Math.max(1, options.retry?.attempts ?? 3)
  const baseMs = options.retry?.baseMs ?? 1000
  const client = createClient(sdk.CloudFrontClient, options)
  let open: Batch | undefined
  const sending = new Set<Promise<void>>()
  let closed = false

  function openBatch(): Batch {
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const promise = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const batch: Batch = {
      paths: new Set(),
      promise,
      resolve,
      reject,
      timer: setTimeout(() => flush(batch), batchMs),
    }
    return batch
  }

  function flush(batch: Batch): void {
    clearTimeout(batch.timer)
    if (open === batch) open = undefined
    const sent = send([...batch.paths]).then(batch.resolve, (error: unknown) => {
      logger?.error({ err: error, paths: batch.paths.size }, 'CloudFront invalidation failed')
      batch.reject(error)
    })
    sending.add(sent)
    void sent.finally(() => sending.delete(sent))
  }

  async function send(paths: string[]): Promise<void> {
    // One after the other: CloudFront limits the invalidations in progress per distribution.
    for (let start = 0; start < paths.length; start += MAX_PATHS_PER_INVALIDATION)
      await sendOne(paths.slice(start, start + MAX_PATHS_PER_INVALIDATION))
  }

  async function sendOne(paths: string[]): Promise<void> {
    // The same CallerReference for every attempt of one invalidation: if an attempt reached
    // CloudFront but its answer was lost, the retry is recognised instead of made twice.
    const callerReference = `pixelflow-${Date.now()}-${randomUUID()}`
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await client.send(
          new sdk.CreateInvalidationCommand({
            DistributionId: distributionId,
            InvalidationBatch: {
              CallerReference: callerReference,
              Paths: { Quantity: paths.length, Items: paths },
            },
          }),
        )
        logger?.info(
          { invalidationId: out.Invalidation?.Id, paths: paths.length },
          'CloudFront invalidation created',
        )
        return
      } catch (error) {
        if (attempt >= attempts || !retryable(error))
          throw new Error(
            `CloudFront invalidation of ${paths.length} path(s) failed after ${attempt} attempt(s): ${
              (error as Error).message
            }`,
            { cause: error },
          )
        // Exponential with full jitter, so that several processes do not retry in step.
        const pauseMs = baseMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)
        logger?.warn({ err: error, attempt, pauseMs }, 'CloudFront invalidation failed; retrying')
        await sleep(pauseMs)
      }
    }
  }

  return {
    driver: 'cloudfront',
    async purge(paths) {
      if (closed) throw closedError('cloudfront')
      for (const path of paths) assertPurgePath(path)
      if (paths.length === 0) return
      open ??= openBatch()
      for (const path of paths) open.paths.add(invalidationPath(path))
      return open.promise
    },
    async close() {
      closed = true
      if (open) flush(open)
      // The failures reach the purges' own promises; close only waits for them to settle.
      await Promise.all(sending)
      client.destroy()
    },
  }
}

/**
 * The path CloudFront is asked to invalidate: `/i/<id>/<anything>` → `/i/<id>/*` (every variant
 * of the image, any format, any query string); anything else as it is. CloudFront wants unsafe
 * characters percent-encoded, so the path is decoded and encoded again (a `*` stays as it is).
 */
export function invalidationPath(path: string): string {
  const variant = /^\/i\/([^/]+)\/./.exec(path)
  if (variant) return `/i/${variant[1]}/*`
  let decoded = path
  try {
    decoded = decodeURIComponent(path)
  } catch {}
  return encodeURI(decoded)
}

function retryable(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } }
  const status = $metadata?.httpStatusCode
  // No status: the request did not get an answer (refused, reset, timed out).
  if (status === undefined || status >= 500) return true
  return RETRYABLE.has(name ?? '')
}

function createClient(
  CloudFront: typeof CloudFrontClient,
  options: CloudFrontPurgerOptions,
): CloudFrontClient {
  const { accessKeyId, secretAccessKey } = options
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined))
    throw new Error('CloudFront purger: set both accessKeyId and secretAccessKey, or neither')
  return new CloudFront({
    // CloudFront's API is global, served from us-east-1 (and signed for it).
    region: 'us-east-1',
    endpoint: options.endpoint,
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey }
        : undefined,
    // The retries are ours (above), with the pause and the reporting this driver wants.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: 5000,
      requestTimeout: 30_000,
      throwOnRequestTimeout: true,
    },
  })
}
