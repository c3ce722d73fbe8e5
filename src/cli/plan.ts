import type { Command } from 'commander'
import {
  QUEUE,
  REFERENCE_MACHINE,
  SHARDS,
  TARGET_UTILISATION,
  UPLOAD,
  WORKER,
} from '../capacity/figures.js'
import { type CapacityPlan, planCapacity } from '../capacity/plan.js'
import { EXIT, positiveNumber, type Scope } from './command.js'

/** `pixelflow plan`: pure arithmetic on measured figures, so it needs no config and no port. */
export function registerPlan(program: Command, scope: Scope): void {
  program
    .command('plan')
    .summary('worker cores, API processes, queue and shards for a load; opens nothing')
    .description(
      'worker cores, API processes, queue and shards for a load of photos, from the figures bench/ ' +
        'measured; opens nothing',
    )
    .requiredOption('--uploads-per-second <N>', 'the upload rate to plan for', positiveNumber)
    .option('--photo-mp <M>', 'megapixels per photo', positiveNumber, 4)
    .option('--latency-seconds <S>', 'the upload → ready wait to aim for', positiveNumber, 10)
    .action(
      scope.run((o: { uploadsPerSecond: number; photoMp: number; latencySeconds: number }) => {
        const input = {
          uploadsPerSecond: o.uploadsPerSecond,
          photoMegapixels: o.photoMp,
          latencySeconds: o.latencySeconds,
        }
        for (const line of describePlan(planCapacity(input))) scope.out(line)
        return EXIT.ok
      }),
    )
}

const fixed = (value: number, digits = 2) => value.toFixed(digits)
const percent = (value: number) => `${Math.round(value * 100)} %`
const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

export function describePlan(plan: CapacityPlan): string[] {
  const { uploadsPerSecond: rate, photoMegapixels: mp, latencySeconds } = plan.input
  const processes = count(plan.workerProcesses, 'process', 'processes')
  return [
    `Capacity for ${rate} uploads/s of ${mp} MP photos, each part at most ${percent(TARGET_UTILISATION)} busy:`,
    '',
    `Workers       ${count(plan.workerCores, 'core', 'cores')} = job slots (PIXELFLOW_WORKER_CONCURRENCY = cores),`,
    `              e.g. ${processes} of ${WORKER.slotsPerProcess} cores, ~${plan.workerMemoryMb} MB in all;`,
    `              ${fixed(plan.secondsPerImage)} s per image per slot (${fixed(plan.cpuSecondsPerImage)} s CPU), ${fixed(plan.busySlots, 1)} slots busy on average`,
    `Autoscaling   target backlog per worker: ${plan.targetBacklogPerWorker} jobs waiting per slot (≈ ${latencySeconds} s upload → ready)`,
    `API           ${count(plan.apiProcesses, 'process', 'processes')} (2 or more for availability), ~${plan.apiMemoryMb} MB in all`,
    `Queue         ${rate} jobs/s in and out:`,
    ...plan.queues.map(
      (q) =>
        `                ${q.driver.padEnd(9)} ${percent(q.utilisation)} busy${q.fits ? '' : ': past what one queue did here: split the queue or use another driver'}`,
    ),
    `                ${QUEUE.unmeasured.join(', ').padEnd(9)} not measured here`,
    `Shards        ${count(plan.shards, 'PostgreSQL shard', 'PostgreSQL shards')}, each on its own server, for ${fixed(plan.shardWritesPerSecond, 0)} writes/s`,
    '',
    `From figures measured by bench/ on the reference machine (${REFERENCE_MACHINE}):`,
    `  workers  ${WORKER.cpuSecondsPerImage} s CPU, ${fixed(WORKER.slotSecondsPerImage, 3)} s of a slot per image at the corpus mean of ${fixed(WORKER.corpusMeanMegapixels)} MP,`,
    `           scaled linearly to ${mp} MP (${WORKER.measured})`,
    `  uploads  ${UPLOAD.acceptedPerSecondPerProcess} accepted/s per API process, ${UPLOAD.bodyMegabytes} MB bodies, not scaled with size (${UPLOAD.measured})`,
    ...QUEUE.drivers.map(
      (d) =>
        `  queue    ${d.name}: ${d.enqueuePerSecond} enqueued/s in batches of 10, ${d.receiveAckPerSecond} received + acked/s one by one (${QUEUE.measured})`,
    ),
    `  shards   ${SHARDS.insertsPerSecondPerShard} inserts/s per shard; ${SHARDS.writesPerImage} writes per image, an estimate (${SHARDS.measured})`,
  ]
}
