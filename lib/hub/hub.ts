// The hub: who is connected (every connection of every user), how a message reaches
// them, and the exact `pending` count the Go original exposed. Framework-free: the
// Fastify plugins wire it in, tests and embedders can drive it directly.
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'
import { type CloseFrame, closeAllGoingAway, closeWithGrace, CUTS, type CutReason, FOR_GOOD } from './closing.js'
import { Connection, type ConnectionOptions, type ConnectionOwner, type DisconnectReason } from './connection.js'
import { MessageFrames, type MessageMeta, parseClientFrame, refreshedFrame } from './envelope.js'
import { HubTopics } from './hub-topics.js'
import type { TopicHistoryReader } from './topic-streams.js'
import { DEFAULT_MAX_TOPIC_LENGTH } from '../topics/name.js'
import { ExpiryWheel } from './expiry-wheel.js'
import { TokenRefresh } from './token-refresh.js'
import { textFrame } from './frame.js'
import { Heartbeat } from './heartbeat.js'
import type { HubEvents, HubOptions, HubStats, RefreshVerifier, TopicAuthorizer, TopicChange } from './hub-types.js'

export type { HubEvents, HubOptions, HubStats, RefreshedCredentials, RefreshVerifier, TopicAuthorizer, TopicChange, TopicRefusal } from './hub-types.js'

const kConnection = Symbol('pusher.connection')

type SocketWithConnection = WebSocket & { [kConnection]: Connection }

function onSocketPong(this: WebSocket): void {
  ;(this as SocketWithConnection)[kConnection].awaitingPong = false
}

export class Hub extends EventEmitter<HubEvents> implements ConnectionOwner {
  readonly maxBufferedBytes: number
  readonly maxInboundFramesPerSecond: number
  readonly maxSubscribesPerSecond: number
  readonly maxTopicsPerConnection: number
  readonly maxTopicLength: number
  readonly stats: HubStats = {
    connectionsOpened: 0,
    disconnects: {
      client_closed: 0, slow_consumer: 0, heartbeat_timeout: 0, shutdown: 0, protocol_error: 0, token_expired: 0, frame_flood: 0,
      kicked: 0, revoked: 0, refresh_refused: 0,
    },
    framesWritten: 0,
    framesFailed: 0,
    refreshes: { ok: 0, refused: 0 },
    topics: { publishes: 0, delivered: 0, replayed: 0 },
  }
  /** Called with each completed write's send-to-write latency in seconds (the metrics plugin sets it). */
  recordLatency: (seconds: number) => void = () => {}
  /**
   * Checks the token of a framed client's in-band refresh (the auth plugin sets it from
   * the authenticator). Undefined: refresh is not supported, and a refresh frame closes
   * its connection with 4005.
   */
  verifyRefresh: RefreshVerifier | undefined = undefined
  /**
   * Decides a framed client's subscribe (the auth plugin sets it: topic tokens, or the
   * authorizeTopic hook). Undefined: every subscribe from a client is refused.
   */
  authorizeTopic: TopicAuthorizer | undefined = undefined
  /** Called with the time one publish took to reach every subscriber of this hub, in seconds (the metrics plugin sets it). */
  recordFanout: (seconds: number) => void = () => {}

  private readonly users = new Map<string, Set<Connection>>()
  private readonly heartbeat: Heartbeat
  private readonly expiry: ExpiryWheel<Connection>
  private readonly closeGraceMs: number
  private openConnections = 0
  private pendingCount = 0
  private closing = false
  private drainWaiters: Array<() => void> = []
  /** Connections with queued frames, flushed together at the end of this event-loop turn. */
  private dirty: Connection[] = []
  private flushScheduled = false
  private readonly refresh: TokenRefresh
  /** Who watches which topic here, and publishing to them (hub-topics.ts). */
  private readonly topicsHere: HubTopics

