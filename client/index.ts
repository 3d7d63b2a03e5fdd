// fastify-pusher/client: a client of the hub's framed protocol (pusher.framed.v1) for
// browsers and Node. It reconnects with backoff, resumes after the last seq it emitted,
// acks what it emitted, and drops what it has already emitted, so an app sees each
// durable message once and in order although the hub delivers at least once. Before its
// token expires it sends the hub a fresh one, so the connection outlives the token.
// It subscribes to topics, and again on each new connection (topics.ts).
//
// No Node-only import and no DOM types: the WebSocket is described structurally, so
// the same file bundles for a page and runs on Node with `ws`.
import { backoffDelay, type BackoffOptions } from './backoff.js'
import { Emitter } from './emitter.js'
import { ackFrame, parseServerFrame, type PusherMessage } from './frames.js'
import { InBandRefresh, type RefreshLink, tokenExpiresAt } from './refresh.js'
import type { SubscribeOptions, Subscription, TopicMessage } from './subscription.js'
import { Topics } from './topics.js'
import { CloseCode } from '../lib/hub/close-codes.js'
import { BEARER_PROTOCOL_PREFIX, PROTOCOL_FRAMED, PROTOCOL_TEXT } from '../lib/protocol.js'

export { backoffDelay, type BackoffOptions } from './backoff.js'
export type { Listener } from './emitter.js'
export type { PusherMessage } from './frames.js'
export type { SubscribedInfo, SubscribeOptions, Subscription, SubscriptionListeners, SubscriptionState, TopicError, TopicErrorReason, TopicMessage, TopicMessageInfo, TopicToken } from './subscription.js'
export { CloseCode } from '../lib/hub/close-codes.js'

/** The subprotocol this client speaks; a hub that does not select it is too old. */
export const PROTOCOL = PROTOCOL_FRAMED
// PROTOCOL_TEXT is offered too, but never spoken: a hub older than the framed protocol
// selects it, so the connection opens and the client can say what is wrong. Offering
// nothing it knows would make such a hub answer without a subprotocol, which browsers
// and ws turn into an unexplained handshake failure (close code 1006).

