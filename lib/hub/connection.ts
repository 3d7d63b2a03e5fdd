// One WebSocket connection's life inside the hub: its user, the frames queued for it,
// and whether it answered the last heartbeat ping. The hub (hub.ts) decides when a
// connection starts and ends; this file owns the write path.
//
// The first frame for a socket in an event-loop turn is written at once; frames that
// follow it in the same turn queue on the connection, and the hub flushes every queue
// at the end of the turn (setImmediate), so a burst of messages to one socket costs two
// syscalls, not one per message. Frames are prebuilt (frame.ts) and go straight to the
// TCP socket under `ws`, in order with the control frames `ws` writes.
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'
import { MessageFrames, type MessageMeta } from './envelope.js'
import { directSocket, FallbackWriter } from './raw-socket.js'
import { RateBucket } from '../limits/rate-bucket.js'
import type { TopicStream } from './topic-streams.js'

export type DisconnectReason =
  | 'client_closed' // the peer closed or the TCP connection dropped
  | 'slow_consumer' // unsent bytes passed maxBufferedBytes
  | 'heartbeat_timeout' // no pong within the heartbeat timeout
  | 'shutdown' // the hub closed it (app.close(), SIGTERM)
  | 'protocol_error' // a framed client sent a frame that is not an ack
  | 'token_expired' // the credentials it was opened with expired (close 4001)
  | 'frame_flood' // it sent frames faster than maxInboundFramesPerSecond (close 1008)
  | 'kicked' // the backend disconnected its user (close 4002, or 4003 for good)
  | 'revoked' // the backend revoked its token (close 4004)
  | 'refresh_refused' // an in-band token refresh failed (close 4005)

/** What a connection needs from its hub; kept narrow so the write path is easy to follow. */
export interface ConnectionOwner {
  readonly maxBufferedBytes: number
  /** Inbound frames a connection may send per second on average; 0: no limit. */
  readonly maxInboundFramesPerSecond: number
  /** Topic subscribe requests a connection may send per second on average; 0: no limit. */
  readonly maxSubscribesPerSecond: number
  /** The connection has frames queued and wants a flush this turn. */
  scheduleFlush(connection: Connection): void
  /** Frames sent at `sentAt` (one time, or one per frame) finished: written, or failed with `error`. */
  onWritten(connection: Connection, sentAt: number | number[], error: Error | null | undefined): void
  onSlowConsumer(connection: Connection): void
  addPending(count: number): void
}

const EMPTY = Buffer.alloc(0)
const NOTHING_HELD: readonly HeldMessage[] = []

/** How a client asked to be spoken to when it connected. */
export interface ConnectionOptions {
  /** The framed protocol (envelope.ts): JSON envelopes, acks, resume. */
  framed?: boolean
  /** Framed clients: the last seq they saw; the replay starts after it. */
  since?: number
  /** When the credentials the connection was opened with expire, in ms since the epoch. */
  expiresAt?: number
  /** When those credentials were issued (a JWT's `iat`), in ms since the epoch: a revocation cuts by it. */
  issuedAt?: number
  /** The TCP socket the upgrade came on (request.raw.socket), for writing frames directly. */
  tcp?: Socket
  /** Topics to watch from the start (a token's `topics` claim), checked by the caller. */
  topics?: readonly string[]
}

/** A client may send this many seconds' worth of its inbound frame rate at once. */
export const INBOUND_BURST_SECONDS = 10
/** Subscribe requests a client may send at once: a page that opens with this many topics is not refused. */
export const SUBSCRIBE_BURST = 100

/**
 * Messages held back, in the order to write them: the stored ones (with meta) in
 * ascending seq, each in a stored one's place, the others where they came.
 */
export function inSeqOrder<T extends { meta: MessageMeta | undefined }>(held: T[]): T[] {
  const stored = held.filter((m) => m.meta !== undefined).sort((a, b) => a.meta!.seq - b.meta!.seq)
  let next = 0
  return held.map((m) => (m.meta === undefined ? m : stored[next++]!))
}

/** A stored message written to a connection by a replay. */
export interface ReplayedMessage {
  data: string
  meta: MessageMeta
}

/** A message that arrived while the connection's replay was running, written after it. */
export interface HeldMessage {
  message: string | Buffer
  meta: MessageMeta | undefined
}