  /** The 'close' listener of every socket: ws calls it with the socket as `this`. */
  private readonly onSocketClose: (this: WebSocket) => void
  /** The 'message' listener of framed sockets: acks and refreshes, or a close with the reason. */
  private readonly onFramedMessage: (this: WebSocket, data: Buffer, isBinary: boolean) => void
  /** The 'message' and 'ping' listener of plain sockets: their frames only count against the inbound limit. */
  private readonly onInboundFrame: (this: WebSocket) => void

  constructor(options: HubOptions) {
    super()
    const hub = this
    this.onSocketClose = function onSocketClose(this: WebSocket) {
      const connection = (this as SocketWithConnection)[kConnection]
      hub.end(connection, connection.endReason ?? 'client_closed')
    }
    this.onFramedMessage = function onFramedMessage(this: WebSocket, data: Buffer, isBinary: boolean) {
      const connection = (this as SocketWithConnection)[kConnection]
      if (connection.endReason !== undefined) return
      if (!connection.takeInboundFrame()) return hub.drop(connection, 'frame_flood')
      const frame = parseClientFrame(data, isBinary)
      if ('error' in frame) connection.refuse(frame.error)
      else if (frame.type === 'ack') hub.emit('ack', connection, frame.seq)
      else if (frame.type === 'refresh') hub.refresh.take(connection, frame.token)
      else hub.topicsHere.take(connection, frame)
    }
    this.onInboundFrame = function onInboundFrame(this: WebSocket) {
      const connection = (this as SocketWithConnection)[kConnection]
      if (connection.endReason === undefined && !connection.takeInboundFrame()) hub.drop(connection, 'frame_flood')
    }
    this.maxBufferedBytes = options.maxBufferedBytes
    this.maxInboundFramesPerSecond = options.maxInboundFramesPerSecond ?? 0
    this.maxSubscribesPerSecond = options.maxSubscribesPerSecond ?? 10
    this.maxTopicsPerConnection = options.maxTopicsPerConnection ?? 100
    this.maxTopicLength = options.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH
    this.topicsHere = new HubTopics({
      maxTopicsPerConnection: this.maxTopicsPerConnection,
      maxTopicLength: this.maxTopicLength,
      counts: this.stats.topics,
      events: this,
      authorizer: () => this.authorizeTopic,
      reply: (connection, text) => this.reply(connection, text),
      recordFanout: (seconds) => this.recordFanout(seconds),
      // As for a user's replay (lib/store/replay.ts): half the slow-consumer bound.
      replayRoom: Math.floor(this.maxBufferedBytes / 2),
    })
    this.expiry = new ExpiryWheel((connection) => {
      connection.expirySlot = -1
      this.drop(connection, 'token_expired')
    })
    this.closeGraceMs = options.closeGraceMs ?? 1000
    this.refresh = new TokenRefresh({
      verifier: () => this.verifyRefresh,
      counts: this.stats.refreshes,
      renew: (connection, credentials) => {
        connection.expiresAt = credentials.expiresAt
        connection.issuedAt = credentials.issuedAt
        this.scheduleExpiry(connection)
        this.reply(connection, refreshedFrame(connection.expiresAt))
      },
      refuse: (connection, reason) => this.drop(connection, 'refresh_refused', { code: CloseCode.REFRESH_REFUSED, reason }),
    })
    this.heartbeat = new Heartbeat(options.heartbeatIntervalMs, options.heartbeatTimeoutMs, {
      connections: () => this.connections(),
      connectionCount: () => this.openConnections,
      onTimeout: (connection) => this.drop(connection, 'heartbeat_timeout'),
    })
  }

  /** Open connections, every user counted once per connection. */
  get connectionCount(): number {
    return this.openConnections
  }

  /** Frames handed to sockets whose write has not completed yet (the Go original's `pending`). */
  get pending(): number {
    return this.pendingCount
  }

  /** Users with at least one open connection. */
  get userCount(): number {
    return this.users.size
  }

  /** True once close() has begun: new connections must be refused. */
  get isClosing(): boolean {
    return this.closing
  }

