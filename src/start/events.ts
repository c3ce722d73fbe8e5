import type { Logger } from 'pino'
import type { EventRoutesOptions } from '../api/routes/events/events.js'
import type { Config } from '../config/schema.js'
import { createEventStreams } from '../events/event-streams.js'
import { withEventHints } from '../events/hints.js'
import { createLocalNotifier, createRedisNotifier, type EventNotifier } from '../events/notifier.js'
import { startEventPruning } from '../events/prune.js'
import type { Deps } from './deps.js'

/**
 * The live stream's wake-up hints: Redis pub/sub when PIXELFLOW_REDIS_URL is set (a worker's
 * commit wakes the streams of every API process), in-process otherwise. From here on
 * `deps.metadata` publishes a hint after every change that wrote an event, for every role.
 */
export async function openEventHints(
  config: Config,
  deps: Deps,
  logger: Logger,
): Promise<EventNotifier> {
  const { redisUrl, channel } = config.events
  const notifier = redisUrl
    ? await createRedisNotifier({
        url: redisUrl,
        channel,
        onError: (err) =>
          logger.warn({ err }, 'event hints: Redis failed (streams poll meanwhile)'),
      })
    : createLocalNotifier()
  deps.metadata = withEventHints(deps.metadata, notifier.publish)
  return notifier
}

/** GET /v1/events for the API role. */
export function createEventRoutes(
  config: Config,
  deps: Deps,
  notifier: EventNotifier,
  logger: Logger,
): EventRoutesOptions {
  const { events } = config
  return {
    events: createEventStreams({
      metadata: deps.metadata,
      notifier,
      pollMs: events.pollMs,
      maxStreamsPerOwner: events.maxStreamsPerOwner,
      maxStreams: events.maxStreams,
      onShardError: (err, shard) =>
        logger.warn({ err, shard }, 'event stream: shard unavailable, its events come later'),
    }),
    heartbeatMs: events.heartbeatMs,
  }
}

/** The relay role prunes events past the retention. */
export function startEventRetention(config: Config, deps: Deps, logger: Logger) {
  return startEventPruning({
    metadata: deps.metadata,
    retentionMs: config.events.retentionSeconds * 1000,
    intervalMs: config.events.pruneIntervalMs,
    onPruned: (shard, deleted) => logger.debug({ shard, deleted }, 'pruned old events'),
    onError: (err, shard) => logger.warn({ err, shard }, 'event pruning failed on a shard'),
  })
}
