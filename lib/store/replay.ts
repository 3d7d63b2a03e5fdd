// Durable messages meet connections here. When a user connects, the messages stored for
// them while they were away are written to that connection, oldest first, page by page,
// and only then the live messages that arrived meanwhile (the connection holds them
// back). A framed client that sees a seq ahead of one it has not had gets the gap
// filled the same way; its acks close messages in the store. Framework-free: the store
// plugin creates one per hub and closes it at shutdown.
import { performance } from 'node:perf_hooks'
import type { Connection } from '../hub/connection.js'
import type { Hub } from '../hub/hub.js'
import type { MessageStore, StoredMessage } from './store.js'

/** Stored messages read per query during a replay. */
export const REPLAY_PAGE = 200

export interface ReplayOptions {
  /** Unsent bytes a replay writes before it waits for the client to read them. */
  room: number
  /** In a cluster: resolves once this node's presence writes so far have landed. */
  presenceSettled?: () => Promise<void>
  warn: (message: string) => void
}

export class Replayer {
  constructor(
    private readonly hub: Hub,
    private readonly store: MessageStore,
    private readonly options: ReplayOptions,
  ) {
    hub.on('connect', this.onConnect)
    hub.on('gap', this.onGap)
    hub.on('ack', this.onAck)
  }

  /** Stops taking part in the hub's connects, gaps and acks. */
  close(): void {
    this.hub.off('connect', this.onConnect).off('gap', this.onGap).off('ack', this.onAck)
  }

  /**
   * Writes the user's stored messages to a connection, then releases the live messages
   * held meanwhile. On connect, framed clients get every unacknowledged message after
   * their `since`, plain clients the ones no connection took yet; after a gap, a framed
   * client gets what it misses.
   */
  async replay(connection: Connection): Promise<void> {
    const { store, hub } = this
    let after = connection.framed ? connection.seq : 0
    // The last seq the connection has: held live messages up to it are not written again.
    let seen = after
    let covered = 0
    let complete = false
    try {
      // In a cluster, a sender on another node finds this connection through presence:
      // once it is written, a message stored after this point is relayed live, and one
      // stored before is in the store when the read below runs.
      await this.options.presenceSettled?.()
      // Read first: every message up to it is stored before the pages below are read.
      covered = await store.lastSeq(connection.uid)
      // Nothing stored after `after` (most connects: a user with no durable messages, or
      // a client that has them all): no page to read. What comes later arrives live.
      while (after < covered) {
        const page = await store.open(connection.uid, after, REPLAY_PAGE)
        if (connection.ended) return
        const due = connection.framed ? page : page.filter((m) => m.status === 'queued')
        const replayed = due.map((m) => ({ data: m.data, meta: { id: m.id, seq: m.seq, time: m.createdAt } }))
        const written = connection.replay(replayed, performance.now(), this.options.room)
        if (written > 0) {
          seen = due[written - 1]!.seq
          store.stats.replayed += written
          this.markDelivered(due.slice(0, written))
        }
        if (!connection.writable) return
        if (written === due.length) {
          if (page.length < REPLAY_PAGE) break
          after = page[page.length - 1]!.seq
        } else {
          // Out of room: once the client has taken what was written, go on after it.
          after = Math.max(after, seen)
          await connection.drained()
        }
      }
      complete = true
    } finally {
      // After a failed read, what is stored stays for the next connect, and the live
      // messages go out now, as they came. A framed replay wrote every open message up
      // to `covered`; a plain one only the queued ones, so a message it skipped (written
      // elsewhere) still reaches a plain client when its live relay comes after the read.
      if (!complete) hub.release(connection, seen, false)
      else hub.release(connection, connection.framed ? Math.max(seen, covered) : seen)
    }
  }

  /** Not awaited: the replay goes on whether or not the status update lands. */
  private markDelivered(written: StoredMessage[]): void {
    const ids = written.filter((m) => m.status === 'queued').map((m) => m.id)
    if (ids.length === 0) return
    this.store.markDelivered(ids).catch((error: Error) => this.options.warn(`marking replayed messages delivered failed: ${error.message}`))
  }

  // The hub's 'connect' comes before any send can reach the connection: holding back
  // there keeps every live message behind the older stored ones.
  private readonly onConnect = (connection: Connection): void => {
    connection.holdBack()
    this.replay(connection).catch((error: Error) => this.options.warn(`replay to ${connection.uid} failed: ${error.message}`))
  }

  private readonly onGap = (connection: Connection): void => {
    this.replay(connection).catch((error: Error) => this.options.warn(`filling a gap for ${connection.uid} failed: ${error.message}`))
  }

  private readonly onAck = (connection: Connection, seq: number): void => {
    this.store.ack(connection.uid, seq).catch((error: Error) => this.options.warn(`ack from ${connection.uid} failed: ${error.message}`))
  }
}
