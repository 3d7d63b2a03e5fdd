// One WebSocket connection's life inside the hub: its user, what it still owes the
// wire (pending writes), and whether it answered the last heartbeat ping.
// The hub (hub.ts) decides when a connection starts and ends; this file only tracks
// the per-connection state and the write path.
import { WebSocket } from 'ws'

export type DisconnectReason =
  | 'client_closed' // the peer closed or the TCP connection dropped
  | 'slow_consumer' // unsent bytes passed maxBufferedBytes
  | 'heartbeat_timeout' // no pong within the heartbeat timeout
  | 'shutdown' // the hub closed it (app.close(), SIGTERM)

/** What a connection needs from its hub; kept narrow so the write path is easy to follow. */
export interface ConnectionOwner {
  readonly maxBufferedBytes: number
  onWritten(connection: Connection, sentAt: number, error: Error | null | undefined): void
  onSlowConsumer(connection: Connection): void
  addPending(count: number): void
}

// ws merges these into its own options object; one shared instance avoids an
// allocation per frame. `binary: false` makes a Buffer go out as a text frame.
const TEXT_FRAME = { binary: false } as const

export class Connection {
  /** Writes handed to the socket whose completion callback has not run yet. */
  pending = 0
  /** Set when a ping went out; cleared by the pong. Still set at the check: the peer is gone. */
  awaitingPong = false
  /** Why the hub is ending this connection, once it has decided to; undefined while healthy. */
  endReason: DisconnectReason | undefined = undefined
  /** True once the hub has forgotten the connection and written off its pending count. */
  ended = false

  constructor(
    readonly uid: string,
    readonly socket: WebSocket,
    private readonly owner: ConnectionOwner,
  ) {}

  /**
   * Hands one text frame to the socket. Returns false, without writing, when the
   * connection is closing or when the frame would push its unsent bytes past the
   * slow-consumer bound; in the latter case the owner is told to cut it off.
   */
  write(frame: Buffer, sentAt: number): boolean {
    const socket = this.socket
    if (this.endReason !== undefined || socket.readyState !== WebSocket.OPEN) return false
    if (socket.bufferedAmount + frame.length > this.owner.maxBufferedBytes) {
      this.owner.onSlowConsumer(this)
      return false
    }
    this.pending++
    this.owner.addPending(1)
    socket.send(frame, TEXT_FRAME, (error) => this.owner.onWritten(this, sentAt, error))
    return true
  }
}
