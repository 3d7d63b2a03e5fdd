// The load generator's clients: plain WebSockets for go-pusher-protocol servers
// (fastify-pusher, the floor) and socket.io clients for the socket.io hub, behind one
// shape so every phase drives both the same way.
import { io, type Socket } from 'socket.io-client'
import WebSocket from 'ws'

export type Protocol = 'ws' | 'socketio'

/** Called for every message a client receives; `data` is the frame's payload. */
export type OnMessage = (data: Buffer | string) => void

export interface BenchClient {
  close(): void
}

function openWs(base: string, token: string, onMessage: OnMessage): Promise<BenchClient> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?token=${token}`, { perMessageDeflate: false })
  ws.on('message', onMessage as (data: Buffer) => void)
  return opened(ws)
}

/** Resolves once `ws` is open (rejects if it fails first); later errors end it quietly. */
export function opened(ws: WebSocket): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.off('error', reject)
      ws.on('error', () => {})
      resolve({ close: () => ws.terminate() })
    })
    ws.once('error', reject)
  })
}

function openSocketIo(base: string, token: string, onMessage: OnMessage): Promise<BenchClient> {
  const socket: Socket = io(base, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ close: () => socket.disconnect() }))
    socket.once('connect_error', reject)
    socket.on('message', onMessage)
  })
}

/** Opens one client per token, `concurrency` handshakes in flight at a time. */
export async function openClients(
  base: string,
  protocol: Protocol,
  tokens: string[],
  onMessage: OnMessage,
  concurrency = 64,
): Promise<BenchClient[]> {
  const open = protocol === 'ws' ? openWs : openSocketIo
  const clients: BenchClient[] = new Array(tokens.length)
  let next = 0
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++
      clients[i] = await open(base, tokens[i]!, onMessage)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker))
  return clients
}

/** The leading decimal number of a payload, read without decoding it to a string. */
export function leadingNumber(data: Buffer | string): number {
  if (typeof data === 'string') return Number.parseInt(data, 10)
  let value = 0
  for (let i = 0; i < data.length; i++) {
    const digit = data[i]! - 48
    if (digit < 0 || digit > 9) break
    value = value * 10 + digit
  }
  return value
}
