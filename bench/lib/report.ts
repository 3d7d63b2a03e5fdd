// The results table: each figure's median over the runs, for each server, and
// fastify-pusher's ratio to the floor with the target next to it.
import { median } from './stats.js'

export type RunResult = Record<string, number | Record<string, number>>

interface Figure {
  label: string
  /** Path into a run's result, e.g. 'pacedLatencyMs.p50'. */
  path: string
  digits: number
  /** Target for fastify-pusher, as text, where the project sets one. */
  target?: string
}

const FIGURES: Figure[] = [
  { label: 'handshake, server CPU µs', path: 'handshakeCpuUs', digits: 0, target: '≤ 1.1× floor' },
  { label: 'unicast, server CPU µs / message', path: 'unicastCpuUs', digits: 1, target: '≤ 0.9× floor (1.0× at least)' },
  { label: 'unicast, messages / s (informational)', path: 'unicastPerSecond', digits: 0 },
  { label: 'unicast latency p50 ms', path: 'unicastLatencyMs.p50', digits: 2 },
  { label: 'unicast latency p99 ms', path: 'unicastLatencyMs.p99', digits: 2 },
  { label: 'unicast latency max ms', path: 'unicastLatencyMs.max', digits: 2 },
  { label: 'paced 2,000/s latency p50 ms', path: 'pacedLatencyMs.p50', digits: 3, target: '≤ 0.5 ms' },
  { label: 'paced 2,000/s latency p99 ms', path: 'pacedLatencyMs.p99', digits: 2, target: '≤ floor' },
  { label: 'paced 2,000/s latency max ms', path: 'pacedLatencyMs.max', digits: 2 },
  { label: 'generator event-loop delay p99 ms (paced)', path: 'generatorDelayMs.p99', digits: 2 },
  { label: 'generator event-loop delay max ms (paced)', path: 'generatorDelayMs.max', digits: 1 },
  { label: 'host steal during paced phase, ms', path: 'pacedStealMs', digits: 0 },
  { label: 'fanout, server CPU ns / delivery', path: 'fanoutCpuNs', digits: 0, target: '≤ 1.0× floor' },
  { label: 'burst fanout, server CPU ns / delivery', path: 'burstFanoutCpuNs', digits: 0, target: '≤ 0.5× floor burst' },
  { label: 'batch, server CPU µs / message', path: 'batchCpuUs', digits: 2, target: '≤ 0.3× floor unicast' },
  { label: 'idle memory, KB / connection', path: 'idleKbPerConnection', digits: 2, target: '< 4.5 KB' },
  { label: 'scale: connections held', path: 'scaleHeld', digits: 0 },
  { label: 'scale: one broadcast to all, ms', path: 'scaleBroadcastMs', digits: 0 },
  { label: 'scale: server RSS MB', path: 'scaleRssMb', digits: 0 },
]

function pick(run: RunResult, path: string): number {
  let value: unknown = run
  for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key]
  return typeof value === 'number' ? value : Number.NaN
}

export function medianOf(runs: RunResult[], path: string): number {
  return median(runs.map((run) => pick(run, path)))
}

/** bench/interleaved.ts's output: per figure, per server, one value per round. */
export type InterleavedFigure = 'unicast' | 'handshake' | 'batch' | 'pacedP50' | 'pacedP99' | 'coldHandshake'
export type Interleaved = Partial<Record<InterleavedFigure, Record<string, number[]>>>

const INTERLEAVED_ROWS = [
  { figure: 'unicast', label: 'unicast, server CPU µs / message', against: 'unicast', target: '≤ 0.9× floor (1.0× at least)' },
  { figure: 'handshake', label: 'handshake, server CPU µs', against: 'handshake', target: '≤ 1.1× floor' },
  { figure: 'coldHandshake', label: 'handshake, a fresh server\'s first connections, server CPU µs', against: 'coldHandshake', target: '≤ 1.1× floor' },
  { figure: 'batch', label: 'batch of 100, server CPU µs / message (÷ floor unicast)', against: 'unicast', target: '≤ 0.3× floor unicast' },
  { figure: 'pacedP50', label: 'paced 2,000/s latency p50 ms', against: 'pacedP50', target: '≤ 0.5 ms' },
  { figure: 'pacedP99', label: 'paced 2,000/s latency p99 ms', against: 'pacedP99', target: '≤ floor' },
] as const

const DIGITS = { unicast: 1, handshake: 0, coldHandshake: 0, batch: 1, pacedP50: 3, pacedP99: 2 } as const

/**
 * The interleaved table: each server's median per figure, and its ratio to the floor
 * taken round by round (both measured within seconds of each other) as the median and
 * the range over the rounds. Servers in the order given.
 */
export function formatInterleaved(figures: Interleaved, order: string[], names: Record<string, string>): string {
  const cell = (values: number[] | undefined, floor: number[] | undefined, digits: number): string => {
    if (values === undefined || floor === undefined) return '—'
    const ratios = values.map((value, round) => value / floor[round]!)
    const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`
    return `${median(values).toFixed(digits)} (${median(ratios).toFixed(2)}×; ${range})`
  }
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  const head = ['interleaved: median (÷ floor in the same round: median; range)', ...order.map((key) => names[key] ?? key), 'target']
  const rows = INTERLEAVED_ROWS.filter(({ figure }) => figures[figure] !== undefined).map(({ figure, label, against, target }) => [
    label,
    ...order.map((key) => cell(figures[figure]?.[key], figures[against]?.floor, DIGITS[figure])),
    target,
  ])
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

export function formatTable(runs: Record<string, RunResult[]>, names: Record<string, string>): string {
  const keys = Object.keys(runs)
  const hasFloor = 'floor' in runs && 'pusher' in runs
  const head = ['figure', ...keys.map((key) => names[key] ?? key), ...(hasFloor ? ['pusher ÷ floor', 'target'] : [])]
  const rows = FIGURES.map(({ label, path, digits, target }) => {
    const values = keys.map((key) => medianOf(runs[key]!, path))
    const cells = values.map((value) => (Number.isFinite(value) ? value.toFixed(digits) : '—'))
    if (!hasFloor) return [label, ...cells]
    const pusher = medianOf(runs.pusher!, path)
    // Batch has no floor figure of its own: its target is against the floor's unicast.
    const floor = medianOf(runs.floor!, path === 'batchCpuUs' ? 'unicastCpuUs' : path)
    const ratio = Number.isFinite(pusher / floor) ? `${(pusher / floor).toFixed(2)}×` : '—'
    return [label, ...cells, ratio, target ?? '']
  })
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}
