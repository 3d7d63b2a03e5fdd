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
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'
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
}

/** How long a socket may wait for its first request before an address over its cap loses it. */
const IDLE_GRACE_MS = 1000

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
  private open = 0
  /** Sockets that have made no request yet, with when they came (Date.now()), oldest first. */
  private readonly waiting = new Map<Socket, number>()
  /** Requests whose body was still arriving after their head's turn, with their deadline. */
  private readonly slowBodies = new Map<IncomingMessage, number>()
  private arriving: IncomingMessage[] = []
  private arrivingScheduled = false
  private sweepTimer: NodeJS.Timeout | undefined
  private lastIdleClose = 0
  private readonly onSocketClose: (this: Socket) => void

  constructor(private readonly options: ConnectionGuardOptions) {
    const guard = this
    this.onSocketClose = function onSocketClose(this: Socket) {
      guard.open--
      guard.leaveWaiting(this)
    }
  }

  attach(server: Server): void {
    this.server = server
    tighten(server, this.options)
    server.on('connection', this.onConnection)
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
    server.off('request', this.onRequest)
    server.off('clientError', this.onClientError)
    this.server = undefined
  }

  /** The socket has made its first request (an upgrade the WebSocket route took, say): no longer idle. */
  admitted(socket: Socket): void {
    this.leaveWaiting(socket)
  }

  private readonly onConnection = (socket: Socket): void => {
    this.open++
    // Not once(): 'close' comes once anyway, and once() would wrap the listener per socket.
    socket.on('close', this.onSocketClose)
    this.waiting.set(socket, Date.now())
    if (this.open >= this.options.shedAt) this.makeRoom(socket)
  }

  private readonly onRequest = (request: IncomingMessage): void => {
    const socket = request.socket
    if (this.waiting.has(socket)) this.leaveWaiting(socket)
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
    // In arrival order: the first socket too young for either check ends the walk.
    for (const [socket, arrivedAt] of this.waiting) {
      const waited = now - arrivedAt
      if (waited < young) break
      if (upgraded(socket)) {
        this.leaveWaiting(socket)
      } else if (waited >= headersTimeoutMs) {
        this.leaveWaiting(socket)
        this.options.refusals.refuse('timeout', socket.remoteAddress, `no complete request head within ${headersTimeoutMs} ms: 408, closed`)
        endWith408(socket)
      } else if (maxIdlePerAddress > 0 && waited >= IDLE_GRACE_MS) {
        const address = socket.remoteAddress ?? ''
        idle ??= new Map()
        const sockets = idle.get(address)
        if (sockets === undefined) idle.set(address, [socket])
        else sockets.push(socket)
      }
    }
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
    for (const oldest of this.waiting.keys()) {
      if (oldest === newcomer) break
      if (upgraded(oldest)) {
        this.leaveWaiting(oldest)
        continue
      }
      this.shed(oldest, `${this.open} open connections, near the descriptor limit: closed the oldest that sent no request`)
      return
    }
    const now = Date.now()
    if (now - this.lastIdleClose > 1000 && this.server !== undefined) {
      // Idle keep-alive sockets of senders: they reconnect at their next request.
      this.lastIdleClose = now
      this.server.closeIdleConnections()
    }
    if (this.open >= this.options.shedAt + 32) {
      this.shed(newcomer, `${this.open} open connections and none idle to close: refused a new one`)
    }
  }

  private shed(socket: Socket, message: string): void {
    this.leaveWaiting(socket)
    this.options.refusals.refuse('shed', socket.remoteAddress, message)
    socket.destroy()
  }

  private leaveWaiting(socket: Socket): void {
    this.waiting.delete(socket)
  }
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