export class Connection {
  /** Frames accepted for this connection whose write has not completed: queued or in the socket. */
  pending = 0
  /** Set when a ping went out; cleared by the pong. Still set at the check: the peer is gone. */
  awaitingPong = false
  /** Why the hub is ending this connection, once it has decided to; undefined while healthy. */
  endReason: DisconnectReason | undefined = undefined
  /** True once the hub has forgotten the connection and written off its pending count. */
  ended = false
  /** Speaks the framed protocol. */
  readonly framed: boolean
  /**
   * Every durable message of the user up to this seq has been written to this
   * connection, or is closed (acknowledged, expired), or the client said it had it
   * (`since`): a live message at or below it is not written again.
   */
  seq: number
  /**
   * While a replay of stored messages is running, live messages wait here so that they
   * reach the client after the older stored ones; null otherwise.
   */
  held: HeldMessage[] | null = null
  /** When its credentials expire (ms since the epoch); 0: never. */
  expiresAt: number
  /** When its credentials were issued (ms since the epoch); 0: unknown (revoked by any cut). */
  issuedAt: number
  /** The hub's expiry slot for it, while one is scheduled; -1 otherwise. */
  expirySlot = -1
  /** The topics it watches (topics.ts); null until its first subscription, to keep idle connections small. */
  topics: Set<string> | null = null
  /** Framed connections: where it is in each topic's stream of stored messages (topic-streams.ts); null until the first. */
  topicStreams: Map<string, TopicStream> | null = null
  /** Bytes of live messages held back, by the user's replay or by topic streams catching up. */
  heldBytes = 0
  /** Inbound frames it may still send now, refilled at the owner's rate; made at its first frame, not per handshake. */
  private inbound: RateBucket | null = null
  /** Topic subscribe requests it may still send now; made at its first. */
  private subscribes: RateBucket | null = null

  /** The TCP socket to write frames to directly (raw-socket.ts); undefined: through ws.send. */
  private readonly tcp: Socket | undefined
  /** Only when frames go through ws.send: its sends in flight (nothing per connection otherwise). */
  private fallback: FallbackWriter | undefined
  /** A frame went out this turn; later ones queue until the hub's flush. */
  private flushScheduled = false
  private queue: Buffer[] | null = null
  private queueSentAt: number[] | null = null
  private queueBytes = 0

  constructor(
    readonly uid: string,
    readonly socket: WebSocket,
    private readonly owner: ConnectionOwner,
    options: ConnectionOptions = {},
  ) {
    this.tcp = directSocket(socket, options.tcp)
    this.framed = options.framed === true
    this.seq = options.since ?? 0
    this.expiresAt = options.expiresAt ?? 0
    this.issuedAt = options.issuedAt ?? 0
  }

  /** The client's address, for log lines (undefined once the socket is gone). */
  get remoteAddress(): string | undefined {
    return this.tcp?.remoteAddress
  }

  /**
   * Counts one inbound frame (data or ping) against the connection's rate; false when it
   * has used up its burst and its rate: the client floods, and the owner cuts it off.
   */
  takeInboundFrame(): boolean {
    const rate = this.owner.maxInboundFramesPerSecond
    return rate === 0 || (this.inbound ??= new RateBucket()).take(rate, rate * INBOUND_BURST_SECONDS, performance.now())
  }

  /** Counts one topic subscribe request against the owner's rate (bursts of SUBSCRIBE_BURST); false past it. */
  takeSubscribe(): boolean {
    const rate = this.owner.maxSubscribesPerSecond
    return rate === 0 || (this.subscribes ??= new RateBucket()).take(rate, Math.max(SUBSCRIBE_BURST, rate), performance.now())
  }

  /** Still open, and not being ended by the hub: frames can be written. */
  get writable(): boolean {
    return this.endReason === undefined && !this.ended && this.socket.readyState === WebSocket.OPEN
  }

  /** Bytes accepted for this connection and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return (this.tcp === undefined ? this.socket.bufferedAmount : this.tcp.writableLength) + this.queueBytes
  }

  /**
   * Queues one prebuilt frame. Returns false, without queueing, when the connection is
   * closing or when the frame would push its unsent bytes past the slow-consumer bound;
   * in the latter case the owner is told to cut it off.
   */
  enqueue(frame: Buffer, sentAt: number): boolean {
    if (this.endReason !== undefined || this.socket.readyState !== WebSocket.OPEN) return false
    if (this.bufferedBytes + frame.length > this.owner.maxBufferedBytes) {
      this.owner.onSlowConsumer(this)
      return false
    }
    this.pending++
    this.owner.addPending(1)
    if (!this.flushScheduled) {
      // The first frame for this socket this turn goes out at once, for the lowest
      // latency; frames that follow it within the turn queue and leave together.
      this.flushScheduled = true
      this.owner.scheduleFlush(this)
      this.write(frame, sentAt)
    } else {
      ;(this.queue ??= []).push(frame)
      ;(this.queueSentAt ??= []).push(sentAt)
      this.queueBytes += frame.length
    }
    return true
  }

  /** Writes, with one syscall, what queued since the turn's first frame. */
  flush(): void {
    const frames = this.queue
    const sentAt = this.queueSentAt
    this.discardQueue()
    if (frames === null || sentAt === null || this.ended) return
    this.write(frames, sentAt)
  }

  /** Hands one frame, or several as one write, to the socket; reports them once the kernel has them. */
  private write(frames: Buffer | Buffer[], sentAt: number | number[]): void {
    // Once ws has begun the closing handshake no data frame may follow its close frame.
    if (this.socket.readyState !== WebSocket.OPEN) {
      this.owner.onWritten(this, sentAt, new Error('connection closing'))
      return
    }
    const tcp = this.tcp
    if (tcp === undefined) {
      return (this.fallback ??= new FallbackWriter(this.socket)).write(frames, (error) => this.owner.onWritten(this, sentAt, error))
    }
    if (!Array.isArray(frames)) {
      tcp.write(frames)
    } else {
      tcp.cork()
      for (const frame of frames) tcp.write(frame)
      tcp.uncork()
    }
    // Usually the kernel takes everything at once: report now, with no callback and no
    // closure per write. Otherwise a zero-length write's callback tells when the bytes
    // queued before it have gone (writes complete in order), or that the socket died.
    if (tcp.writableLength === 0) this.owner.onWritten(this, sentAt, null)
    else tcp.write(EMPTY, (error) => this.owner.onWritten(this, sentAt, error))
  }

