// Histograms for the hot paths (every frame written, every HTTP request), kept as plain
// numbers. prom-client's own observe() allocates a closure and a label object and
// hashes the labels on every call: measured, it cost about a tenth of the server's CPU
// per unicast message. Here a series is looked up once and observing is a bucket
// search and three additions. prom-client still renders them: an instance has the
// shape its Registry asks of a metric (name, help, type, get()).
import type { Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client'

export class HistogramSeries {
  /** counts[i]: observations in bucket i (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(private readonly bounds: readonly number[], readonly labels: Record<string, string | number>) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

export class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly series = new Map<string, HistogramSeries>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric)
  }

  /** The series for these labels, created on first use; `key` must identify the label values. */
  labels(labels: Record<string, string | number> = {}, key = JSON.stringify(labels)): HistogramSeries {
    let series = this.series.get(key)
    if (series === undefined) this.series.set(key, (series = new HistogramSeries(this.buckets, labels)))
    return series
  }


  /** What prom-client's Registry renders: cumulative `_bucket` lines, `_sum` and `_count` per series. */
  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = []
    for (const { counts, sum, count, labels } of this.series.values()) {
      let cumulative = 0
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += counts[i]!
        const le = i < this.buckets.length ? this.buckets[i]! : '+Inf'
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative })
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: sum })
      values.push({ metricName: `${this.name}_count`, labels, value: count })
    }
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values, collect: () => {} }
  }
}