  /** Resolves once `pending` is 0: every handed-over frame written, or its connection gone. */
  drained(): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  isOnline(uid: string): boolean {
    return this.users.has(uid)
  }

  /** Open connections of `uid` on this hub. */
  connectionsOf(uid: string): number {
    return this.users.get(uid)?.size ?? 0
  }

  /** Every user with at least one connection, with how many. */
  *userConnections(): IterableIterator<[uid: string, connections: number]> {
    for (const [uid, set] of this.users) yield [uid, set.size]
  }

  /** Topics with at least one subscriber on this hub. */
  get topicCount(): number {
    return this.topicsHere.index.topicCount
  }

  /** Subscriptions on this hub, one per connection and topic. */
  get subscriptionCount(): number {
    return this.topicsHere.index.subscriptions
  }

  /** Every topic with subscribers on this hub. */
  topics(): IterableIterator<string> {
    return this.topicsHere.index.topics()
  }

  /** Subscribers of `topic` on this hub, and how many users they belong to. */
  topicSubscribers(topic: string): { subscribers: number; users: number } {
    return this.topicsHere.index.countsOf(topic)
  }

  /** Makes `connection` watch `topic`, within maxTopicsPerConnection; the name is the caller's to check. */
  subscribe(connection: Connection, topic: string): 'subscribed' | 'already' | 'too_many' {
    return this.topicsHere.subscribe(connection, topic)
  }

  /** Stops `connection` watching `topic`; false if it did not. */
  unsubscribe(connection: Connection, topic: string): boolean {
    return this.topicsHere.unsubscribe(connection, topic)
  }

  /**
   * Reads topic histories with `reader` (the store plugin calls it): framed subscribers
   * then get stored topic messages once each, in order, and resume with `since`.
   */
  useTopicHistory(reader: TopicHistoryReader): void {
    this.topicsHere.useHistory(reader)
  }

  /**
   * Subscribes every open connection of `uid` on this hub to `subscribe` and out of
   * `unsubscribe` (names the caller has checked); framed ones are told each change.
   * Says what changed.
   */
  changeTopics(uid: string, subscribe: readonly string[], unsubscribe: readonly string[]): TopicChange {
    return this.topicsHere.change(this.users.get(uid) ?? [], subscribe, unsubscribe)
  }

  /**
   * Writes `message` to every subscriber of `topic` on this hub: plain clients get the
   * text, framed ones an envelope naming the topic. Returns how many took it.
   */
  publish(topic: string, message: string | Buffer, meta?: MessageMeta): number {
    return this.topicsHere.publish(topic, message, meta)
  }

  /** Every open connection; a live view, safe to end connections while iterating. */
  *connections(): IterableIterator<Connection> {
    for (const set of this.users.values()) yield* set
  }

  /** Takes an upgraded socket into the hub under `uid`. */
  add(uid: string, socket: WebSocket, options: ConnectionOptions = {}): Connection {
    if (this.closing) throw new Error('hub is closing; refuse the connection before upgrading it')
    const connection = new Connection(uid, socket, this, options)
    let set = this.users.get(uid)
    if (set === undefined) this.users.set(uid, (set = new Set()))
    set.add(connection)
    this.openConnections++
    this.stats.connectionsOpened++
    // Shared listeners, not closures per connection: they find the connection on the socket.
    ;(socket as SocketWithConnection)[kConnection] = connection
    socket.on('close', this.onSocketClose)
    socket.on('pong', onSocketPong)
    // Plain clients' frames are ignored, as go-pusher did, but counted; framed clients send acks.
    if (connection.framed) socket.on('message', this.onFramedMessage)
    else if (this.maxInboundFramesPerSecond > 0) socket.on('message', this.onInboundFrame)
    // ws answers every ping with a pong: a ping flood costs writes, so pings count too.
    if (this.maxInboundFramesPerSecond > 0) socket.on('ping', this.onInboundFrame)
    this.scheduleExpiry(connection)
    this.heartbeat.start()
    // The token's topics (checked by the auth plugin), watched before any publish can miss them.
    if (options.topics !== undefined) for (const topic of options.topics) this.subscribe(connection, topic)
    this.emit('connect', connection)
    return connection
  }

