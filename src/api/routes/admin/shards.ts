import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ShardStatus } from '../../../sharding/operations.js'
import { problems } from '../../schemas.js'
import { iso } from './audited.js'
import { ADMIN_ROUTE, ADMIN_TAGS, ShardsView } from './schemas.js'

export interface AdminShardOptions {
  /** `shardStatus` of sharding/operations: what `pixelflow shards status` prints. */
  shardStatus: () => Promise<ShardStatus>
}

type Shard = ShardStatus['shards'][number]
type Move = ShardStatus['moves'][number]

const shardView = (s: Shard) => ({
  id: s.id,
  url: s.url,
  reachable: s.stats !== null,
  error: s.error ?? null,
  buckets: s.buckets,
  images: s.stats?.rows ?? null,
  bytes: s.stats?.bytes ?? null,
  bucketStates: s.stats?.buckets ?? {},
  hottestOwners: s.stats?.hottestOwners ?? [],
  migration: s.stats?.migration ?? null,
})

const moveView = (m: Move) => ({
  bucket: m.bucket,
  source: m.source,
  target: m.target,
  phase: m.phase,
  rowsCopied: m.rows_copied,
  changesApplied: m.changes_applied,
  startedAt: iso(m.started_at),
  updatedAt: iso(m.updated_at),
  detail: m.detail,
})

/** GET /v1/admin/shards: every shard, reachable or not, its buckets and rows, unfinished moves. */
export const adminShardRoutes: FastifyPluginAsyncTypebox<AdminShardOptions> = async (
  app,
  { shardStatus },
) => {
  app.get(
    '/admin/shards',
    {
      schema: {
        summary: 'Shards: reachability, image rows, buckets, moves in progress',
        tags: ADMIN_TAGS,
        response: { 200: ShardsView, ...problems() },
      },
      config: ADMIN_ROUTE,
    },
    async (_request, reply) => {
      const { epoch, strategy, shards, moves } = await shardStatus()
      return reply.send({
        epoch,
        strategy,
        shards: shards.map(shardView),
        moves: moves.map(moveView),
      })
    },
  )
}
