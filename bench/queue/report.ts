/** The queue part's figures: medians per side, ratios against BullMQ, and its detailed table. */
import { fixed, mb, table } from '../harness/report.js'
import { median } from '../harness/stats.js'
import { label, type QueueRun, SIDES, type Side } from './sides.js'

/** The detailed table, printed after the summary and copied into RESULTS.md. */
export function queueTable(runs: QueueRun[]): string {
  return table(
    [
      'Side',
      'Enqueue jobs/s',
      '× BullMQ AOF',
      'Receive + ack jobs/s',
      '× BullMQ AOF',
      'Claim p50 / p99',
      'Enqueue call p50 / p99',
      'CPU ms / 1000 jobs, ours + broker (enqueue; consume)',
      'Peak RSS (producer; consumer)',
    ],
    summarise(runs).map((s) => [
      label(s.side),
      s.enqueueRate.toFixed(0),
      fixed(s.enqueueRatio, 2),
      s.consumeRate.toFixed(0),
      fixed(s.consumeRatio, 2),
      s.claimP50 === null ? 'n/a' : `${s.claimP50.toFixed(2)} / ${s.claimP99!.toFixed(2)} ms`,
      s.side.backend === 'bullmq-worker'
        ? 'as BullMQ'
        : `${s.callP50.toFixed(2)} / ${s.callP99.toFixed(2)} ms`,
      `${s.enqueueCpu.toFixed(0)} + ${fixed(s.enqueueBrokerCpu, 0)}; ${s.consumeCpu.toFixed(0)} + ${fixed(s.consumeBrokerCpu, 0)}`,
      `${mb(s.producerRss)}; ${mb(s.consumerRss)}`,
    ]),
  )
}

export function summarise(runs: QueueRun[]) {
  const of = (side: Side) =>
    runs.filter((r) => r.backend === side.backend && r.batch === side.batch)
  const mid = (side: Side, pick: (r: QueueRun) => number | null) => {
    const values = of(side)
      .map(pick)
      .filter((v): v is number => v !== null)
    return values.length ? median(values) : null
  }
  const enqueueRate = (side: Side) => mid(side, (r) => r.jobs / r.enqueue.seconds)!
  const consumeRate = (side: Side) => mid(side, (r) => r.jobs / r.consume.seconds)!
  const sides = SIDES.filter((side) => of(side).length > 0)
  // The baseline is BullMQ on a Redis that persists (appendfsync everysec) when that side ran.
  const bull = (batch: number) =>
    sides.find((s) => s.backend === 'bullmq-aof' && s.batch === batch) ??
    sides.find((s) => s.backend === 'bullmq' && s.batch === batch)
  return sides.map((side) => {
    const base = bull(side.batch)
    const perThousand = (pick: (r: QueueRun) => number | null) => {
      const value = mid(side, (r) => {
        const v = pick(r)
        return v === null ? null : (v * 1e6) / r.jobs
      })
      return value
    }
    return {
      side,
      enqueueRate: enqueueRate(side),
      consumeRate: consumeRate(side),
      enqueueRatio:
        base && side.backend !== 'bullmq-worker' ? enqueueRate(side) / enqueueRate(base) : null,
      consumeRatio: base ? consumeRate(side) / consumeRate(base) : null,
      claimP50: mid(side, (r) => r.consume.claimP50Ms),
      claimP99: mid(side, (r) => r.consume.claimP99Ms),
      callP50: mid(side, (r) => r.enqueue.callP50Ms)!,
      callP99: mid(side, (r) => r.enqueue.callP99Ms)!,
      enqueueCpu: perThousand((r) => r.enqueue.cpuSeconds)!,
      enqueueBrokerCpu: perThousand((r) => r.enqueue.brokerCpuSeconds),
      consumeCpu: perThousand((r) => r.consume.cpuSeconds)!,
      consumeBrokerCpu: perThousand((r) => r.consume.brokerCpuSeconds),
      producerRss: Math.max(...of(side).map((r) => r.enqueue.peakRssMb)),
      consumerRss: Math.max(...of(side).map((r) => r.consume.peakRssMb)),
    }
  })
}
