import type { QueueDriver } from './queue.js'

export interface RedriveResult {
  /** Jobs put back in the queue, in the order asked. */
  redriven: string[]
  /** Ids asked for that were not dead (unknown, already redriven, or never dead). */
  missing: string[]
  /**
   * Why it stopped early (a broker error): the jobs in `redriven` are back in the queue all the
   * same, and the caller must say so (the admin route audits them) before it reports the error.
   */
  error?: unknown
}

/**
 * Puts dead jobs back in the queue: the named ones, or (without ids) the first `max` that
 * `listDead` shows. One at a time, since each driver's redrive is a move of one message.
 */
export async function redriveDead(
  queue: Pick<QueueDriver, 'listDead' | 'redrive'>,
  ids: readonly string[] | undefined,
  max: number,
): Promise<RedriveResult> {
  const wanted = ids ?? (await queue.listDead(max)).map((job) => job.id)
  const result: RedriveResult = { redriven: [], missing: [] }
  for (const id of new Set(wanted.slice(0, max))) {
    try {
      if (await queue.redrive(id)) result.redriven.push(id)
      else result.missing.push(id)
    } catch (error) {
      return { ...result, error }
    }
  }
  return result
}
