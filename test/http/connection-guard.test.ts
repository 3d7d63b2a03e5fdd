// The connection guard on a bare node:http server, for what the hub's own servers do not
// show: where net.Server keeps no count of its open sockets (a future Node), the guard
// counts them itself, and its shedding near the descriptor limit still counts right.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { ConnectionGuard } from '../../lib/limits/connection-guard.js'
import { Refusals } from '../../lib/limits/refusals.js'

test('without net.Server\'s own count, the guard counts sockets itself: it sheds at its limit, and closed ones make room', { timeout: 10_000 }, async () => {
  const server = createServer((_request, response) => response.end('ok'))
  // As if Node kept no count: reads give nothing, Node's own increments are dropped.
  Object.defineProperty(server, '_connections', { configurable: true, get: () => undefined, set: () => {} })
  const refusals = new Refusals(() => {})
  const guard = new ConnectionGuard({
    headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, maxIdlePerAddress: 0, shedAt: 5, refusals, warn: () => {},
  })
  guard.attach(server)
  const serverSide: Socket[] = []
  server.on('connection', (socket: Socket) => serverSide.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  // Each wait gives up after 5 s, so that a guard that sheds nothing fails the test rather than hanging it.
  const closed = (socket: Socket) => once(socket, 'close', { signal: AbortSignal.timeout(5000) })
  const open = async () => {
    const socket = connect({ port, host: '127.0.0.1' })
    await once(socket, 'connect')
    return socket
  }
  const clients: Socket[] = []
  try {
    for (let i = 0; i < 4; i++) clients.push(await open())
    // The fifth reaches the limit: the oldest idle one is closed to make room.
    const firstClosed = closed(clients[0]!)
    clients.push(await open())
    await firstClosed
    // Two more close on their own; the guard sees them go, so the next one fits.
    const gone = [closed(serverSide[1]!), closed(serverSide[2]!)]
    clients[1]!.destroy()
    clients[2]!.destroy()
    await Promise.all(gone)
    let answer = ''
    clients[3]!.on('data', (chunk: Buffer) => { answer += chunk })
    const fourthClosed = closed(clients[3]!)
    clients.push(await open())
    // Nobody else was shed: the fourth still gets an answer.
    clients[3]!.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await fourthClosed
    assert.match(answer, /^HTTP\/1\.1 200/)
    assert.equal(clients[4]!.destroyed, false)
    assert.equal(refusals.counts.shed, 1)
  } finally {
    for (const client of clients) client.destroy()
    guard.detach()
    refusals.close()
    server.close()
    for (const socket of serverSide) socket.destroy()
  }
})
