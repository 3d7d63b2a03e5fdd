// app.close() (SIGTERM under fastify-cli): stop accepting, flush what was sent, close
// every client with 1001, and never wait longer than shutdownTimeoutMs for a peer.
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { CloseCode } from '../../app.js'
import { connectAs, refusedUpgrade, startHub, token } from '../support/helpers.js'

test('clients get the messages sent just before shutdown, then close code 1001', async () => {
  const hub = await startHub()
  const clients = await Promise.all([connectAs(hub, 'a'), connectAs(hub, 'a'), connectAs(hub, 'b')])
  const closes = clients.map((client) => client.closed())
  for (let i = 0; i < 50; i++) hub.app.hub.broadcast(`last words ${i}`)
  await hub.app.close()

  for (const [i, client] of clients.entries()) {
    const { code } = await closes[i]!
    assert.equal(code, CloseCode.GOING_AWAY)
    assert.equal(client.messages.length, 50)
    assert.equal(client.messages.at(-1), 'last words 49')
  }
  assert.equal(hub.app.hub.connectionCount, 0)
  assert.equal(hub.app.hub.pending, 0)
  assert.equal(hub.app.hub.stats.disconnects.shutdown, 3)
})

test('a peer that never answers the close cannot hold shutdown past shutdownTimeoutMs, and newcomers are refused meanwhile', async () => {
  const hub = await startHub({ shutdownTimeoutMs: 300 })
  const polite = await connectAs(hub, 'polite')
  const stuck = await connectAs(hub, 'stuck')
  ;(stuck.ws as unknown as { _socket: Socket })._socket.pause()
  const politeClosed = polite.closed()
  const stuckClosed = stuck.closed()

  const closing = hub.app.close()
  // While the stuck peer holds shutdown open, a new client is turned away.
  const { status } = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'late' })}`)
  assert.equal(status, 503)
  await closing

  assert.equal((await politeClosed).code, CloseCode.GOING_AWAY)
  ;(stuck.ws as unknown as { _socket: Socket })._socket.resume()
  await stuckClosed
  assert.equal(hub.app.hub.connectionCount, 0)
  assert.equal(hub.app.hub.pending, 0)
})

test('closing an idle hub, or one whose clients already left, is immediate and clean', async () => {
  const hub = await startHub()
  const client = await connectAs(hub, 'leaver')
  await client.close()
  await hub.app.close()
  assert.equal(hub.app.hub.connectionCount, 0)
})
