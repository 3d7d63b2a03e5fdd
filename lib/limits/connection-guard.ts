// Keeps the HTTP server reachable while some clients are hostile or broken. Node's
// server holds a socket that never sends a byte for as long as the peer likes, and a
// request whose body never finishes just as long; a few thousand of them use up the
// process's descriptors and every other client is refused. The guard watches the
// server's sockets from outside (no Fastify import):
//
// - a socket that has not sent a complete request head within `headersTimeoutMs`, or
//   whose body has not arrived `bodyTimeoutMs` after its head, gets a 408 and is closed;
// - one address may hold at most `maxIdlePerAddress` sockets that have waited a second
//   without making a request; past that its oldest go, at the next check (once a second).
//   A burst of connections through one proxy, or a reconnect storm, sends its requests
//   within milliseconds and is never counted, and a connection costs no address lookup
//   (a getpeername system call);
// - when the server's sockets near the descriptor limit (`shedAt`), the oldest socket
//   that has made no request anywhere is closed for each new one, then idle keep-alive
//   sockets, then, with nothing left to shed, the new socket itself.
//
// A socket leaves the guard's care once it makes its first request or upgrade; after
// that Node's own headersTimeout, requestTimeout and keepAliveTimeout apply (set by
// tighten() below). The hub's WebSocket route says when it takes an upgrade
// (admitted()); other upgrades are noticed at the next check, by Node having let go of
// the socket's HTTP parser. Listening to the server's 'upgrade' event instead would make
// Node hand every upgrade to that listener, even once the WebSocket server has stopped
// taking them at shutdown.
//
// Every handshake and every sender connection passes through here, so the bookkeeping
// per socket is a property store and an array push: no Map entry (a Map keyed by socket
// costs an identity hash and a delete, a few hundred ns each) and no 'close' listener.
// Sockets that made a request or closed are dropped from the list at the next check, or
// when it has doubled since it was last pruned.
//
// HTTPS: 'connection' gives the TCP socket, HTTP runs on the TLS socket that
// 'secureConnection' gives once the TLS handshake is done. The TLS socket then takes
// the TCP socket's place, due for its request head at the same time; a TCP socket that
// never finishes its handshake is destroyed (a 408 in plain text would mean nothing to
// a TLS client). Node links the two by the TLS socket's `_parent`; without that link the
// guard leaves the handshake phase to Node's own handshakeTimeout, and says so.
import type { IncomingMessage, Server } from 'node:http'
import { Socket } from 'node:net'
import { Server as TlsServer, TLSSocket } from 'node:tls'
import type { Refusals } from './refusals.js'

export interface ConnectionGuardOptions {
  headersTimeoutMs: number
  bodyTimeoutMs: number
  keepAliveTimeoutMs: number
  /** Sockets one address may hold before making a request; 0: no cap. */
  maxIdlePerAddress: number
  /** Open sockets at which idle ones are shed; Infinity: never. */
  shedAt: number
  refusals: Refusals
  /** Where the guard says what it cannot do (the Fastify log). */
  warn(message: string): void
}

/** How long a socket may wait for its first request before an address over its cap loses it. */
const IDLE_GRACE_MS = 1000
/** The waiting list is pruned when it reaches this length, or twice its length after the last pruning. */
const MIN_PRUNE_AT = 1024

/** When a socket came (Date.now()) while it has made no request; 0 once it has. */
const kArrivedAt = Symbol('fastify-pusher.arrivedAt')
type GuardedSocket = Socket & { [kArrivedAt]?: number }
/** net.Server's count of its open sockets, kept for getConnections(). */
type CountedServer = Server & { _connections?: number }

const TIMEOUT_BODY = JSON.stringify({
  statusCode: 408,
  code: 'PUSHER_ERR_REQUEST_TIMEOUT',
  error: 'Request Timeout',
  message: 'The request did not arrive in time: send the request head, then its body, without pausing',
})
const TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
  `Content-Length: ${Buffer.byteLength(TIMEOUT_BODY)}\r\n\r\n${TIMEOUT_BODY}`

