/**
 * The `process-image` job payload, versioned so that workers of two releases can share one queue
 * during a rolling deploy (docs/deploy.md). A worker accepts its own version and the previous
 * one; a job from a newer release is handed back to the queue for a newer worker, never failed.
 *
 * v1 (before versioning): `{ imageId }`, no `v` field.
 * v2: `{ v: 2, imageId, queuedAt }`; `queuedAt` is when the upload committed (ms since the epoch),
 * so a worker can tell how long the job waited. An optional `traceparent` (W3C Trace Context) carries
 * the upload request's trace to the worker; payloads without it stay valid.
 */

export const JOB_VERSION = 2

/** What a worker of this release processes: its own version and the one before it. */
export const ACCEPTED_JOB_VERSIONS: readonly number[] = [JOB_VERSION - 1, JOB_VERSION]

export interface ProcessImageJobV1 {
  imageId: string
}

export interface ProcessImageJobV2 {
  v: 2
  imageId: string
  queuedAt: number
  traceparent?: string
}

export type ProcessImageJobPayload = ProcessImageJobV1 | ProcessImageJobV2

/** What a worker needs from any accepted version. */
export interface ProcessImageWork {
  version: number
  imageId: string
  /** Absent in v1. */
  queuedAt?: number
  /** The upload's trace context, when tracing was on; absent in v1. */
  traceparent?: string
}

/** The payload producers write today: always the current version. */
export function processImagePayload(
  imageId: string,
  queuedAt: number,
  traceparent?: string,
): string {
  const job: ProcessImageJobV2 = {
    v: JOB_VERSION,
    imageId,
    queuedAt,
    ...(traceparent ? { traceparent } : {}),
  }
  return JSON.stringify(job)
}

export type ParsedJob =
  | { kind: 'accepted'; work: ProcessImageWork }
  /** Written by a newer release: give it back to the queue for a worker that knows it. */
  | { kind: 'newer'; version: number; imageId: string | null }
  /** Not a job any worker of this release or a newer one can read. */
  | { kind: 'invalid'; reason: string; imageId: string | null }

/** Reads a payload; `accepts` is the versions this worker knows (a test plays an older release). */
export function parseProcessImageJob(
  payload: string,
  accepts: readonly number[] = ACCEPTED_JOB_VERSIONS,
): ParsedJob {
  let raw: unknown
  try {
    raw = JSON.parse(payload)
  } catch {
    return { kind: 'invalid', reason: 'payload is not JSON', imageId: null }
  }
  if (typeof raw !== 'object' || raw === null)
    return { kind: 'invalid', reason: 'payload is not an object', imageId: null }
  const record = raw as Record<string, unknown>
  const imageId = typeof record.imageId === 'string' ? record.imageId : null
  // v1 predates the field: a payload without it is v1.
  const version = record.v === undefined ? 1 : record.v
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return { kind: 'invalid', reason: `bad version ${JSON.stringify(version)}`, imageId }
  // Newer than anything this worker knows: checked before the fields, which may have changed.
  if (version > Math.max(...accepts)) return { kind: 'newer', version, imageId }
  if (!accepts.includes(version))
    return { kind: 'invalid', reason: `version ${version} is no longer accepted`, imageId }
  if (!imageId) return { kind: 'invalid', reason: 'payload has no imageId', imageId }
  const queuedAt = typeof record.queuedAt === 'number' ? record.queuedAt : undefined
  const traceparent = typeof record.traceparent === 'string' ? record.traceparent : undefined
  return {
    kind: 'accepted',
    work: {
      version,
      imageId,
      ...(queuedAt === undefined ? {} : { queuedAt }),
      ...(traceparent === undefined ? {} : { traceparent }),
    },
  }
}
