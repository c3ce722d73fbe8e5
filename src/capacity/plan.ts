import {
  cpuSecondsPerImage,
  QUEUE,
  SHARDS,
  slotSecondsPerImage,
  TARGET_UTILISATION,
  UPLOAD,
  WORKER,
} from './figures.js'

export interface PlanInput {
  uploadsPerSecond: number
  /** Mean size of the uploaded photos. */
  photoMegapixels: number
  /** The upload → ready wait the scaling target aims for, in steady state. */
  latencySeconds: number
}

export interface QueueVerdict {
  driver: string
  /** The busier side, enqueue or receive + ack, as a share of its measured capacity. */
  utilisation: number
  fits: boolean
}

export interface CapacityPlan {
  input: PlanInput
  secondsPerImage: number
  cpuSecondsPerImage: number
  /** Slots busy on average: uploads/s × seconds per image. */
  busySlots: number
  /** Worker slots = worker cores (one slot per core), at the target utilisation. */
  workerCores: number
  workerProcesses: number
  workerMemoryMb: number
  apiProcesses: number
  apiMemoryMb: number
  queues: QueueVerdict[]
  shardWritesPerSecond: number
  /** PostgreSQL shards, each on its own server: shards on one server added nothing (bench). */
  shards: number
  /** Jobs waiting per running worker slot to aim for: docs/deploy.md's backlog per worker. */
  targetBacklogPerWorker: number
}

/** What a load needs, from the measured figures (figures.ts), each part at TARGET_UTILISATION. */
export function planCapacity(input: PlanInput): CapacityPlan {
  const { uploadsPerSecond: rate, photoMegapixels: mp } = input
  const secondsPerImage = slotSecondsPerImage(mp)
  const busySlots = rate * secondsPerImage
  const workerCores = atLeastOne(busySlots / TARGET_UTILISATION)
  const workerProcesses = Math.ceil(workerCores / WORKER.slotsPerProcess)
  const apiProcesses = atLeastOne(rate / (UPLOAD.acceptedPerSecondPerProcess * TARGET_UTILISATION))
  const shardWritesPerSecond = rate * SHARDS.writesPerImage
  return {
    input,
    secondsPerImage,
    cpuSecondsPerImage: cpuSecondsPerImage(mp),
    busySlots,
    workerCores,
    workerProcesses,
    workerMemoryMb: workerProcesses * WORKER.peakRssMbPerProcess,
    apiProcesses,
    apiMemoryMb: apiProcesses * UPLOAD.peakRssMbPerProcess,
    queues: QUEUE.drivers.map((d) => {
      const utilisation = Math.max(rate / d.enqueuePerSecond, rate / d.receiveAckPerSecond)
      return { driver: d.name, utilisation, fits: utilisation <= TARGET_UTILISATION }
    }),
    shardWritesPerSecond,
    shards: atLeastOne(
      shardWritesPerSecond / (SHARDS.insertsPerSecondPerShard * TARGET_UTILISATION),
    ),
    targetBacklogPerWorker: targetBacklog(input.latencySeconds, secondsPerImage),
  }
}

/**
 * At equilibrium the autoscaler holds about `target` jobs waiting per slot, so a new job waits for
 * `target` jobs and then its own: latency ≈ (target + 1) × seconds per image (AWS's "acceptable
 * backlog per instance" = acceptable latency ÷ processing time, less the job itself).
 */
export function targetBacklog(latencySeconds: number, secondsPerImage: number): number {
  return Math.max(1, Math.floor(latencySeconds / secondsPerImage) - 1)
}

function atLeastOne(value: number): number {
  return Math.max(1, Math.ceil(value - 1e-9))
}