export class ConnectionGuard {
  private server: Server | undefined
  /** The server's open sockets, counted here only where net.Server keeps no count of its own (see attach()); null otherwise. */
  private ownCount: number | null = null
  /** An HTTPS server: its TCP sockets wait for their TLS handshake, then their TLS sockets for a request. */
  private tls = false
  /** Whether TCP sockets of an HTTPS server are watched before their handshake (Node links TLS sockets to them). */
  private watchHandshakes = true
  /** Sockets that had made no request when they were last looked at, in arrival order. */
  private waiting: GuardedSocket[] = []
  /** Every socket before this index in `waiting` is known not to wait any more. */
  private head = 0
  private pruneAt = MIN_PRUNE_AT
  /** Requests whose body was still arriving after their head's turn, with their deadline. */
  private readonly slowBodies = new Map<IncomingMessage, number>()
  private arriving: IncomingMessage[] = []
  private arrivingScheduled = false
  private sweepTimer: NodeJS.Timeout | undefined
  private lastIdleClose = 0
  constructor(private readonly options: ConnectionGuardOptions) {}

  attach(server: Server): void {
    this.server = server
    // net.Server counts its sockets for getConnections(), in `_connections`: reading it
    // costs nothing per socket. Should a Node release drop that field, the guard counts
    // them itself, with a 'close' listener per socket.
    this.ownCount = typeof (server as CountedServer)._connections === 'number' ? null : 0
    this.tls = server instanceof TlsServer
    tighten(server, this.options)
    server.on('connection', this.onConnection)
    if (this.tls) server.on('secureConnection', this.onSecureConnection)
    server.on('request', this.onRequest)
    server.on('clientError', this.onClientError)
    const every = Math.max(50, Math.min(IDLE_GRACE_MS, Math.floor(Math.min(this.options.headersTimeoutMs, this.options.bodyTimeoutMs) / 4)))
    this.sweepTimer = setInterval(this.sweep, every)
    this.sweepTimer.unref()
  }

  detach(): void {
    clearInterval(this.sweepTimer)
    const server = this.server
    if (server === undefined) return
    server.off('connection', this.onConnection)
    server.off('secureConnection', this.onSecureConnection)
    server.off('request', this.onRequest)
    server.off('clientError', this.onClientError)
    this.server = undefined
  }

  /** The socket has made its first request (an upgrade the WebSocket route took, say): no longer idle. */
  admitted(socket: Socket): void {
    ;(socket as GuardedSocket)[kArrivedAt] = 0
  }

  private readonly onConnection = (socket: GuardedSocket): void => {
    if (this.ownCount !== null) {
      this.ownCount++
      socket.on('close', this.onSocketClose)
    }
    if (this.watchHandshakes) this.watch(socket, Date.now())
    if (this.openSockets() >= this.options.shedAt) this.makeRoom(socket)
  }

  /** HTTPS: a TCP socket finished its TLS handshake; its TLS socket waits for a request in its place. */
  private readonly onSecureConnection = (tlsSocket: GuardedSocket): void => {
    const tcp = (tlsSocket as GuardedSocket & { _parent?: unknown })._parent
    let arrivedAt: number | undefined
    if (tcp instanceof Socket && !(tcp instanceof TLSSocket)) {
      arrivedAt = (tcp as GuardedSocket)[kArrivedAt]
      ;(tcp as GuardedSocket)[kArrivedAt] = 0
    } else if (this.watchHandshakes) {
      this.stopWatchingHandshakes()
    }
    this.watch(tlsSocket, arrivedAt || Date.now())
  }

  private watch(socket: GuardedSocket, arrivedAt: number): void {
    socket[kArrivedAt] = arrivedAt
    if (this.waiting.push(socket) >= this.pruneAt) this.prune()
  }

