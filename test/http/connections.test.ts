// Every connection of a user is kept (go-pusher kept one and let a second tab evict
// the first), and sends, broadcasts and batches reach all of them.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import { connectAs, metrics, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())

test('three tabs of one user all receive a send, and closing one leaves the others registered', async () => {
  const tabs = await Promise.all([connectAs(hub, 'alice'), connectAs(hub, 'alice'), connectAs(hub, 'alice')])
  const bob = await connectAs(hub, 'bob')
  assert.deepEqual((await post(hub, '/send', { uid: 'alice', message: 'to every tab' })).body, { delivered: 3, nodes: 1 })
  for (const tab of tabs) assert.deepEqual(await tab.received(1), ['to every tab'])
  assert.equal(bob.messages.length, 0)

  // The Go bug: closing the old tab unregistered the new one. Here the rest stay.
  const gone = once(hub.app.hub, 'disconnect')
  await tabs[0]!.close()
  await gone
  assert.deepEqual((await post(hub, '/send', { uid: 'alice', message: 'still here' })).body, { delivered: 2, nodes: 1 })
  assert.deepEqual(await tabs[1]!.received(2), ['to every tab', 'still here'])
  assert.deepEqual(await tabs[2]!.received(2), ['to every tab', 'still here'])

  let series = await metrics(hub)
  assert.equal(series.get('connections'), 3)
  assert.equal(series.get('pusher_users_online'), 2)

  await Promise.all([tabs[1]!.close(), tabs[2]!.close(), bob.close()])
  await hub.app.hub.drained()
  while (hub.app.hub.connectionCount > 0) await once(hub.app.hub, 'disconnect')
  series = await metrics(hub)
  assert.equal(series.get('connections'), 0)
  assert.equal(series.get('pusher_users_online'), 0)
  assert.equal(series.get('pending'), 0)
})

test('a broadcast reaches every connection of every user', async () => {
  const clients = await Promise.all(['u1', 'u2', 'u2', 'u3'].map((uid) => connectAs(hub, uid)))
  const response = await post(hub, '/broadcast', 'message=everyone')
  assert.equal(response.status, 200)
  assert.deepEqual(response.body, { delivered: 4, nodes: 1 })
  for (const client of clients) assert.deepEqual(await client.received(1), ['everyone'])
  assert.equal((await post(hub, '/broadcast', { message: 'as JSON' })).body.delivered, 4)
  assert.equal((await post(hub, '/broadcast?message=from%20the%20query')).body.delivered, 4)
  for (const client of clients) assert.deepEqual(await client.received(3), ['everyone', 'as JSON', 'from the query'])
  await Promise.all(clients.map((client) => client.close()))
})

test('a batch delivers each message to its user, in order, and reports offline users per item', async () => {
  const carol = await connectAs(hub, 'carol')
  const dave = await connectAs(hub, 'dave')
  const response = await post(hub, '/send/batch', {
    messages: [
      { uid: 'carol', message: 'c1' },
      { uid: 'dave', message: 'd1' },
      { uid: 'nobody', message: 'lost' },
      { uid: 'carol', message: 'c2' },
    ],
  })
  assert.equal(response.status, 200)
  assert.deepEqual(response.body, {
    delivered: 3,
    offline: 1,
    results: [
      { uid: 'carol', delivered: 1 },
      { uid: 'dave', delivered: 1 },
      { uid: 'nobody', delivered: 0 },
      { uid: 'carol', delivered: 1 },
    ],
  })
  assert.deepEqual(await carol.received(2), ['c1', 'c2'])
  assert.deepEqual(await dave.received(1), ['d1'])
  await Promise.all([carol.close(), dave.close()])
})

test('hub.send and hub.broadcast work for code that embeds the hub', async () => {
  const erin = await connectAs(hub, 'erin')
  assert.equal(hub.app.hub.send('erin', 'direct'), 1)
  assert.equal(hub.app.hub.send('nobody', 'direct'), 0)
  assert.equal(hub.app.hub.isOnline('erin'), true)
  assert.deepEqual(await erin.received(1), ['direct'])
  await erin.close()
})

test('a client that dies abruptly mid-stream is forgotten and its unwritten frames leave pending at 0', async () => {
  const doomed = await connectAs(hub, 'doomed')
  const gone = once(hub.app.hub, 'disconnect')
  // 960 KB: under the slow-consumer bound, far over what one write hands the kernel at once.
  for (let i = 0; i < 60; i++) hub.app.hub.send('doomed', Buffer.alloc(16 * 1024, 'z'))
  // No close frame, no FIN handshake: the TCP connection is simply destroyed.
  doomed.ws.terminate()
  const [, reason] = await gone
  assert.equal(reason, 'client_closed')
  await hub.app.hub.drained()
  const series = await metrics(hub)
  assert.equal(series.get('pending'), 0)
  assert.equal(series.get('connections'), 0)
  assert.equal((await post(hub, '/send', { uid: 'doomed', message: 'x' })).status, 404)
})

test('an upgraded socket keeps nothing of the upgrade request alive', async () => {
  const client = await connectAs(hub, 'lean')
  const connection = [...hub.app.hub.connections()].find((c) => c.uid === 'lean')
  assert.ok(connection)
  const tcp = (connection.socket as unknown as { _socket: { _httpMessage: unknown; listenerCount(event: string): number } })._socket
  // @fastify/websocket routed the upgrade through a stand-in HTTP response; it is detached.
  assert.equal(tcp._httpMessage, null)
  // Only the hub's own error listener remains, not one closing over the request and reply.
  assert.equal(connection.socket.listenerCount('error'), 1)
  await client.close()
})
