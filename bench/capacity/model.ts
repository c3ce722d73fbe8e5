/**
 * A discrete-time replay of uploads through a fleet of worker pods that the scaling rule of
 * src/capacity/scaling.ts resizes. Jobs wait in one FIFO queue; a pod has `slotsPerPod` slots that
 * each take the oldest waiting job when free; a new pod takes `podStartSeconds` before it takes
 * jobs; a pod scaled away finishes its jobs first (a graceful stop), taking no new ones.
 * Latency = upload → ready: the wait in the queue plus the processing, nothing else.
 */
import {
  backlogPerWorker,
  decideReplicas,
  initialScalingState,
  type ScalingPolicy,
} from '../../src/capacity/scaling.js'
import { normal, poisson, seededRandom } from './trace.js'

export interface SimulationConfig {
  durationSeconds: number
  stepSeconds: number
  seed: number
  /** Uploads per second at time t. */
  rateAt(t: number): number
  /** Seconds a slot spends on one image of mean size; each image draws its size around it. */
  meanServiceSeconds: number
  /** Spread of the photo sizes: lognormal, this sigma, mean preserved. */
  sizeSigma: number
  slotsPerPod: number
  podStartSeconds: number
  decisionIntervalSeconds: number
  initialPods: number
  policy: ScalingPolicy
  /**
   * false: backlog per worker = jobs waiting ÷ running slots (docs/deploy.md). true: (jobs waiting
   * + jobs being processed) ÷ running slots, the variant the comparison runs.
   */
  countInFlight: boolean
}

export interface Sample {
  minute: number
  uploadsPerSecond: number
  /** Jobs waiting (not being processed): the numerator of backlog per worker. */
  backlog: number
  readyPods: number
  desiredPods: number
}

export interface MinuteLatency {
  minute: number
  count: number
  p50: number
  p99: number
}

export interface SimulationResult {
  samples: Sample[]
  /** By the minute the uploads arrived in. */
  minutes: MinuteLatency[]
  uploads: number
  overall: { p50: number; p99: number; max: number }
  podSeconds: number
  simulatedSeconds: number
}

/** Drained pods are dropped every second, not every step: cheaper, and a second is nothing here. */
const DRAIN_CHECK_STEPS = 10

interface Pod {
  readyAt: number
  draining: boolean
  busyUntil: number[]
}

export function simulate(config: SimulationConfig): SimulationResult {
  const random = seededRandom(config.seed)
  const queue = new JobQueue()
  const latencies = new LatencyBook()
  const pods: Pod[] = []
  const addPods = (n: number, readyAt: number) => {
    for (let i = 0; i < n; i++)
      pods.push({ readyAt, draining: false, busyUntil: new Array(config.slotsPerPod).fill(0) })
  }
  addPods(config.initialPods, 0)
  let state = initialScalingState(config.initialPods)
  const samples: Sample[] = []
  let podSeconds = 0
  let arrivedSinceSample = 0
  const { stepSeconds: dt } = config
  const service = () =>
    config.meanServiceSeconds *
    Math.exp(config.sizeSigma * normal(random) - (config.sizeSigma * config.sizeSigma) / 2)

  const steps = Math.round(config.durationSeconds / dt)
  const decideEvery = Math.round(config.decisionIntervalSeconds / dt)
  // Run past the trace until the last upload is processed (with a cap, should the fleet be too small).
  for (let step = 0; step < steps || (queue.size > 0 && step < steps * 2); step++) {
    const t = step * dt
    if (step < steps) arrivedSinceSample += arrive(queue, config.rateAt(t) * dt, t, dt, random)
    for (const pod of pods) {
      if (queue.size === 0) break
      if (!pod.draining) work(pod, queue, t + dt, service, latencies)
    }
    if (step % DRAIN_CHECK_STEPS === 0) removeDrained(pods, t)
    podSeconds += pods.length * dt
    if (step % decideEvery !== 0) continue
    const ready = pods.filter((p) => !p.draining && p.readyAt <= t)
    const waiting = queue.size
    const counted = waiting + (config.countInFlight ? busySlots(pods, t) : 0)
    const decision = decideReplicas(config.policy, state, {
      atSeconds: t,
      current: ready.length,
      backlogPerWorker: backlogPerWorker(counted, ready.length * config.slotsPerPod),
    })
    state = decision.state
    resize(pods, decision.desired, t, config.podStartSeconds, addPods)
    samples.push({
      minute: t / 60,
      uploadsPerSecond: arrivedSinceSample / config.decisionIntervalSeconds,
      backlog: waiting,
      readyPods: ready.length,
      desiredPods: decision.desired,
    })
    arrivedSinceSample = 0
  }
  return {
    samples,
    minutes: latencies.perMinute(),
    uploads: latencies.count,
    overall: latencies.overall(),
    podSeconds,
    simulatedSeconds: config.durationSeconds,
  }
}