  /** Node no longer links a TLS socket to its TCP socket: the TCP sockets cannot be told apart from idle ones. */
  private stopWatchingHandshakes(): void {
    this.watchHandshakes = false
    for (const socket of this.waiting) if (!(socket instanceof TLSSocket)) socket[kArrivedAt] = 0
    this.options.warn('fastify-pusher: this Node version does not link TLS sockets to their TCP sockets (_parent); ' +
      'connections that never finish their TLS handshake are left to the server\'s handshakeTimeout (120 s unless set)')
  }

  private readonly onRequest = (request: IncomingMessage): void => {
    ;(request.socket as GuardedSocket)[kArrivedAt] = 0
    const length = request.headers['content-length']
    if ((length === undefined || length === '0') && request.headers['transfer-encoding'] === undefined) return
    // The body usually comes in the same packet as the head, and is parsed once this
    // event's callback (and the process.nextTick queue after it) has returned: only a
    // request still incomplete at the end of the I/O phase is watched. Watching every one
    // would hold every request of the last second in memory, and the GC would pay.
    this.arriving.push(request)
    if (this.arrivingScheduled) return
    this.arrivingScheduled = true
    setImmediate(this.watchSlowBodies)
  }

  private readonly onSocketClose = (): void => {
    this.ownCount!--
  }

  /** The server's open sockets. */
  private openSockets(): number {
    return this.ownCount ?? (this.server as CountedServer)._connections!
  }

  /** Drops the sockets that made a request or closed. */
  private prune(): void {
    this.replaceWaiting(this.waiting.filter(stillWaiting))
  }

  /** `waiting` becomes `sockets` (all still waiting), and is pruned again once it doubles. */
  private replaceWaiting(sockets: GuardedSocket[]): void {
    this.waiting = sockets
    this.head = 0
    this.pruneAt = Math.max(MIN_PRUNE_AT, 2 * sockets.length)
  }

  /** Node's own headersTimeout and requestTimeout (keep-alive sockets after their first request) count too. */
  private readonly onClientError = (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      this.options.refusals.refuse('timeout', socket.remoteAddress, 'request head or body not received in time: 408, closed')
    }
  }

  private readonly watchSlowBodies = (): void => {
    this.arrivingScheduled = false
    const arriving = this.arriving
    this.arriving = []
    let deadline = 0
    for (const request of arriving) {
      if (request.complete || request.socket.destroyed) continue
      deadline ||= Date.now() + this.options.bodyTimeoutMs
      this.slowBodies.set(request, deadline)
    }
  }

  private readonly sweep = (): void => {
    const now = Date.now()
    const { headersTimeoutMs, maxIdlePerAddress } = this.options
    // Sockets that have waited their grace, by address, oldest first.
    let idle: Map<string, Socket[]> | undefined
    const young = Math.min(IDLE_GRACE_MS, headersTimeoutMs)
    const waiting = this.waiting
    const kept: GuardedSocket[] = []
    // In arrival order: from the first socket too young for either check on, all are kept.
    let i = 0
    for (; i < waiting.length; i++) {
      const socket = waiting[i]!
      if (!stillWaiting(socket)) continue
      const waited = now - socket[kArrivedAt]!
      if (waited < young) break
      if (waited >= headersTimeoutMs) {
        socket[kArrivedAt] = 0
        if (this.tls && !(socket instanceof TLSSocket)) {
          this.options.refusals.refuse('timeout', socket.remoteAddress, `no TLS handshake and request head within ${headersTimeoutMs} ms: closed`)
          socket.destroy()
        } else {
          this.options.refusals.refuse('timeout', socket.remoteAddress, `no complete request head within ${headersTimeoutMs} ms: 408, closed`)
          endWith408(socket)
        }
        continue
      }
      kept.push(socket)
      if (maxIdlePerAddress > 0 && waited >= IDLE_GRACE_MS) {
        const address = socket.remoteAddress ?? ''
        idle ??= new Map()
        const sockets = idle.get(address)
        if (sockets === undefined) idle.set(address, [socket])
        else sockets.push(socket)
      }
    }
    for (; i < waiting.length; i++) if (stillWaiting(waiting[i]!)) kept.push(waiting[i]!)
    this.replaceWaiting(kept)
    for (const [address, sockets] of idle ?? []) {
      const over = sockets.length - maxIdlePerAddress
      for (let i = 0; i < over; i++) {
        this.shed(sockets[i]!, `${address} held more than ${maxIdlePerAddress} connections that sent no request: closed its oldest`)
      }
    }
    for (const [request, deadline] of this.slowBodies) {
      if (request.complete || request.socket.destroyed) {
        this.slowBodies.delete(request)
      } else if (now >= deadline) {
        this.slowBodies.delete(request)
        this.options.refusals.refuse('timeout', request.socket.remoteAddress,
          `${request.method} ${routePath(request.url)}: body not received within ${this.options.bodyTimeoutMs} ms of its head: 408, closed`)
        endWith408(request.socket)
      }
    }
  }

  /** The server nears its descriptor budget: free one descriptor for the socket just accepted. */
  private makeRoom(newcomer: Socket): void {
    const waiting = this.waiting
    while (this.head < waiting.length && !stillWaiting(waiting[this.head]!)) this.head++
    const oldest = waiting[this.head]
    if (oldest !== undefined && oldest !== newcomer) {
      this.shed(oldest, `${this.openSockets()} open connections, near the descriptor limit: closed the oldest that sent no request`)
      return
    }
    const now = Date.now()
    if (now - this.lastIdleClose > 1000 && this.server !== undefined) {
      // Idle keep-alive sockets of senders: they reconnect at their next request.
      this.lastIdleClose = now
      this.server.closeIdleConnections()
    }
    if (this.openSockets() >= this.options.shedAt + 32) {
      this.shed(newcomer, `${this.openSockets()} open connections and none idle to close: refused a new one`)
    }
  }

  private shed(socket: GuardedSocket, message: string): void {
    socket[kArrivedAt] = 0
    this.options.refusals.refuse('shed', socket.remoteAddress, message)
    socket.destroy()
  }
}

