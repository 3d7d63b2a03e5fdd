// The one place that relies on ws's internals. The hub writes its prebuilt frames
// straight to the TCP socket a WebSocket runs on, in order with the control frames ws
// writes there itself: a burst of frames to one client is one system call, and a
// broadcast frame is built once for every client. That holds while ws writes to that
// same socket, unbuffered (permessage-deflate, which would buffer, is off).
//
// So before it writes directly, the hub checks, once per process: ws's socket and its
// sender's socket must be the very TCP socket the upgrade came on. If a ws release
// changed that, it says so once and every connection goes through ws.send instead:
// slower, never wrong. ws is pinned to the version CI tests (package.json).
import type { ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { headerLength, payloadLength } from './frame.js'

/** ws's fields this module reads; anything else of ws is used through its API only. */
interface WsInternals {
  _socket?: unknown
  _sender?: { _socket?: unknown }
}

let verdict: 'direct' | 'fallback' | undefined
let warn: (message: string) => void = (message) => process.emitWarning(message, 'FastifyPusherWarning')

/** Where the once-per-process warning about a fallback goes (the hub plugin sends it to the Fastify log). */
export function onRawSocketFallback(log: (message: string) => void): void {
  warn = log
}

/**
 * The TCP socket to write `ws`'s frames to directly: `upgraded` (the socket the upgrade
 * request came on) or, when the caller does not know it, the one ws holds. Undefined
 * when ws's internals are not what this module expects: write through ws.send then.
 */
export function directSocket(ws: WebSocket, upgraded?: Socket): Socket | undefined {
  if (verdict === 'fallback') return undefined
  const internals = ws as unknown as WsInternals
  const tcp = upgraded ?? internals._socket
  const fits = tcp instanceof Socket && internals._socket === tcp && internals._sender?._socket === tcp
  if (verdict === undefined) {
    verdict = fits ? 'direct' : 'fallback'
    if (!fits) warn('fastify-pusher: this version of ws does not keep its TCP socket where the hub expects; frames go through ws.send (correct, but slower)')
  }
  return fits ? (tcp as Socket) : undefined
}

/**
 * Lets go of the stand-in HTTP response @fastify/websocket routed the upgrade with. It
 * stays attached to the TCP socket, and with it the request and its headers, for as
 * long as the WebSocket lives.
 */
export function releaseUpgradeResponse(tcp: Socket): void {
  const response = (tcp as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (typeof response?.detachSocket === 'function') response.detachSocket(tcp)
}

/**
 * The fallback's write path, made only for connections that use it: each prebuilt
 * frame's payload goes through ws.send, which frames it again, and `done` runs once every
 * send so far has completed.
 */
export class FallbackWriter {
  private inFlight = 0
  private waiters: Array<(error: Error | null | undefined) => void> = []

  constructor(private readonly ws: WebSocket) {}

  write(frames: Buffer | Buffer[], done: (error: Error | null | undefined) => void): void {
    for (const frame of Array.isArray(frames) ? frames : [frames]) {
      this.inFlight++
      this.ws.send(frame.subarray(headerLength(payloadLength(frame))), { binary: false }, this.onSent)
    }
    this.afterWrites(done)
  }

  /** Calls `callback` once every send so far has completed. */
  afterWrites(callback: (error: Error | null | undefined) => void): void {
    if (this.inFlight === 0) callback(null)
    else this.waiters.push(callback)
  }

  private readonly onSent = (error?: Error | null): void => {
    if (--this.inFlight > 0) return
    for (const waiter of this.waiters.splice(0)) waiter(error)
  }
}

/** For tests: forget the verdict, as a new process would. */
export function resetRawSocketVerdict(): void {
  verdict = undefined
}
