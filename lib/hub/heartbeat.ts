// One hub-wide heartbeat instead of a timer per connection. Pings are spread over the
// interval: every tick (a fiftieth of it) the heartbeat pings the connections' share
// that is due, walking one live iterator over them, so that each connection is pinged
// once per interval and no event-loop turn pings them all. Pinging all at once held the
// loop for as long as a broadcast to everyone (about 0.3 s at 20,000 connections, every
// interval), and every message sent meanwhile waited; so did the pongs, which came back
// all together.
//
// A connection that has not answered `timeoutMs` after its ping is dropped, so a dead
// peer goes between `timeoutMs` and `intervalMs + timeoutMs` (plus a tick) after it went
// silent. The timer is unref'd so an idle hub never holds the process open.
import { performance } from 'node:perf_hooks'
import type { Connection } from './connection.js'

const TICKS_PER_INTERVAL = 50

export interface HeartbeatTarget {
  /** Every open connection, as a live view: one iterator walks it across ticks. */
  connections(): Iterable<Connection>
  connectionCount(): number
  onTimeout(connection: Connection): void
}

/** Connections pinged in one tick, checked for their pong `timeoutMs` later. */
interface PingedBatch {
  at: number
  connections: Connection[]
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private cursor: Iterator<Connection> | undefined
  private awaiting: PingedBatch[] = []
  /** Pings owed this interval and not yet sent: a fraction while there are few connections. */
  private owed = 0

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly target: HeartbeatTarget,
    /** The clock, in ms; a parameter so that unit tests can move it. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Starts pinging, if enabled and not already running. */
  start(): void {
    if (this.intervalMs <= 0 || this.timer !== undefined) return
    this.timer = setInterval(() => this.tick(), Math.max(1, this.intervalMs / TICKS_PER_INTERVAL))
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.cursor = undefined
    this.awaiting = []
    this.owed = 0
  }

  private tick(): void {
    const now = this.now()
    this.dropSilent(now)
    this.pingDue(now)
  }

  /** Drops the connections pinged `timeoutMs` ago or earlier that have not answered. */
  private dropSilent(now: number): void {
    while (this.awaiting.length > 0 && now - this.awaiting[0]!.at >= this.timeoutMs) {
      for (const connection of this.awaiting.shift()!.connections) {
        if (connection.awaitingPong && !connection.ended) this.target.onTimeout(connection)
      }
    }
  }

  /** Pings the next share of the connections: all of them once per interval. */
  private pingDue(now: number): void {
    this.owed += this.target.connectionCount() / TICKS_PER_INTERVAL
    let due = Math.floor(this.owed)
    this.owed -= due
    const pinged: Connection[] = []
    // Each connection at most once a tick, even if the walk comes round again.
    let restarted = false
    while (due > 0) {
      let next = this.cursor?.next()
      if (next === undefined || next.done) {
        if (restarted) break
        restarted = true
        this.cursor = this.target.connections()[Symbol.iterator]()
        next = this.cursor.next()
        if (next.done) break
      }
      const connection = next.value
      if (connection.endReason !== undefined || connection.ended) continue
      connection.awaitingPong = true
      connection.socket.ping()
      pinged.push(connection)
      due--
    }
    if (pinged.length > 0) this.awaiting.push({ at: now, connections: pinged })
  }
}
