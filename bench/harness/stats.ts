/** Medians, percentiles and the order of sides in a round: what every part summarises with. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The nearest-rank percentile (the smallest value with at least p % of the values at or below
 * it), NaN for no values. A typed array sorts numbers without a comparator: the shards part hands
 * over hundreds of thousands of latencies.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** Rounds alternate their order, so neither side always runs on a warmer (or hotter) machine. */
export function inRoundOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse()
}