/** What the client needs of a WebSocket: the browser's, or `ws`'s on Node. */
export interface WebSocketLike {
  readonly protocol: string
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  // `any` because browsers and `ws` type their events differently; the client reads
  // only `data`, `code`, `reason` and `message`, and checks them.
  onopen: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike

export interface PusherClientOptions {
  /** The hub's WebSocket endpoint: `ws(s)://host[:port][/prefix]/ws`. */
  url: string
  /**
   * The user's JWT, or a function returning one. A function is called before every
   * connection attempt, reconnects included: a refused token is an HTTP 401 before the
   * upgrade, which a browser only reports as close code 1006, so the client cannot
   * tell an expired token from a network error and always asks for a fresh one.
   * A function is also called ahead of the token's `exp` (at 80% of its remaining life,
   * or 30 s before it, whichever is sooner), and the fresh token is sent on the open
   * connection, which then lasts until the new `exp`. Should the hub close the connection
   * for its token anyway (4001 expired, 4004 revoked, 4005 refresh refused), the client calls the
   * function and reconnects at once.
   */
  token: string | (() => string | Promise<string>)
  /**
   * The seq of the last durable message the app has handled (for example kept in
   * localStorage); the client resumes after it and drops messages up to it. Default 0:
   * everything the hub still keeps for the user.
   */
  lastSeq?: number
  /** Delays between connection attempts; see backoffDelay. */
  backoff?: BackoffOptions & {
    /** A connection that stays open this long resets the delays to the first one. Default 5000 ms. */
    resetAfterMs?: number
  }
  /**
   * Acks are coalesced: one ack, for the highest seq emitted, this many ms after the
   * first unacked message. Default 50. `close()` acks at once.
   */
  ackDelayMs?: number
  /** The WebSocket class. Default `globalThis.WebSocket`; on Node 20 pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketConstructor
}

export interface CloseEventInfo {
  code: number
  reason: string
  /**
   * False once the client has stopped for good: close() was called, the hub refused it for
   * a reason a retry would not fix, or the backend disconnected the user for good (4003).
   */
  willReconnect: boolean
}

export interface PusherClientEvents {
  /** A message, once; durable ones in seq order, after the last one emitted. */
  message: PusherMessage
  /** A connection is open and speaks the framed protocol. */
  open: void
  /** The hub took a fresh token on the open connection, which now lasts until `expiresAt` (ms since the epoch; null: for good). */
  refresh: { expiresAt: number | null }
  /** A connection or a connection attempt ended. */
  close: CloseEventInfo
  /** Something went wrong that the client reports and, unless a close says otherwise, survives. */
  error: Error
  /**
   * Every message published to a topic the connection watches: subscribed with
   * `subscribe()` (emitted after the subscription's own `message`), by the token's
   * `topics` claim, or by the backend.
   */
  topicMessage: TopicMessage
}

// Close codes after which reconnecting would fail the same way: the hub refused a
// frame this client sent, so this client and that hub do not agree on the protocol
// (unless the frame was a refresh, which the client can stop sending: see onClose).
const FINAL_CLOSE_CODES = new Set<number>([CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG])
// After these a fresh token fixes it, so the client asks its token function again and
// reconnects at once, without a backoff delay, unless the connection lasted under a
// second (a token function handing out tokens that are already expiring must not make
// it reconnect in a tight loop).
const FRESH_TOKEN_CLOSE_CODES = new Set<number>([CloseCode.TOKEN_EXPIRED, CloseCode.TOKEN_REVOKED, CloseCode.REFRESH_REFUSED])
const MIN_LIFETIME_FOR_IMMEDIATE_RECONNECT_MS = 1000
const OPEN = 1
const DEFAULT_ACK_DELAY_MS = 50
const DEFAULT_RESET_AFTER_MS = 5000

/**
 * A connection to the hub that survives disconnects. Add listeners, then call
 * `connect()`; `close()` stops it for good.
 *
 * ```ts
 * const client = new PusherClient({ url: 'wss://push.example.com/ws', token: fetchToken })
 * client.on('message', (m) => { show(m.data); if (m.seq) localStorage.lastSeq = m.seq })
 * client.connect()
 * ```
 */
export class PusherClient extends Emitter<PusherClientEvents> {
  private readonly WebSocket: WebSocketConstructor
  private readonly url: URL
  private seq: number
  private socket: WebSocketLike | undefined
  private started = false
  /** close() was called, or the hub refused this client for good: no more connections. */
  private stopped = false
  /** Connection attempts since the last stable connection; drives the backoff. */
  private attempt = 0
  /** The highest seq acked on the current connection. */
  private ackedSeq = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private ackTimer: ReturnType<typeof setTimeout> | undefined
  private stableTimer: ReturnType<typeof setTimeout> | undefined
  /** When the current connection opened (Date.now()). */
  private openedAt = 0
  private closeWaiters: Array<() => void> = []
  private readonly topics: Topics
  private readonly refresh: InBandRefresh
  /** The current connection, as the in-band refresh sends on it. */
  private refreshLink: RefreshLink | undefined

