/**
 * The upload trace the simulation replays: a seeded, bursty arrival rate. Same seed, same trace,
 * so the committed charts only change when the model or the figures do.
 */

/** mulberry32: a small, well-known 32-bit PRNG; good enough for a trace, and seedable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A standard normal draw (Box–Muller). */
export function normal(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

/** A Poisson draw: exact for small means, the normal approximation for large ones. */
export function poisson(mean: number, random: () => number): number {
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(random)))
  const limit = Math.exp(-mean)
  let k = 0
  for (let p = random(); p > limit; p *= random()) k++
  return k
}

export interface Burst {
  startSeconds: number
  seconds: number
  /** The rate during the burst, as a multiple of the base rate. */
  factor: number
}

export interface TraceShape {
  bursts: Burst[]
  /** Arrival rate at `t` as a multiple of the base rate. */
  factorAt(t: number): number
}

const RAMP_SECONDS = 10
const WAVE_PERIOD_SECONDS = 1800
const WAVE_AMPLITUDE = 0.2

/**
 * Base load × a slow ±20 % wave (period 30 min) × bursts: random ones (every 8 min on average,
 * 30–180 s long, 2–4 × the base) and one fixed flash crowd at minute 35 (6 × for 2 min), each
 * ramping up and down over 10 s.
 */
export function burstyShape(seed: number, durationSeconds: number): TraceShape {
  const random = seededRandom(seed)
  const bursts: Burst[] = [{ startSeconds: 35 * 60, seconds: 120, factor: 6 }]
  for (let t = 120 + exponential(480, random); t < durationSeconds - 60; ) {
    bursts.push({ startSeconds: t, seconds: 30 + 150 * random(), factor: 2 + 2 * random() })
    t += 180 + exponential(480, random)
  }
  bursts.sort((a, b) => a.startSeconds - b.startSeconds)
  return {
    bursts,
    factorAt(t) {
      const wave = 1 + WAVE_AMPLITUDE * Math.sin((2 * Math.PI * t) / WAVE_PERIOD_SECONDS)
      const burst = Math.max(1, ...bursts.map((b) => 1 + (b.factor - 1) * envelope(b, t)))
      return wave * burst
    },
  }
}

function envelope(burst: Burst, t: number): number {
  const into = t - burst.startSeconds
  const left = burst.startSeconds + burst.seconds - t
  if (into <= 0 || left <= 0) return 0
  return Math.min(1, into / RAMP_SECONDS, left / RAMP_SECONDS)
}

function exponential(mean: number, random: () => number): number {
  return -mean * Math.log(1 - random())
}
