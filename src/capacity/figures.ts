/**
 * What the capacity plan and the autoscaling simulation are built on: figures measured by `bench/`
 * on the 2-core reference machine, each with its date and its place in bench/RESULTS.md. When a
 * new bench run moves a figure, change it here (and the date); nothing else holds these numbers.
 */

export const REFERENCE_MACHINE =
  '2-core AMD EPYC VM, 24 GB RAM, local ext4 disk, Node 20.20.2, sharp 0.35.5 / libvips 8.18.7'

/** Worker throughput, 2026-11-28: 21 corpus photos, 6 variants + ThumbHash each, concurrency 2. */
export const WORKER = {
  measured: '2026-11-28, bench/RESULTS.md "Worker throughput", Pixelflow side, median of 3',
  /** CPU seconds per image, all processes of the pipeline. */
  cpuSecondsPerImage: 0.61,
  /** 2.91 images/s with 2 slots on 2 cores: a slot (one core) spends 2 / 2.91 s per image. */
  slotSecondsPerImage: 2 / 2.91,
  /** The corpus' mean size: 120.07 MP over 21 photos (1.3 to 17.9 MP). */
  corpusMeanMegapixels: 120.07 / 21,
  /** A worker process of 2 slots on 2 cores; more slots than cores added nothing (end-to-end bench). */
  slotsPerProcess: 2,
  peakRssMbPerProcess: 564,
} as const

/** Upload acceptance, 2026-11-28: 0.99 MB JPEG, 32 connections, `serve` with workers off. */
export const UPLOAD = {
  measured: '2026-11-28, bench/RESULTS.md "Upload acceptance", Pixelflow side, median of 2',
  acceptedPerSecondPerProcess: 57.9,
  cpuMsPerUpload: 17.6,
  bodyMegabytes: 0.99,
  peakRssMbPerProcess: 256,
} as const

export interface QueueFigures {
  name: string
  /** Jobs/s published in batches of 10 (the relay publishes each drain as one batch). */
  enqueuePerSecond: number
  /** Jobs/s received and acked one at a time (a worker claims as many as it has free slots). */
  receiveAckPerSecond: number
}

/** Queue throughput, 2026-11-29: 5,000 jobs, 2 consumer processes × 4 lanes, median of 2. */
export const QUEUE = {
  measured: '2026-11-29, bench/RESULTS.md "Queue throughput", median of 2',
  drivers: [
    { name: 'sqlite', enqueuePerSecond: 16_492, receiveAckPerSecond: 1322 },
    { name: 'rabbitmq', enqueuePerSecond: 6118, receiveAckPerSecond: 1625 },
  ] satisfies QueueFigures[],
  /** SQS was not measured here (no account; the emulator says nothing about AWS's capacity). */
  unmeasured: ['sqs'],
} as const

/** Sharded metadata on PostgreSQL, 2026-11-29: 1 shard, 200k images, 32 clients. */
export const SHARDS = {
  measured:
    '2026-11-29, bench/RESULTS.md "Sharded metadata on PostgreSQL", insert on 1 shard, median of 3',
  /** createImage through the router: bucket claim, image row and outbox row in one transaction. */
  insertsPerSecondPerShard: 654,
  /**
   * Write transactions per image: createImage, startProcessing, completeImage (the relay's outbox
   * delete is batched and left out). Each is counted as one measured insert: an estimate, the
   * other two were not measured apart.
   */
  writesPerImage: 3,
} as const

/**
 * Plan every part to run at this share of its measured capacity: the rest absorbs bursts until
 * the autoscaler reacts, and the measurements themselves moved by 2 × with the machine's load.
 */
export const TARGET_UTILISATION = 0.7

/** Seconds a worker slot spends on one photo of `megapixels`, linear in its pixels. */
export function slotSecondsPerImage(megapixels: number): number {
  return (WORKER.slotSecondsPerImage * megapixels) / WORKER.corpusMeanMegapixels
}

/** CPU seconds one photo of `megapixels` costs, linear in its pixels. */
export function cpuSecondsPerImage(megapixels: number): number {
  return (WORKER.cpuSecondsPerImage * megapixels) / WORKER.corpusMeanMegapixels
}