/** Poisson arrivals for one step, spread evenly over it. */
function arrive(queue: JobQueue, mean: number, t: number, dt: number, random: () => number) {
  const n = poisson(mean, random)
  for (let i = 0; i < n; i++) queue.push(t + (dt * (i + random())) / n)
  return n
}

/** Each free slot takes the oldest job that has arrived by the time it is free. */
function work(pod: Pod, queue: JobQueue, until: number, service: () => number, book: LatencyBook) {
  for (let s = 0; s < pod.busyUntil.length; s++) {
    while (queue.size > 0) {
      const arrived = queue.peek()
      const start = Math.max(pod.busyUntil[s]!, arrived, pod.readyAt)
      if (start >= until) break
      queue.shift()
      const finish = start + service()
      pod.busyUntil[s] = finish
      book.record(arrived, finish - arrived)
    }
  }
}

function busySlots(pods: Pod[], t: number): number {
  let busy = 0
  for (const pod of pods) for (const until of pod.busyUntil) if (until > t) busy++
  return busy
}

function removeDrained(pods: Pod[], t: number): void {
  for (let i = pods.length - 1; i >= 0; i--) {
    const pod = pods[i]!
    if (pod.draining && pod.busyUntil.every((b) => b <= t)) pods.splice(i, 1)
  }
}

/** Starts pods, or stops them: pods still starting first, then the ready ones that free up first. */
function resize(
  pods: Pod[],
  desired: number,
  t: number,
  startSeconds: number,
  addPods: (n: number, readyAt: number) => void,
): void {
  const live = pods.filter((p) => !p.draining)
  if (desired > live.length) {
    addPods(desired - live.length, t + startSeconds)
    return
  }
  const victims = live
    .sort((a, b) => b.readyAt - a.readyAt || Math.max(...a.busyUntil) - Math.max(...b.busyUntil))
    .slice(0, live.length - desired)
  for (const pod of victims) {
    if (pod.readyAt > t) pods.splice(pods.indexOf(pod), 1)
    else pod.draining = true
  }
}

/** Arrival times of the waiting jobs, oldest first, in a growable typed array. */
class JobQueue {
  private items = new Float64Array(1 << 16)
  private head = 0
  private tail = 0
  get size(): number {
    return this.tail - this.head
  }
  push(arrival: number): void {
    if (this.tail === this.items.length) this.compact()
    this.items[this.tail++] = arrival
  }
  peek(): number {
    return this.items[this.head]!
  }
  shift(): number {
    return this.items[this.head++]!
  }
  private compact(): void {
    const live = this.items.subarray(this.head, this.tail)
    const bigger = new Float64Array(Math.max(this.items.length, live.length * 2))
    bigger.set(live)
    this.items = bigger
    this.tail -= this.head
    this.head = 0
  }
}

/** Latencies grouped by the minute the upload arrived in, in growable typed arrays (millions). */
class LatencyBook {
  private byMinute: { values: Float64Array; size: number }[] = []
  /** Every latency in 1 ms bins up to an hour: the overall quantiles without sorting millions. */
  private histogram = new Uint32Array(3_600_000)
  count = 0
  record(arrived: number, latency: number): void {
    this.histogram[Math.min(this.histogram.length - 1, Math.floor(latency * 1000))]!++
    const minute = Math.floor(arrived / 60)
    const slot = (this.byMinute[minute] ??= { values: new Float64Array(1024), size: 0 })
    if (slot.size === slot.values.length) {
      const bigger = new Float64Array(slot.values.length * 2)
      bigger.set(slot.values)
      slot.values = bigger
    }
    slot.values[slot.size++] = latency
    this.count++
  }
  private sorted(minute: number): Float64Array {
    const slot = this.byMinute[minute]
    return slot ? slot.values.subarray(0, slot.size).sort() : new Float64Array(0)
  }
  perMinute(): MinuteLatency[] {
    return Array.from({ length: this.byMinute.length }, (_, minute) => {
      const sorted = this.sorted(minute)
      return {
        minute,
        count: sorted.length,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
      }
    })
  }
  overall(): { p50: number; p99: number; max: number } {
    const at = (q: number) => {
      const rank = Math.min(this.count - 1, Math.floor(q * this.count))
      let seen = 0
      for (let bin = 0; bin < this.histogram.length; bin++) {
        seen += this.histogram[bin]!
        if (seen > rank) return (bin + 1) / 1000
      }
      return 0
    }
    return { p50: at(0.5), p99: at(0.99), max: at(1) }
  }
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
