/**
 * The targets every ratio of the report is held to, in one place, and the verdict on a measured
 * ratio. A part hands back `Ratio`s by id; `npm run bench` prints them beside their targets, and
 * `npm run bench -- --quick` (bench/quick.ts, run by CI) fails on a gross regression only, so the
 * noise of a shared machine does not block a landing while a change that halves a figure does.
 */
import { table } from './report.js'

export type RatioId =
  | 'upload-rps'
  | 'upload-p99'
  | 'auth-rps'
  | 'auth-redis-rps'
  | 'queue-sqlite-1'
  | 'queue-sqlite-10'
  | 'queue-rabbitmq-1'
  | 'worker-rps'
  | 'corpus-e2e'
  | 'single-4mp'
  | 'loaded-workers'
  | 'loaded-upload-p99'

export interface Ratio {
  id: RatioId
  value: number
}

interface Target {
  measure: string
  /** `min`: the ratio must be at least `target`; `max`: at most (a latency ratio). */
  bound: 'min' | 'max'
  target: number
  /**
   * Where the target is not met yet: the figure recorded in bench/RESULTS.md. Until the target is
   * met, a gross regression is measured from it (half of it; twice it for a `max`), not from the
   * target, so the quick run stays green on today's tree and still catches a change that halves it.
   */
  recorded?: number
}

export const TARGETS: Record<RatioId, Target> = {
  'upload-rps': {
    measure: 'upload acceptance req/s, Pixelflow / bare Fastify stream + fsync',
    bound: 'min',
    target: 0.8,
    recorded: 0.31,
  },
  'upload-p99': {
    measure: 'upload acceptance p99, Pixelflow / bare',
    bound: 'max',
    target: 1.5,
    recorded: 4.7,
  },
  'auth-rps': {
    measure: 'authenticated route (key + in-process rate limit) / no hooks, req/s',
    bound: 'min',
    target: 0.8,
    recorded: 0.45,
  },
  'auth-redis-rps': {
    measure: 'authenticated route (key + Redis rate limit) / no hooks, req/s',
    bound: 'min',
    target: 0.8,
    recorded: 0.34,
  },
  'queue-sqlite-1': {
    measure: 'SQLite queue receive + ack, batch 1, / BullMQ (Redis appendfsync everysec)',
    bound: 'min',
    target: 1.0,
  },
  'queue-sqlite-10': {
    measure: 'SQLite queue receive + ack, batch 10, / BullMQ (Redis appendfsync everysec)',
    bound: 'min',
    target: 1.0,
  },
  'queue-rabbitmq-1': {
    measure: 'RabbitMQ queue receive + ack, batch 1, / BullMQ (Redis appendfsync everysec)',
    bound: 'min',
    target: 1.0,
    recorded: 0.67,
  },
  'worker-rps': {
    measure: 'worker images/s, Pixelflow / best raw sharp',
    bound: 'min',
    target: 0.9,
  },
  'corpus-e2e': {
    measure: 'corpus, first upload sent → last image ready (server clock), raw sharp / Pixelflow',
    bound: 'min',
    target: 0.9,
  },
  'single-4mp': {
    measure: 'one 4 MP JPEG, upload → all variants ready, p50, Pixelflow / raw sharp',
    bound: 'max',
    target: 1.2,
  },
  'loaded-workers': {
    measure: "workers' pace under paced 1 MB uploads / idle (one process)",
    bound: 'min',
    target: 0.9,
  },
  'loaded-upload-p99': {
    measure: 'paced upload p99, workers rendering / workers off (one process)',
    bound: 'max',
    target: 3,
  },
}

export type Verdict = 'met' | 'below target' | 'gross regression'

/** The line a gross regression is measured against: half the target, or half today's figure. */
export function grossLimit(id: RatioId): number {
  const { bound, target, recorded } = TARGETS[id]
  const from = recorded ?? target
  return bound === 'min' ? from / 2 : from * 2
}

export function verdict({ id, value }: Ratio): Verdict {
  const { bound, target } = TARGETS[id]
  const meets = bound === 'min' ? value >= target : value <= target
  if (meets) return 'met'
  const gross = bound === 'min' ? value < grossLimit(id) : value > grossLimit(id)
  return gross ? 'gross regression' : 'below target'
}

/** Every ratio beside its target, its gross-regression line and its verdict (Markdown). */
export function ratioTable(ratios: readonly Ratio[]): string {
  return table(
    ['Measure', 'Ratio', 'Target', 'Fails when', 'Verdict'],
    ratios.map((ratio) => {
      const { measure, bound, target } = TARGETS[ratio.id]
      const sign = bound === 'min' ? '≥' : '≤'
      const limit = `${bound === 'min' ? '<' : '>'} ${grossLimit(ratio.id).toFixed(2)}`
      return [measure, ratio.value.toFixed(2), `${sign} ${target}`, limit, verdict(ratio)]
    }),
  )
}
