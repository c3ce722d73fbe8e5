import { type TSchema, Type } from '@sinclair/typebox'
import { MAX_ROTATION_GRACE_SECONDS } from '../../../auth/api-keys.js'
import { SCOPES } from '../../../auth/principal.js'

/** JSON of the admin routes (docs/admin-api.md). Times are ISO 8601 strings, as elsewhere in /v1. */

const Time = Type.String({ format: 'date-time' })
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** Every admin route: the admin scope, rate-limited as a read (they are few and cheap). */
export const ADMIN_ROUTE = { scope: 'admin', rateClass: 'read' } as const
export const ADMIN_TAGS = ['admin']

/** At most this many dead jobs are listed or redriven per request. */
export const MAX_DEAD_JOBS = 100

export const QueueStatsView = Type.Object({
  driver: Type.String(),
  visible: Type.Integer({ description: 'Waiting to be claimed (the depth)' }),
  inFlight: Type.Integer({ description: 'Leased by a worker' }),
  delayed: Type.Integer({ description: 'Waiting for a retry' }),
  dead: Type.Integer(),
  oldestAgeMs: Type.Optional(
    Type.Integer({
      description: 'Age of the oldest visible job; absent when the broker cannot tell',
    }),
  ),
  consumers: Type.Optional(Type.Integer()),
})

export const DeadLettersQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: MAX_DEAD_JOBS, default: 50 }),
})

export const DeadJobView = Type.Object({
  id: Type.String(),
  imageId: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  errors: Type.Array(Type.String(), { description: 'Every attempt’s error, oldest first' }),
  attempts: Type.Integer(),
  queuedAt: Time,
})

export const DeadJobList = Type.Object({ items: Type.Array(DeadJobView) })

export const RedriveBody = Type.Object({
  ids: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: MAX_DEAD_JOBS }),
  ),
})

export const RedriveResultView = Type.Object({
  redriven: Type.Integer(),
  missing: Type.Array(Type.String()),
})

const BucketMoveView = Type.Object({
  bucket: Type.Integer(),
  source: Type.Integer(),
  target: Type.Integer(),
  phase: Type.String(),
  rowsCopied: Type.Integer(),
  changesApplied: Type.Integer(),
  startedAt: Time,
  updatedAt: Time,
  detail: Nullable(Type.String()),
})

const ShardView = Type.Object({
  id: Type.Integer(),
  url: Type.String({ description: 'Password removed' }),
  reachable: Type.Boolean(),
  error: Nullable(Type.String()),
  buckets: Type.Integer({ description: 'Buckets the directory gives this shard' }),
  images: Nullable(Type.Integer({ description: 'Image rows it serves; null when unreachable' })),
  bytes: Nullable(Type.Integer()),
  bucketStates: Type.Record(Type.String(), Type.Integer(), {
    description: 'Buckets per state on the shard itself (owned, capturing, fenced, incoming)',
  }),
  hottestOwners: Type.Array(
    Type.Object({ ownerId: Type.String(), rows: Type.Integer(), bytes: Type.Integer() }),
  ),
  migration: Nullable(Type.String()),
})

export const ShardsView = Type.Object({
  epoch: Type.Integer(),
  strategy: Type.Object({ kind: Type.String() }, { additionalProperties: true }),
  shards: Type.Array(ShardView),
  moves: Type.Array(BucketMoveView, {
    description: 'Moves not done: running, interrupted or failed',
  }),
})

export const KeyView = Type.Object({
  id: Type.String(),
  ownerId: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Time,
  revokedAt: Nullable(Time),
  active: Type.Boolean({ description: 'Works now (not revoked, or still in a rotation’s grace)' }),
})

export const KeyList = Type.Object({ items: Type.Array(KeyView) })

export const KeysQuery = Type.Object({ owner: Type.Optional(Type.String({ maxLength: 255 })) })

export const KeyParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 32 }) })

export const CreateKeyBody = Type.Object({
  ownerId: Type.String({ minLength: 1, maxLength: 255 }),
  scopes: Type.Optional(
    Type.Array(Type.Union(SCOPES.map((scope) => Type.Literal(scope))), {
      minItems: 1,
      uniqueItems: true,
    }),
  ),
})

export const CreatedKeyView = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'The secret key, shown this once' }),
  ownerId: Type.String(),
  scopes: Type.Array(Type.String()),
})

export const RotateBody = Type.Object({
  graceSeconds: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_ROTATION_GRACE_SECONDS,
      description: 'How long the old key keeps working; default a day, at most 30 days',
    }),
  ),
})

export const RotatedKeyView = Type.Object({
  id: Type.String(),
  key: Type.String({ description: 'The new secret key, shown this once' }),
  replaces: Type.String({ description: 'The old key id' }),
  oldKeyExpiresAt: Time,
})

export const AuditQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
})

export const AuditList = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      at: Time,
      actor: Type.Object({
        ownerId: Type.String(),
        keyId: Type.Optional(Type.String()),
        via: Type.String(),
      }),
      action: Type.String(),
      target: Type.String(),
      detail: Type.Record(Type.String(), Type.Unknown()),
      requestId: Type.String(),
    }),
  ),
  nextCursor: Nullable(Type.String()),
})

export const MetricsView = Type.Object({
  intervalMs: Type.Integer(),
  points: Type.Array(
    Type.Object({
      at: Time,
      requests: Type.Integer(),
      uploads: Type.Integer(),
      jobsDone: Type.Integer(),
      p50Ms: Nullable(Type.Integer()),
      p95Ms: Nullable(Type.Integer()),
    }),
  ),
})
