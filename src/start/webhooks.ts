import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { parseAllowList } from '../lib/ssrf.js'
import { startWebhookDispatcher, type WebhookDispatcher } from '../webhooks/dispatcher.js'
import { createWebhookEndpoints, type WebhookEndpoints } from '../webhooks/endpoints.js'
import type { EventSource } from '../webhooks/fan-out.js'
import { webhookTablesOf } from './control-db.js'
import type { Deps } from './deps.js'

/** The outbound allow-list, from config (load.ts already refused a malformed one). */
export const outboundAllowList = (config: Config) => parseAllowList(config.outbound.allow.join(','))

/** The API's side of webhooks: endpoints and deliveries per owner. */
export function createWebhooks(config: Config, deps: Deps): WebhookEndpoints {
  return createWebhookEndpoints(webhookTablesOf(deps.control), {
    maxEndpoints: config.webhooks.maxEndpoints,
    allow: outboundAllowList(config),
  })
}

/** The shards' event outboxes as the dispatcher sees them: readEvents and how far pruning went. */
export function eventSourceOf(metadata: Deps['metadata']): EventSource {
  return {
    shards: () => metadata.shards().map((handle) => handle.id),
    readEvents: async (shardId, afterSeq, limit) =>
      (await metadata.shard(shardId)).readEvents(afterSeq, limit),
    prunedThrough: async (shardId) => (await metadata.shard(shardId)).eventsPrunedThrough(),
  }
}

/** The relay role's webhook delivery loop. */
export function startWebhookRelay(config: Config, deps: Deps, logger: Logger): WebhookDispatcher {
  return startWebhookDispatcher({
    db: webhookTablesOf(deps.control),
    source: eventSourceOf(deps.metadata),
    settings: config.webhooks,
    allow: outboundAllowList(config),
    logger,
    onAttempt: (state) => deps.metrics.webhookAttempts.inc({ state }),
  })
}