  /**
   * Writes `message` to every connection of `uid`; `meta` marks a durable message
   * (framed clients get its id and seq). Returns how many connections took it; 0 means
   * the user is offline (or every connection of theirs was cut off).
   */
  send(uid: string, message: string | Buffer, meta?: MessageMeta): number {
    const set = this.users.get(uid)
    let written = 0
    if (set !== undefined) written = this.writeAll(set, new MessageFrames(message, meta), performance.now())
    return written
  }

  /** Writes `message` to every open connection. Returns how many took it. */
  broadcast(message: string | Buffer): number {
    const frames = new MessageFrames(message, undefined)
    const sentAt = performance.now()
    let written = 0
    for (const set of this.users.values()) written += this.writeAll(set, frames, sentAt)
    return written
  }

  /**
   * Closes every connection of `uid` on this hub: with 4002 (the client may reconnect)
   * or, with `reconnect: false`, 4003 (it must not). Returns how many were closed.
   */
  disconnect(uid: string, options: { reconnect?: boolean } = {}): number {
    return this.dropEach(uid, 'kicked', options.reconnect === false ? FOR_GOOD : CUTS.kicked, () => true)
  }

  /**
   * Closes, with 4004, every connection of `uid` opened with credentials issued before
   * `cutMs` (ms since the epoch; credentials without an issue time count as before any
   * cut). Returns how many were closed.
   */
  revoke(uid: string, cutMs: number): number {
    return this.dropEach(uid, 'revoked', CUTS.revoked, (connection) => connection.issuedAt < cutMs)
  }

  /**
   * Ends Connection.holdBack(): the connection has every durable message up to `coveredSeq`
   * (written by the replay, or closed); the held ones after it go out in order, checked
   * for gaps unless `checkGaps` is false (the store could not be read).
   */
  release(connection: Connection, coveredSeq: number, checkGaps = true): void {
    if (coveredSeq > connection.seq) connection.seq = coveredSeq
    const held = connection.takeHeld()
    const sentAt = performance.now()
    for (const { message, meta } of held) {
      if (!this.deliver(connection, new MessageFrames(message, meta), sentAt, checkGaps)) return
    }
  }

  /**
   * Closes every connection with 1001 and waits, at most `timeoutMs`, for their queued
   * frames to flush and the peers to finish the closing handshake; stragglers are
   * destroyed. Resolves once every connection is gone and `pending` is 0.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true
    this.heartbeat.stop()
    this.expiry.stop()
    // What was sent before the close must reach the wire before the close frame does.
    this.flushAll()
    const open = [...this.connections()]
    for (const connection of open) connection.endReason = 'shutdown'
    await closeAllGoingAway(open.map((connection) => connection.socket), timeoutMs)
  }

  // ConnectionOwner: called by Connection on its write path.

  addPending(count: number): void {
    this.pendingCount += count
  }

  scheduleFlush(connection: Connection): void {
    this.dirty.push(connection)
    if (this.flushScheduled) return
    this.flushScheduled = true
    // setImmediate, not nextTick: it runs after every I/O callback of this turn, so all
    // the sends that arrive together are in the queues before anything is written.
    setImmediate(this.flushAll)
  }

  onWritten(connection: Connection, sentAt: number | number[], error: Error | null | undefined): void {
    // An ended connection's pending writes were written off when it ended.
    if (connection.ended) return
    const count = typeof sentAt === 'number' ? 1 : sentAt.length
    connection.pending -= count
    this.pendingCount -= count
    if (this.pendingCount === 0 && this.drainWaiters.length > 0) this.wakeDrainWaiters()
    if (error) {
      this.stats.framesFailed += count
      return
    }
    this.stats.framesWritten += count
    const now = performance.now()
    if (typeof sentAt === 'number') this.recordLatency((now - sentAt) / 1000)
    else for (let i = 0; i < count; i++) this.recordLatency((now - sentAt[i]!) / 1000)
  }

  onSlowConsumer(connection: Connection): void {
    this.drop(connection, 'slow_consumer')
  }

  /** Writes a control frame (an answer to the client) to `connection`. */
  private reply(connection: Connection, text: string): void {
    connection.enqueue(textFrame(text), performance.now())
  }

