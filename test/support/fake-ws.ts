// A stand-in for a `ws` WebSocket, for unit tests of the hub without sockets. It has
// none of ws's internals, so the hub writes to it through send() (the raw-socket
// adapter's fallback), and it records what it was sent and how it was closed. Sends
// complete when the test says so (complete()), as a socket's writes would.
import { EventEmitter } from 'node:events'
import type { WebSocket } from 'ws'
import { onRawSocketFallback } from '../../lib/hub/raw-socket.js'

// The fallback is what these tests want; its once-per-process warning is expected.
onRawSocketFallback(() => {})

export class FakeWs extends EventEmitter {
  readyState = 1
  bufferedAmount = 0
  readonly sent: string[] = []
  closedWith: { code: number; reason: string } | undefined
  terminated = false
  paused = false
  pings = 0
  private callbacks: Array<(error?: Error) => void> = []

  send(data: Buffer, _options: unknown, callback: (error?: Error) => void): void {
    this.sent.push(data.toString())
    this.callbacks.push(callback)
    this.emit('sent')
  }

  /** Resolves with the first `count` frames sent, once they have been. */
  async frames(count: number): Promise<string[]> {
    while (this.sent.length < count) await new Promise((resolve) => this.once('sent', resolve))
    return this.sent.slice(0, count)
  }

  /** The kernel took every frame sent so far. */
  complete(): void {
    for (const callback of this.callbacks.splice(0)) callback()
  }

  close(code: number, reason: string): void {
    if (this.readyState >= 2) return
    this.readyState = 2
    this.closedWith = { code, reason }
  }

  /** The peer answered the close: the socket is gone. */
  finishClose(): void {
    this.readyState = 3
    this.emit('close')
  }

  terminate(): void {
    this.terminated = true
    if (this.readyState === 3) return
    this.readyState = 3
    this.emit('close')
  }

  ping(): void {
    this.pings++
  }

  pause(): void {
    this.paused = true
  }

  /** As a WebSocket, for Hub.add(). */
  get asWebSocket(): WebSocket {
    return this as unknown as WebSocket
  }
}