/** Still a socket that has made no request: open, not upgraded, no request seen. */
function stillWaiting(socket: GuardedSocket): boolean {
  if (socket[kArrivedAt] === 0 || socket.destroyed || upgraded(socket)) {
    socket[kArrivedAt] = 0
    return false
  }
  return true
}

/** Node let go of the socket's HTTP parser: it was upgraded (to a WebSocket) and is no longer HTTP's. */
function upgraded(socket: Socket): boolean {
  return (socket as Socket & { parser?: unknown }).parser === null
}

/** The path of a request URL, never its query string (it may hold a token or a message). */
export function routePath(url: string | undefined): string {
  if (url === undefined) return ''
  const at = url.indexOf('?')
  return at === -1 ? url : url.slice(0, at)
}

function endWith408(socket: Socket): void {
  if (socket.destroyed) return
  // Closed once the answer is written; destroyed at once if the peer does not read it.
  socket.end(TIMEOUT_RESPONSE, () => socket.destroy())
  setTimeout(() => socket.destroy(), 1000).unref()
}

/**
 * Node's own timeouts, for the requests that follow a keep-alive socket's first one:
 * tightened to the guard's, never loosened (a host app may have set stricter ones).
 * Node checks them every `connectionsCheckingInterval` (30 s unless the server was made
 * with another; the standalone server uses 1 s).
 */
function tighten(server: Server, options: ConnectionGuardOptions): void {
  const tighter = (current: number, wanted: number) => (current > 0 && current < wanted ? current : wanted)
  server.headersTimeout = tighter(server.headersTimeout, options.headersTimeoutMs + 1000)
  server.requestTimeout = tighter(server.requestTimeout, options.headersTimeoutMs + options.bodyTimeoutMs + 1000)
  server.keepAliveTimeout = tighter(server.keepAliveTimeout, options.keepAliveTimeoutMs)
}
