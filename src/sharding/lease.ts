import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'

/** The one lease every bucket move takes: a rebalance and an owner move exclude each other too. */
export const MOVER_LEASE = 'shard-mover'
/** Long enough to ride out a stalled event loop; short enough that a killed mover blocks briefly. */
export const MOVER_LEASE_TTL_MS = 30_000

export class LeaseHeld extends Error {
  override name = 'LeaseHeld'
  constructor(
    readonly holder: string,
    readonly expiresAt: number,
  ) {
    super(
      `Another rebalance or move is running (holder ${holder}, lease until ${new Date(expiresAt).toISOString()}). ` +
        'Wait for it to finish; if its process was killed, the lease expires by itself at that time.',
    )
  }
}

/**
 * Runs `work` holding the mover's lease in the control database: refused at once with LeaseHeld
 * when another process holds it, renewed every third of its TTL while `work` runs, released at
 * the end. A holder killed mid-run never releases: its lease runs out after the TTL, and the
 * moves it left behind are resumed by the next run (they are persisted phase by phase).
 */
export async function withMoverLease<T>(
  metadata: ShardedMetadata,
  work: () => Promise<T>,
  ttlMs = MOVER_LEASE_TTL_MS,
): Promise<T> {
  const leases = metadata.directoryStore.leases
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  const taken = await leases.acquire(MOVER_LEASE, holder, ttlMs)
  if (!taken.acquired) throw new LeaseHeld(taken.holder, taken.expiresAt)
  let lost = false
  let renewing: Promise<unknown> = Promise.resolve()
  const timer = setInterval(
    () => {
      renewing = leases.renew(MOVER_LEASE, holder, ttlMs).then(
        (kept) => {
          lost ||= !kept
        },
        () => {}, // the control database hiccuped: the next renewal tries again within the TTL
      )
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  )
  timer.unref()
  try {
    const result = await work()
    if (lost)
      throw new Error(
        'The mover lease expired while moving (the process stalled longer than its TTL); another run may have started: check `pixelflow shards status`',
      )
    return result
  } finally {
    clearInterval(timer)
    await renewing
    await leases.release(MOVER_LEASE, holder).catch(() => {})
  }
}