  private writeAll(set: Set<Connection>, frames: MessageFrames, sentAt: number): number {
    let written = 0
    for (const connection of set) if (this.deliver(connection, frames, sentAt, true)) written++
    return written
  }

  /** Connection.offer(), and the store asked to fill a gap when there is one. */
  private deliver(connection: Connection, frames: MessageFrames, sentAt: number, fillGaps: boolean): boolean {
    const outcome = connection.offer(frames, sentAt, fillGaps && frames.meta !== undefined && this.listenerCount('gap') > 0)
    if (outcome === 'gap') this.emit('gap', connection)
    return outcome !== 'refused'
  }

  /**
   * Ends a connection the hub gave up on. A slow consumer, an expired token, a frame
   * flood or a kick gets a close frame with its own code (`close`, CUTS by default),
   * queued behind what the client has not read yet, and `closeGraceMs` to read it (a
   * flooding client is no longer read from); a peer that stopped answering pings cannot
   * read anything, so it is destroyed.
   */
  private drop(connection: Connection, reason: 'heartbeat_timeout' | CutReason, close: CloseFrame = CUTS[reason as CutReason]): void {
    if (connection.endReason !== undefined) return
    connection.endReason = reason
    this.end(connection, reason)
    const socket = connection.socket
    if (reason === 'heartbeat_timeout') {
      socket.terminate()
      return
    }
    closeWithGrace(socket, close, this.closeGraceMs, reason === 'frame_flood')
  }

  /** drop() for every connection of `uid` that `which` picks; returns how many. */
  private dropEach(uid: string, reason: 'kicked' | 'revoked', close: CloseFrame, which: (connection: Connection) => boolean): number {
    const set = this.users.get(uid)
    if (set === undefined) return 0
    let closed = 0
    // A copy: drop() takes each connection out of the set.
    for (const connection of [...set]) {
      if (connection.endReason !== undefined || !which(connection)) continue
      this.drop(connection, reason, close)
      closed++
    }
    return closed
  }

  /** Puts the connection's expiry in the wheel, in place of the one it had (a refreshed token). */
  private scheduleExpiry(connection: Connection): void {
    if (connection.expirySlot !== -1) this.expiry.cancel(connection, connection.expirySlot)
    connection.expirySlot = connection.expiresAt > 0 ? this.expiry.schedule(connection, connection.expiresAt) : -1
  }

  /** Forgets a connection: counts, user map, and the pending writes it will never finish. */
  private end(connection: Connection, reason: DisconnectReason): void {
    if (connection.ended) return
    connection.ended = true
    if (connection.expirySlot !== -1) this.expiry.cancel(connection, connection.expirySlot)
    this.topicsHere.index.removeAll(connection)
    connection.discardQueue()
    connection.takeHeld()
    this.pendingCount -= connection.pending
    connection.pending = 0
    if (this.pendingCount === 0 && this.drainWaiters.length > 0) this.wakeDrainWaiters()
    const set = this.users.get(connection.uid)
    if (set !== undefined && set.delete(connection) && set.size === 0) this.users.delete(connection.uid)
    this.openConnections--
    this.stats.disconnects[reason]++
    if (this.openConnections === 0) this.heartbeat.stop()
    this.emit('disconnect', connection, reason)
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false
    const dirty = this.dirty
    this.dirty = []
    for (const connection of dirty) connection.flush()
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const resolve of waiters) resolve()
  }
}
