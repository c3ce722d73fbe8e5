import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import { createPause } from '../lib/pause.js'
import type { OutboundAllowList } from '../lib/ssrf.js'
import { type ClaimedDelivery, claimDue, pruneFinished, recordAttempt } from './delivery-store.js'
import { CursorMoved, type EventSource, fanOutShard, readCursor } from './fan-out.js'
import { sendAttempt } from './send.js'
import type { WebhookTables } from './tables.js'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

export interface DispatcherSettings {
  maxAttempts: number
  timeoutMs: number
  backoffBaseMs: number
  backoffMaxMs: number
  concurrency: number
  leaseMs: number
  intervalMs: number
  batchSize: number
  retentionDays: number
}

export interface WebhookDispatcherOptions {
  db: Kysely<WebhookTables>
  source: EventSource
  settings: DispatcherSettings
  allow: OutboundAllowList
  logger: Logger
  /** Each attempt's resulting state, for metrics. */
  onAttempt?: (state: 'delivered' | 'pending' | 'dead') => void
  random?: () => number
}

export interface WebhookDispatcher {
  /** Runs a round now instead of at the next interval. */
  nudge(): void
  /** Waits for the attempts in flight (each bounded by the timeout) and stops. */
  stop(): Promise<void>
}

/**
 * The delay before attempt `attempt + 1`: exponential (base·2^(attempt-1), capped), with jitter
 * between half and all of it, so a burst of failures spreads out but the schedule still grows.
 */
export function retryDelayMs(
  attempt: number,
  settings: Pick<DispatcherSettings, 'backoffBaseMs' | 'backoffMaxMs'>,
  random = Math.random,
): number {
  const ceiling = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** (attempt - 1))
  return Math.round(ceiling * (0.5 + random() / 2))
}

/**
 * The relay role's webhook loop: fan each shard's new events out into durable delivery rows, then
 * keep up to `concurrency` attempts in flight, each claimed under a lease so that several relay
 * processes never send the same attempt twice. Nothing here runs in the API's or the workers'
 * path: a slow receiver only ever holds one of these slots, for at most the timeout.
 */
export function startWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const { db, settings, logger } = options
  const inFlight = new Set<Promise<void>>()
  const pause = createPause()

  async function fanOutAll(): Promise<void> {
    // Shards fan out independently: one that is down must not hold back the others' events.
    await Promise.all(
      options.source.shards().map(async (shardId) => {
        try {
          while (
            !pause.stopped &&
            (await fanOutShard(db, options.source, shardId, settings.batchSize, Date.now())) ===
              settings.batchSize
          );
        } catch (error) {
          if (error instanceof CursorMoved) return
          logger.warn({ err: error, shard: shardId }, 'webhooks: fan-out of a shard failed')
        }
      }),
    )
  }

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const outcome = await sendAttempt(delivery, {
      timeoutMs: settings.timeoutMs,
      allow: options.allow,
      now: Date.now(),
    })
    const state = await recordAttempt(db, delivery, outcome, {
      now: Date.now(),
      maxAttempts: settings.maxAttempts,
      retryInMs: retryDelayMs(delivery.attempts + 1, settings, options.random),
    })
    options.onAttempt?.(state)
    if (state === 'dead')
      logger.warn(
        { delivery: delivery.id, error: outcome.kind === 'failed' ? outcome.error : undefined },
        'webhooks: delivery is dead',
      )
  }

  async function fillSlots(): Promise<void> {
    const free = settings.concurrency - inFlight.size
    if (free <= 0) return
    const claimed = await claimDue(db, free, Date.now(), settings.leaseMs)
    for (const delivery of claimed) {
      const running: Promise<void> = deliver(delivery)
        .catch((error) =>
          logger.warn({ err: error, delivery: delivery.id }, 'webhooks: recording failed'),
        )
        .finally(() => {
          inFlight.delete(running)
          pause.wake()
        })
      inFlight.add(running)
    }
  }

  let prunedAt = 0
  /** At most hourly: finished deliveries past the retention go, so the table stays bounded. */
  async function pruneNow(): Promise<void> {
    const now = Date.now()
    if (now - prunedAt < HOUR_MS) return
    prunedAt = now
    const removed = await pruneFinished(db, now - settings.retentionDays * DAY_MS)
    if (removed > 0) logger.info({ removed }, 'webhooks: old deliveries removed')
    await Promise.all(options.source.shards().map(warnIfBehind))
  }

  /** Events pruned before they were fanned out are lost to webhooks: say so loudly. */
  async function warnIfBehind(shardId: number): Promise<void> {
    const pruned = await options.source.prunedThrough?.(shardId)
    const cursor = (await readCursor(db, shardId)) ?? 0
    if (pruned !== undefined && cursor < pruned)
      logger.error(
        { shard: shardId, cursor, prunedThrough: pruned },
        'webhooks: events were pruned before they were delivered (relays down longer than PIXELFLOW_EVENTS_RETENTION_SECONDS)',
      )
  }

  async function loop(): Promise<void> {
    while (!pause.stopped) {
      await pruneNow().catch((error) => logger.warn({ err: error }, 'webhooks: prune failed'))
      await fanOutAll()
      await fillSlots().catch((error) => logger.warn({ err: error }, 'webhooks: claim failed'))
      await pause.until(settings.intervalMs)
    }
  }

  const running = loop()
  return {
    nudge: () => pause.wake(),
    async stop() {
      pause.stop()
      await running
      await Promise.allSettled([...inFlight])
    },
  }
}
