/** The queue part's sides (a backend and a batch size) and what one run of a side records. */
import type { Backend } from './ports.js'

export interface Side {
  backend: Backend
  batch: number
}
export const SIDES: readonly Side[] = [
  { backend: 'sqlite', batch: 1 },
  { backend: 'sqlite', batch: 10 },
  { backend: 'rabbitmq', batch: 1 },
  { backend: 'rabbitmq', batch: 10 },
  { backend: 'bullmq-aof', batch: 1 },
  { backend: 'bullmq-aof', batch: 10 },
  { backend: 'bullmq', batch: 1 },
  { backend: 'bullmq', batch: 10 },
  { backend: 'bullmq-worker', batch: 1 },
]
const LABELS: Record<Backend, string> = {
  sqlite: 'Pixelflow SQLite driver',
  rabbitmq: 'Pixelflow RabbitMQ driver',
  bullmq: 'BullMQ, like the port (getNextJob + moveToCompleted), Redis without persistence',
  'bullmq-aof': 'BullMQ, like the port, Redis with appendfsync everysec (the baseline)',
  'bullmq-worker': 'BullMQ Worker loop, no-op processor (reference)',
}
export const label = (side: Side) => `${LABELS[side.backend]}, batch ${side.batch}`
/** The process doing a backend's work besides ours, for its CPU time (it may serve others too). */
export const BROKER_PROCESS: Record<Backend, string | null> = {
  sqlite: null,
  rabbitmq: 'beam.smp',
  bullmq: 'redis-server',
  'bullmq-aof': 'redis-server',
  'bullmq-worker': 'redis-server',
}

export interface QueueRun {
  backend: Backend
  batch: number
  round: number
  jobs: number
  enqueue: {
    seconds: number
    cpuSeconds: number
    brokerCpuSeconds: number | null
    peakRssMb: number
    callP50Ms: number
    callP99Ms: number
  }
  consume: {
    seconds: number
    cpuSeconds: number
    brokerCpuSeconds: number | null
    peakRssMb: number
    claimP50Ms: number | null
    claimP99Ms: number | null
    claims: number
    emptyReceives: number
  }
  loadAverage: number
}
