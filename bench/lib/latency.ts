// Send-to-receive latency, measured by the generator: each message carries its sequence
// number at the front of its payload, the send time goes into a preallocated array, and
// the clients' message handler takes the arrival time first thing, before anything else
// can delay it. Nothing is allocated per message.
import { setTimeout as sleep } from 'node:timers/promises'
import { leadingNumber } from './clients.js'
import { type LatencySummary, summarize } from './stats.js'

export class LatencyProbe {
  private sentAt = new Float64Array(0)
  private latency = new Float64Array(0)
  private count = 0
  private timing = false

  /** Starts timing `count` messages, numbered 0 to count - 1. */
  start(count: number): void {
    this.sentAt = new Float64Array(count)
    this.latency = new Float64Array(count)
    this.count = count
    this.timing = true
  }

  /** Call right before message `seq` is sent. */
  sent(seq: number): void {
    this.sentAt[seq] = performance.now()
  }

  /** Call first thing in the clients' message handler. */
  arrived(data: Buffer | string): void {
    if (!this.timing) return
    const now = performance.now()
    const seq = leadingNumber(data)
    this.latency[seq] = now - this.sentAt[seq]!
  }

  /** Stops timing; the percentiles of what was timed, in ms. */
  stop(): LatencySummary {
    this.timing = false
    return summarize(this.latency, this.count)
  }
}

let padding = ''
/** A payload of `length` bytes that starts with `seq`. */
export function numberedPayload(seq: number, length: number): string {
  if (padding.length < length) padding = 'x'.repeat(length)
  return `${seq}-${padding}`.slice(0, length)
}

/**
 * Calls `send(seq)` for seq 0 to total - 1 at `rate` per second, without waiting for
 * answers (`send` handles its own). Checks the clock every millisecond.
 */
export async function sendPaced(rate: number, total: number, send: (seq: number) => void): Promise<void> {
  const start = performance.now()
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000))
    while (sent < due) send(sent++)
    await sleep(1)
  }
}
