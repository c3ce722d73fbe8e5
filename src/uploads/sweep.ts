import type { Logger } from 'pino'

export interface UploadSweepDeps {
  /** Each part of the sweep: a name for the logs and what it removed. */
  parts: Record<string, (nowMs: number) => Promise<number>>
  intervalMs: number
  logger: Pick<Logger, 'info' | 'warn'>
}

export interface UploadSweeper {
  /** One sweep now; answers what each part removed. */
  runOnce(): Promise<Record<string, number>>
  stop(): Promise<void>
}

/**
 * Removes what incomplete uploads leave behind: expired tus uploads, direct uploads never
 * completed (their object and row), expired upload tokens' rows. Run by the relay's process every
 * `intervalMs`, one sweep at a time; a failed part is logged and retried next time.
 */
export function startUploadSweeper(deps: UploadSweepDeps): UploadSweeper {
  let timer: NodeJS.Timeout | undefined
  let current: Promise<Record<string, number>> = Promise.resolve({})
  let active = true

  async function sweep(): Promise<Record<string, number>> {
    const removed: Record<string, number> = {}
    for (const [name, part] of Object.entries(deps.parts)) {
      removed[name] = await part(Date.now()).catch((error: unknown) => {
        deps.logger.warn({ err: error, part: name }, 'upload sweep: part failed')
        return 0
      })
    }
    if (Object.values(removed).some((n) => n > 0))
      deps.logger.info({ removed }, 'upload sweep: removed expired uploads')
    return removed
  }

  function runOnce(): Promise<Record<string, number>> {
    current = current.then(sweep, sweep)
    return current
  }

  const schedule = () => {
    if (!active) return
    timer = setTimeout(() => void runOnce().finally(schedule), deps.intervalMs)
    timer.unref()
  }
  schedule()

  return {
    runOnce,
    async stop() {
      active = false
      clearTimeout(timer)
      await current
    },
  }
}