  /**
   * Makes live messages wait until the hub's release(), so that a replay of older stored
   * messages reaches the client first. Call it from the hub's 'connect' event
   * (synchronously, before any send can reach the connection).
   */
  holdBack(): void {
    this.held ??= []
  }

  /**
   * Writes stored messages, in order, until `room` unsent bytes would be passed (the
   * caller waits for the client to read, then goes on) or a frame is refused; returns
   * how many it wrote. A frame goes out whatever its size when nothing is unsent.
   * Messages of `topic` say so, and leave the user's own seq alone.
   */
  replay(messages: ReplayedMessage[], sentAt: number, room: number, topic?: string): number {
    let written = 0
    for (const { data, meta } of messages) {
      const frame = new MessageFrames(data, meta, topic).for(this.framed)
      if (this.bufferedBytes > 0 && this.bufferedBytes + frame.length > room) break
      if (!this.enqueue(frame, sentAt)) break
      if (this.framed && topic === undefined) this.seq = meta.seq
      written++
    }
    return written
  }

  /**
   * Whether `bytes` more may wait for this connection (held back, besides what it has
   * unsent) within the slow-consumer bound; if not, the owner is told to cut it off.
   */
  canHold(bytes: number): boolean {
    if (this.bufferedBytes + this.heldBytes + bytes <= this.owner.maxBufferedBytes) return true
    this.owner.onSlowConsumer(this)
    return false
  }

  /**
   * Keeps a live message until the replay is done (see `held`). Returns false, without
   * keeping it, when held and unsent bytes together would pass the slow-consumer bound;
   * the owner is then told to cut the connection off.
   */
  hold(message: string | Buffer, meta: MessageMeta | undefined): boolean {
    if (this.endReason !== undefined || this.held === null) return false
    if (!this.canHold(message.length)) return false
    this.heldBytes += message.length
    this.held.push({ message, meta })
    return true
  }

  /** Stops holding; returns what was held, the durable messages in ascending seq (each in a durable one's place). */
  takeHeld(): readonly HeldMessage[] {
    const held = this.held
    // Most connections never hold anything: their end costs no arrays.
    if (held === null) return NOTHING_HELD
    this.held = null
    for (const { message } of held) this.heldBytes -= message.length
    return inSeqOrder(held)
  }

  /**
   * Takes one live message so that the client sees its user's durable seqs in ascending
   * order, each once: one it has already is skipped (and counts as taken); while a
   * replay runs it is held; with `fillGaps`, a framed client that would see it ahead of
   * a message it has not had yet holds it too, and 'gap' asks the owner to fill the gap
   * from the store and release(). An ack covers everything up to a seq, so a message
   * written out of order could be acknowledged unseen.
   */
  offer(frames: MessageFrames, sentAt: number, fillGaps: boolean): 'taken' | 'refused' | 'gap' {
    const meta = frames.meta
    if (meta !== undefined && meta.seq <= this.seq) return 'taken'
    if (this.held !== null) return this.hold(frames.message, meta) ? 'taken' : 'refused'
    if (meta !== undefined && this.framed && fillGaps && meta.seq > this.seq + 1) {
      this.holdBack()
      return this.hold(frames.message, meta) ? 'gap' : 'refused'
    }
    if (!this.enqueue(frames.for(this.framed), sentAt)) return 'refused'
    if (meta !== undefined && this.framed) this.seq = meta.seq
    return 'taken'
  }

  /** Closes a framed connection that sent something other than an ack, saying what it should send. */
  refuse(reason: string): void {
    this.endReason = 'protocol_error'
    this.socket.close(CloseCode.POLICY_VIOLATION, reason)
  }

  /** Resolves once every frame accepted so far is in the kernel's hands, or the connection ended. */
  async drained(): Promise<void> {
    // Frames queued this turn reach the socket at the hub's flush.
    if (this.queue !== null) await new Promise<void>((resolve) => setImmediate(resolve))
    const tcp = this.tcp
    if (tcp === undefined) return new Promise((resolve) => (this.fallback ??= new FallbackWriter(this.socket)).afterWrites(() => resolve()))
    if (this.ended || tcp.writableLength === 0) return
    // Writes complete in order: a zero-length write's callback says when the bytes before
    // it have gone, or that the socket died ('drain' comes only after a refused write).
    await new Promise<void>((resolve) => tcp.write(EMPTY, () => resolve()))
  }

  /** Forgets queued frames: written by flush(), or never to be written (the connection is ending). */
  discardQueue(): void {
    this.flushScheduled = false
    this.queue = null
    this.queueSentAt = null
    this.queueBytes = 0
  }
}
