// Keeps the HTTP server reachable while some clients are hostile or broken. Node's
// server holds a socket that never sends a byte for as long as the peer likes, and a
// request whose body never finishes just as long; a few thousand of them use up the
// process's descriptors and every other client is refused. The guard watches the
// server's sockets from outside (no Fastify import):
//
// - a socket that has not sent a complete request head within `headersTimeoutMs`, or
//   whose body has not arrived `bodyTimeoutMs` after its head, gets a 408 and is closed;
// - one address may hold at most `maxIdlePerAddress` sockets that have made no request
//   yet; past that its oldest goes, once it has waited `IDLE_GRACE_MS` (a burst of
//   connections through one proxy, or a reconnect storm, sends its requests within
//   milliseconds and is not cut);
// - when the server's sockets near the descriptor limit (`shedAt`), the oldest socket
//   that has made no request anywhere is closed for each new one, then idle keep-alive
//   sockets, then, with nothing left to shed, the new socket itself.
//
// A socket leaves the guard's care once it makes its first request or upgrade; after
// that Node's own headersTimeout, requestTimeout and keepAliveTimeout apply (set by
// tighten() below). Upgrades are noticed lazily, by Node having let go of the socket's
// HTTP parser: listening to the server's 'upgrade' event would make Node hand every
// upgrade to that listener even once the WebSocket server has stopped taking them.
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

export interface GuardStats {
  /** Sockets the server holds now (every state). */
  open: number
  /** Of them, sockets that have not made a request yet. */
  waiting: number
}

/** How long a socket may wait for its first request before an address over its cap loses it. */
const IDLE_GRACE_MS = 1000

const kArrivedAt = Symbol('pusher.arrivedAt')
const kWaiting = Symbol('pusher.waiting')

type GuardedSocket = Socket & { [kArrivedAt]: number; [kWaiting]: boolean }

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
  /** Sockets that have made no request yet, oldest first. */
  private readonly waiting = new Set<GuardedSocket>()
  private readonly waitingByAddress = new Map<string, Set<GuardedSocket>>()
  /** Addresses holding more waiting sockets than their cap, checked again at every sweep. */
  private readonly overCap = new Set<string>()
  /** Requests whose body was still arriving at the end of the turn their head came in, with their deadline. */
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
      guard.leaveWaiting(this as GuardedSocket)
    }
  }

  get stats(): GuardStats {
    return { open: this.open, waiting: this.waiting.size }
  }

  attach(server: Server): void {
    this.server = server
    tighten(server, this.options)
    server.on('connection', this.onConnection)
    server.on('request', this.onRequest)
    server.on('clientError', this.onClientError)
    const every = Math.max(50, Math.min(1000, Math.floor(Math.min(this.options.headersTimeoutMs, this.options.bodyTimeoutMs) / 4)))
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

  private readonly onConnection = (raw: Socket): void => {
    const socket = raw as GuardedSocket
    this.open++
    socket.once('close', this.onSocketClose)
    socket[kArrivedAt] = performance.now()
    socket[kWaiting] = true
    this.waiting.add(socket)
    const address = socket.remoteAddress ?? ''
    let mine = this.waitingByAddress.get(address)
    if (mine === undefined) this.waitingByAddress.set(address, (mine = new Set()))
    mine.add(socket)
    const cap = this.options.maxIdlePerAddress
    if (cap > 0 && mine.size > cap) {
      this.overCap.add(address)
      this.enforceCap(address, socket[kArrivedAt])
    }
    if (this.open >= this.options.shedAt) this.makeRoom(socket)
  }

  private readonly onRequest = (request: IncomingMessage): void => {
    const socket = request.socket as GuardedSocket
    if (socket[kWaiting]) this.leaveWaiting(socket)
    const length = request.headers['content-length']
    if ((length === undefined || length === '0') && request.headers['transfer-encoding'] === undefined) return
    // The body usually comes with the head: only one still arriving at the end of this
    // turn is watched, so a fast request costs an array slot and no timer.
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
    const deadline = performance.now() + this.options.bodyTimeoutMs
    for (const request of arriving) {
      if (!request.complete && !request.socket.destroyed) this.slowBodies.set(request, deadline)
    }
  }

  /** Closes the oldest waiting sockets of `address` past its cap, those that have had their grace. */
  private enforceCap(address: string, now: number): void {
    const cap = this.options.maxIdlePerAddress
    const mine = this.waitingByAddress.get(address)
    while (mine !== undefined && mine.size > cap) {
      const oldest: GuardedSocket = mine.values().next().value!
      if (upgraded(oldest)) {
        this.leaveWaiting(oldest)
        continue
      }
      if (now - oldest[kArrivedAt] < IDLE_GRACE_MS) return
      this.shed(oldest, `${address} holds more than ${cap} connections that sent no request: closed its oldest`)
    }
    this.overCap.delete(address)
  }

  private readonly sweep = (): void => {
    const now = performance.now()
    for (const address of this.overCap) this.enforceCap(address, now)
    const { headersTimeoutMs } = this.options
    // In arrival order: the first socket still within its time ends the walk.
    for (const socket of this.waiting) {
      if (now - socket[kArrivedAt] < headersTimeoutMs) break
      this.leaveWaiting(socket)
      if (upgraded(socket)) continue
      this.options.refusals.refuse('timeout', socket.remoteAddress, `no complete request head within ${headersTimeoutMs} ms: 408, closed`)
      endWith408(socket)
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
  private makeRoom(newcomer: GuardedSocket): void {
    for (const oldest of this.waiting) {
      if (oldest === newcomer) break
      if (upgraded(oldest)) {
        this.leaveWaiting(oldest)
        continue
      }
      this.shed(oldest, `${this.open} open connections, near the descriptor limit: closed the oldest that sent no request`)
      return
    }
    const now = performance.now()
    if (now - this.lastIdleClose > 1000 && this.server !== undefined) {
      // Idle keep-alive sockets of senders: they reconnect at their next request.
      this.lastIdleClose = now
      this.server.closeIdleConnections()
    }
    if (this.open >= this.options.shedAt + 32) {
      this.shed(newcomer, `${this.open} open connections and none idle to close: refused a new one`)
    }
  }

  private shed(socket: GuardedSocket, message: string): void {
    this.leaveWaiting(socket)
    this.options.refusals.refuse('shed', socket.remoteAddress, message)
    socket.destroy()
  }

  private leaveWaiting(socket: GuardedSocket): void {
    if (!socket[kWaiting]) return
    socket[kWaiting] = false
    this.waiting.delete(socket)
    const address = socket.remoteAddress ?? ''
    const mine = this.waitingByAddress.get(address)
    if (mine !== undefined && mine.delete(socket) && mine.size === 0) this.waitingByAddress.delete(address)
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
