// How a node keeps what it holds written in Redis (its presence, its topic counts):
// the keys that changed in one event-loop turn are written together, in one round trip;
// a write that fails, or one due while Redis is away, marks everything stale, and the
// next lease renewal rewrites it all. Every write is of absolute counts, so writing
// again is always safe.

export interface TurnWritesOwner {
  /** What is written, for the log line: "presence", "topic counts". */
  readonly what: string
  /** Writes the current state of these keys. */
  write(keys: string[]): Promise<void>
  /** Writes everything this node holds, in place of what Redis has of it. */
  rewrite(): Promise<void>
  /** Whether a write can go now: Redis up, the node not gone. */
  canWrite(): boolean
  warn(message: string): void
}

export class TurnWrites {
  private dirty = new Set<string>()
  private scheduled = false
  /** Redis may hold less than the truth: rewrite everything at the next renewal. Stale until the first. */
  private stale = true
  private last: Promise<void> = Promise.resolve()

  constructor(private readonly owner: TurnWritesOwner) {}

  /** `key` changed: written at the end of this turn, with every other key that changed in it. */
  mark(key: string): void {
    this.dirty.add(key)
    if (this.scheduled) return
    this.scheduled = true
    // Changes that arrive together (a reconnect storm) are written in one round trip.
    this.last = new Promise((resolve) => setImmediate(resolve)).then(() => this.flush())
  }

  /** Resolves once the changes marked so far are written, or failed. */
  async settled(): Promise<void> {
    await this.last
  }

  /** A renewal failed, or Redis may have lost what it had: everything is rewritten at the next. */
  markStale(): void {
    this.stale = true
  }

  /** At a lease renewal: rewrites everything when the node rejoined or a write failed. */
  async renew(rejoined: boolean): Promise<void> {
    if (!rejoined && !this.stale) return
    this.stale = false
    this.dirty.clear()
    try {
      await this.owner.rewrite()
    } catch (error) {
      this.stale = true
      throw error
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const keys = this.dirty
    this.dirty = new Set()
    if (this.stale || !this.owner.canWrite()) {
      // Everything is rewritten at the next renewal anyway.
      this.stale = true
      return
    }
    try {
      await this.owner.write([...keys])
    } catch (error) {
      this.stale = true
      this.owner.warn(`${this.owner.what} update failed, rewriting at the next lease: ${(error as Error).message}`)
    }
  }
}
