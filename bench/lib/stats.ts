// Percentiles of latency samples and medians of repeated runs.

export interface LatencySummary {
  p50: number
  p99: number
  max: number
}

/** Percentiles of the first `count` samples, in the samples' unit. */
export function summarize(samples: Float64Array, count: number): LatencySummary {
  const sorted = samples.slice(0, count).sort()
  const at = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))] ?? Number.NaN
  return { p50: at(0.5), p99: at(0.99), max: sorted[count - 1] ?? Number.NaN }
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}
