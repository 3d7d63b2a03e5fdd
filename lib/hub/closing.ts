// How the hub tells a connection to go: the close frame each ending gets, the grace a
// client has to read it, and the shutdown's wait for every closing handshake. The hub
// (hub.ts) decides when; this file knows how a WebSocket is closed.
import type { WebSocket } from 'ws'
import { CloseCode } from './close-codes.js'

export interface CloseFrame {
  code: number
  reason: string
}

/** How a connection the hub gives up on is told, by the reason it is ended for. */
export const CUTS = {
  slow_consumer: { code: CloseCode.SLOW_CONSUMER, reason: 'slow consumer: too many unread bytes' },
  token_expired: { code: CloseCode.TOKEN_EXPIRED, reason: 'token expired: fetch a fresh token and reconnect' },
  frame_flood: { code: CloseCode.POLICY_VIOLATION, reason: 'too many frames: slow down' },
  kicked: { code: CloseCode.DISCONNECTED, reason: 'disconnected by the server: reconnect later' },
  revoked: { code: CloseCode.TOKEN_REVOKED, reason: 'token revoked: fetch a fresh token and reconnect' },
  refresh_refused: { code: CloseCode.REFRESH_REFUSED, reason: 'token refresh refused: fetch a fresh token and reconnect' },
} as const satisfies Record<string, CloseFrame>

export type CutReason = keyof typeof CUTS

/** A kick with `reconnect: false`: logged out or banned. */
export const FOR_GOOD: CloseFrame = { code: CloseCode.DISCONNECTED_FOR_GOOD, reason: 'disconnected by the server: do not reconnect' }

/**
 * Sends `close` behind what the client has not read yet and gives it `graceMs` to read
 * it before the socket is destroyed. `stopReading`: a flooding client is no longer read
 * from meanwhile.
 */
export function closeWithGrace(socket: WebSocket, close: CloseFrame, graceMs: number, stopReading = false): void {
  if (stopReading) socket.pause()
  socket.close(close.code, close.reason)
  const timer = setTimeout(() => socket.terminate(), graceMs)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

/**
 * Closes every socket with 1001 (going away) and resolves once each has closed: after
 * its closing handshake, or destroyed when `timeoutMs` runs out.
 */
export function closeAllGoingAway(sockets: readonly WebSocket[], timeoutMs: number): Promise<void> {
  if (sockets.length === 0) return Promise.resolve()
  return new Promise<void>((resolve) => {
    let remaining = sockets.length
    const timer = setTimeout(() => {
      for (const socket of sockets) socket.terminate()
    }, timeoutMs)
    for (const socket of sockets) {
      socket.once('close', () => {
        if (--remaining > 0) return
        clearTimeout(timer)
        resolve()
      })
      socket.close(CloseCode.GOING_AWAY, 'server shutting down')
    }
  })
}