  constructor(private readonly options: PusherClientOptions) {
    super()
    this.url = new URL(options.url)
    if (this.url.protocol !== 'ws:' && this.url.protocol !== 'wss:') throw new TypeError(`url must start with ws: or wss:, got ${options.url}`)
    const lastSeq = options.lastSeq ?? 0
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) throw new TypeError(`lastSeq must be a non-negative integer, got ${options.lastSeq}`)
    this.seq = lastSeq
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WebSocket === undefined) {
      throw new TypeError("this runtime has no global WebSocket (Node 20 has none): pass one, e.g. `import { WebSocket } from 'ws'` and the option `WebSocket`")
    }
    this.WebSocket = WebSocket
    this.topics = new Topics({
      backoff: options.backoff,
      topicMessage: (message) => this.emit('topicMessage', message),
      reportError: (error) => this.emit('error', error),
    })
    const { token } = options
    this.refresh = new InBandRefresh(typeof token === 'string' ? undefined : token, (error) => this.emit('error', asError(error, 'the token function failed')))
  }

  /** The seq of the last durable message emitted (or the `lastSeq` option until one is). */
  get lastSeq(): number {
    return this.seq
  }

  /**
   * The subscription of `topic`: made now (and sent to the hub once a connection is
   * open, then again on every reconnect), or the one made before, which a `token`
   * given now replaces, and which is asked for again if the hub refused it.
   * Throws a TypeError for a name that is not a topic name.
   */
  subscribe(topic: string, options: SubscribeOptions = {}): Subscription {
    if (this.stopped) throw new Error('this client was closed; create a new one')
    return this.topics.subscribe(topic, options)
  }

  /** Starts connecting; call once, after adding listeners. Returns the client. */
  connect(): this {
    if (this.stopped) throw new Error('this client was closed; create a new one')
    if (!this.started) {
      this.started = true
      onlineEvents()?.addEventListener('online', this.onOnline)
      void this.open()
    }
    return this
  }

  /**
   * Stops for good: acks what was emitted, closes the connection, cancels any reconnect.
   * Resolves once the connection has closed. Messages that arrive after the call are not
   * emitted (they were not acked, so the hub keeps them for the next client).
   */
  close(): Promise<void> {
    this.halt()
    clearTimeout(this.retryTimer)
    clearTimeout(this.ackTimer)
    this.refresh.stop()
    const socket = this.socket
    if (socket === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve)
      // On the next microtask, so that when a message listener calls close() the
      // message it is handling counts as emitted and is acked too.
      queueMicrotask(() => {
        this.sendAck()
        socket.close(1000)
      })
    })
  }

  /** No more connections: close() was called, or the hub said not to come back. */
  private halt(): void {
    this.stopped = true
    this.topics.stop()
    onlineEvents()?.removeEventListener('online', this.onOnline)
  }

  /**
   * A browser says the network is back: a client waiting out its backoff (after a long
   * outage, up to maxMs) tries at once, and from the first step of the backoff again.
   */
  private readonly onOnline = (): void => {
    if (this.stopped || this.retryTimer === undefined) return
    clearTimeout(this.retryTimer)
    this.attempt = 0
    void this.open()
  }

  private async open(): Promise<void> {
    this.retryTimer = undefined
    if (this.stopped) return
    let token: string
    try {
      token = typeof this.options.token === 'string' ? this.options.token : await this.options.token()
    } catch (error) {
      if (this.stopped) return
      this.emit('error', asError(error, 'the token function failed'))
      return this.scheduleReconnect()
    }
    if (this.stopped) return
    const url = new URL(this.url)
    if (this.seq > 0) url.searchParams.set('since', String(this.seq))
    let socket: WebSocketLike
    try {
      socket = new this.WebSocket(url.toString(), [PROTOCOL, PROTOCOL_TEXT, `${BEARER_PROTOCOL_PREFIX}${token}`])
    } catch (error) {
      // A token with characters a subprotocol cannot hold; a fresh one may not have them.
      this.emit('error', asError(error, 'the WebSocket could not be created'))
      return this.scheduleReconnect()
    }
    this.socket = socket
    const expiresAt = tokenExpiresAt(token)
    socket.onopen = () => this.onOpen(socket, expiresAt)
    socket.onmessage = (event: { data: unknown }) => this.onMessage(socket, event.data)
    socket.onerror = (event: { message?: unknown }) => this.onSocketError(socket, event)
    socket.onclose = (event: { code: number; reason: string }) => this.onClose(socket, event.code, event.reason)
  }

  private onOpen(socket: WebSocketLike, expiresAt: number | undefined): void {
    if (socket !== this.socket || this.stopped) return
    if (socket.protocol !== PROTOCOL) {
      // The hub ignored the offer: it sends bare text without seqs, nothing this client
      // can resume or ack. Not final: in a rolling upgrade the next node may be newer.
      this.emit('error', new Error(`the hub did not select the ${PROTOCOL} subprotocol (it selected ${socket.protocol === '' ? 'none' : `"${socket.protocol}"`}): it is older than this client`))
      socket.close(1000)
      return
    }
    this.openedAt = Date.now()
    const { resetAfterMs = DEFAULT_RESET_AFTER_MS } = this.options.backoff ?? {}
    this.stableTimer = setTimeout(() => { this.attempt = 0 }, resetAfterMs)
    // Ack again what may have been emitted but not acked before the last connection
    // dropped (or before the page was reloaded); acks are idempotent and cover
    // everything up to seq, so one frame settles it.
    if (this.seq > 0) socket.send(ackFrame(this.seq))
    this.ackedSeq = this.seq
    this.refreshLink = {
      send: (frame) => socket.send(frame),
      live: () => socket === this.socket && !this.stopped && socket.readyState === OPEN,
    }
    this.refresh.schedule(this.refreshLink, expiresAt)
    this.topics.opened({ send: (frame) => { if (socket.readyState === OPEN) socket.send(frame) } })
    this.emit('open', undefined)
  }

  private onMessage(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket || this.stopped || socket.protocol !== PROTOCOL) return
    if (typeof data !== 'string') return this.emit('error', new Error('the hub sent a binary frame; the framed protocol has text frames only'))
    const message = parseServerFrame(data)
    if ('error' in message) return this.emit('error', new Error(message.error))
    if ('type' in message) {
      if (message.type !== 'refreshed') return this.topics.answered(message)
      if (this.refreshLink !== undefined) this.refresh.refreshed(this.refreshLink, message.expiresAt)
      return this.emit('refresh', { expiresAt: message.expiresAt })
    }
    // Not the user's stream: never acked, never moves lastSeq.
    if ('topic' in message) return this.topics.received(message)
    // At-least-once delivery: after a reconnect the hub may send again what this client
    // already emitted. Seqs only grow, so anything up to the last one is a duplicate.
    if (message.seq !== undefined && message.seq <= this.seq) return
    this.emit('message', message)
    if (message.seq === undefined) return
    this.seq = message.seq
    if (!this.stopped && this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => this.sendAck(), this.options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS)
    }
  }

  private sendAck(): void {
    this.ackTimer = undefined
    const socket = this.socket
    if (socket === undefined || socket.readyState !== OPEN || this.seq <= this.ackedSeq) return
    socket.send(ackFrame(this.seq))
    this.ackedSeq = this.seq
  }

  private onSocketError(socket: WebSocketLike, event: { message?: unknown }): void {
    if (socket !== this.socket || this.stopped) return
    // Browsers give no detail (a close with 1006 follows); `ws` says what happened.
    const detail = typeof event?.message === 'string' && event.message !== '' ? `: ${event.message}` : ''
    this.emit('error', new Error(`WebSocket error${detail}`))
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return
    this.socket = undefined
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    clearTimeout(this.stableTimer)
    this.refreshLink = undefined
    // Refused in answer to a refresh frame: no more of those; the reconnect brings a fresh token.
    const refreshRefusedFrame = this.refresh.closed(FINAL_CLOSE_CODES.has(code)) && !this.stopped
    // The same for subscribe requests: a hub older than topics, or a topic token too large.
    // Those subscriptions fail; the connection itself is fine without them.
    const topicsRefusedFrame = FINAL_CLOSE_CODES.has(code) && this.topics.awaitingAnswers && !this.stopped
    const topicsRefusal = `the hub closed the connection with ${code} (${reason}) when asked for topics: it is older than topics, or a topic token is too large for it`
    if (topicsRefusedFrame) this.topics.refusedFrame(topicsRefusal)
    this.topics.closed()
    if (refreshRefusedFrame) {
      this.emit('error', new Error(`the hub closed the connection with ${code} (${reason}) when sent a token refresh: renewing the token by reconnecting from now on`))
    } else if (topicsRefusedFrame) {
      this.emit('error', new Error(`${topicsRefusal}: those subscriptions failed; reconnecting`))
    } else if (!this.stopped && FINAL_CLOSE_CODES.has(code)) {
      this.halt()
      this.emit('error', new Error(`the hub closed the connection with ${code} (${reason}); not reconnecting`))
    }
    // The backend ended the session for good (logout, ban): not an error, but no reconnect.
    if (code === CloseCode.DISCONNECTED_FOR_GOOD) this.halt()
    this.emit('close', { code, reason, willReconnect: !this.stopped })
    // A close listener may have called close(): check again. (4002, a kick that allows a
    // reconnect, takes the usual backoff: a fleet of kicked clients does not return at once.)
    const freshToken = FRESH_TOKEN_CLOSE_CODES.has(code) || refreshRefusedFrame
    if (!this.stopped && freshToken && Date.now() - this.openedAt >= MIN_LIFETIME_FOR_IMMEDIATE_RECONNECT_MS) return void this.open()
    if (!this.stopped) return this.scheduleReconnect()
    for (const resolve of this.closeWaiters.splice(0)) resolve()
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    const delay = backoffDelay(this.attempt++, this.options.backoff)
    this.retryTimer = setTimeout(() => void this.open(), delay)
  }
}

/** The browser's window (it fires 'online'); undefined on Node, which has no such event. */
function onlineEvents(): { addEventListener(type: string, listener: () => void): void; removeEventListener(type: string, listener: () => void): void } | undefined {
  const target = globalThis as { addEventListener?: unknown; removeEventListener?: unknown }
  return typeof target.addEventListener === 'function' && typeof target.removeEventListener === 'function'
    ? (target as ReturnType<typeof onlineEvents>)
    : undefined
}

function asError(value: unknown, context: string): Error {
  if (value instanceof Error) return value
  return new Error(`${context}: ${String(value)}`)
}
