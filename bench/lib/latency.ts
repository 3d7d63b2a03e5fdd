// Send-to-receive latency, measured by the generator: each message carries its sequence
// number at the front of its payload, the send time goes into a preallocated array, and
// the clients' message handler takes the arrival time first thing, before anything else
// can delay it. Nothing is allocated per message.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Arrivals } from './arrivals.js'
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

  /** Milliseconds since message `seq` was sent (its answer's latency, say). */
  elapsed(seq: number): number {
    return performance.now() - this.sentAt[seq]!
  }

  /** Call first thing in the clients' message handler. */
  arrived(data: Buffer | string): void {
    if (!this.timing) return
    const now = performance.now()
    const seq = leadingNumber(data)
    this.latency[seq] = now - this.sentAt[seq]!
  }

  /**
   * Times `total` messages sent at `rate` per second by `send(seq)` (which must not wait
   * for an answer), and resolves once `arrivals` has counted them all. stop() then gives
   * their percentiles.
   */
  async paced(rate: number, total: number, arrivals: Arrivals, send: (seq: number) => void): Promise<void> {
    this.start(total)
    const arrived = arrivals.expect(total)
    await sendPaced(rate, total, (seq) => {
      this.sent(seq)
      send(seq)
    })
    await arrived
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
async function sendPaced(rate: number, total: number, send: (seq: number) => void): Promise<void> {
  const start = performance.now()
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000))
    while (sent < due) send(sent++)
    await sleep(1)
  }
}
