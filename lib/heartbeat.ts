// One hub-wide heartbeat instead of a timer per connection: every `intervalMs` it pings
// every connection, and `timeoutMs` later drops those that have not answered. A dead
// peer is therefore dropped between `timeoutMs` and `intervalMs + timeoutMs` after it
// went silent. The timers are unref'd so an idle hub never holds the process open.
import type { Connection } from './connection.js'

export interface HeartbeatTarget {
  connections(): Iterable<Connection>
  onTimeout(connection: Connection): void
}

export class Heartbeat {
  private interval: NodeJS.Timeout | undefined
  private check: NodeJS.Timeout | undefined

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly target: HeartbeatTarget,
  ) {}

  /** Starts pinging, if enabled and not already running. */
  start(): void {
    if (this.intervalMs <= 0 || this.interval !== undefined) return
    this.interval = setInterval(() => this.pingAll(), this.intervalMs)
    this.interval.unref()
  }

  stop(): void {
    clearInterval(this.interval)
    clearTimeout(this.check)
    this.interval = undefined
    this.check = undefined
  }

  private pingAll(): void {
    for (const connection of this.target.connections()) {
      if (connection.endReason !== undefined) continue
      connection.awaitingPong = true
      connection.socket.ping()
    }
    clearTimeout(this.check)
    this.check = setTimeout(() => this.dropSilent(), this.timeoutMs)
    this.check.unref()
  }

  private dropSilent(): void {
    for (const connection of this.target.connections()) {
      if (connection.awaitingPong) this.target.onTimeout(connection)
    }
  }
}
