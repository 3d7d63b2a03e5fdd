// `npm run bench:guard`: what the connection guard (lib/limits/connection-guard.ts)
// costs per connection, alone: 20,000 unconnected sockets go through its 'connection'
// listener, the WebSocket route's admitted(), and 'close', as a server's would. Prints
// the ns per socket of each step, five rounds (the first ones warm the JIT up).
import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import { Socket } from 'node:net'
import { ConnectionGuard } from '../lib/limits/connection-guard.js'
import { Refusals } from '../lib/limits/refusals.js'

const SOCKETS = 20_000
const guard = new ConnectionGuard({
  headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, keepAliveTimeoutMs: 72_000,
  maxIdlePerAddress: 64, shedAt: Number.POSITIVE_INFINITY, refusals: new Refusals(() => {}), warn: () => {},
})
// Only the events the guard listens to, and the timeouts it tightens.
const server = Object.assign(new EventEmitter(), { headersTimeout: 60_000, requestTimeout: 0, keepAliveTimeout: 72_000 })
guard.attach(server as unknown as Server)

const nsPerSocket = (from: bigint, to: bigint) => (Number(to - from) / SOCKETS).toFixed(0)
for (let round = 1; round <= 5; round++) {
  const sockets = Array.from({ length: SOCKETS }, () => new Socket())
  const t0 = process.hrtime.bigint()
  for (const socket of sockets) server.emit('connection', socket)
  const t1 = process.hrtime.bigint()
  for (const socket of sockets) guard.admitted(socket)
  const t2 = process.hrtime.bigint()
  for (const socket of sockets) socket.emit('close')
  const t3 = process.hrtime.bigint()
  console.log(`round ${round}: connection ${nsPerSocket(t0, t1)} ns, admitted ${nsPerSocket(t1, t2)} ns, close ${nsPerSocket(t2, t3)} ns per socket`)
}
guard.detach()
