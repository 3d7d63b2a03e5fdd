// The hub and its connections without a socket: who is connected, what `pending` says
// at every step, and how a connection the hub gives up on is ended (slow consumer,
// expired token, frame flood). Timers are node:test's mock timers.
import assert from 'node:assert/strict'
import { afterEach, mock, test } from 'node:test'
import { CloseCode } from '../../lib/hub/close-codes.js'
import { Hub } from '../../lib/hub/hub.js'
import { FakeWs } from '../support/fake-ws.js'

const options = { maxBufferedBytes: 1024, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1, closeGraceMs: 1000 }
afterEach(() => mock.timers.reset())

test('every connection of a user gets a send; pending counts the frames until the socket has them', () => {
  const hub = new Hub(options)
  const [a, b, other] = [new FakeWs(), new FakeWs(), new FakeWs()]
  hub.add('alice', a.asWebSocket)
  hub.add('alice', b.asWebSocket)
  hub.add('bob', other.asWebSocket)
  assert.equal(hub.connectionCount, 3)
  assert.equal(hub.userCount, 2)
  assert.equal(hub.send('alice', 'hello'), 2)
  assert.deepEqual([a.sent, b.sent, other.sent], [['hello'], ['hello'], []])
  assert.equal(hub.pending, 2)
  a.complete()
  assert.equal(hub.pending, 1)
  b.complete()
  assert.equal(hub.pending, 0)
  assert.equal(hub.send('nobody', 'x'), 0)
})

test('a connection that closes with frames unsent takes its pending count with it, and the user goes when the last one does', async () => {
  const hub = new Hub(options)
  const ws = new FakeWs()
  hub.add('carol', ws.asWebSocket)
  hub.send('carol', 'one')
  hub.send('carol', 'two')
  const drained = hub.drained()
  ws.finishClose()
  await drained
  assert.equal(hub.pending, 0)
  assert.equal(hub.isOnline('carol'), false)
  assert.equal(hub.stats.disconnects.client_closed, 1)
})

test('a slow consumer is closed with 4008 once its unsent bytes would pass the bound, then destroyed after the grace', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  const hub = new Hub(options)
  const ws = new FakeWs()
  const reasons: string[] = []
  hub.on('disconnect', (_connection, reason) => reasons.push(reason))
  hub.add('slow', ws.asWebSocket)
  ws.bufferedAmount = 1000
  assert.equal(hub.send('slow', 'x'.repeat(100)), 0)
  assert.deepEqual(ws.closedWith, { code: CloseCode.SLOW_CONSUMER, reason: 'slow consumer: too many unread bytes' })
  assert.deepEqual(reasons, ['slow_consumer'])
  assert.equal(hub.pending, 0)
  assert.equal(ws.terminated, false)
  mock.timers.tick(1000)
  assert.equal(ws.terminated, true)
})

test('a connection is closed with 4001 when its token expires, not before', () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 })
  const hub = new Hub(options)
  const ws = new FakeWs()
  const lasting = new FakeWs()
  hub.add('dave', ws.asWebSocket, { expiresAt: 1_002_000 })
  hub.add('dave', lasting.asWebSocket)
  mock.timers.tick(1999)
  assert.equal(ws.closedWith?.code, undefined)
  mock.timers.tick(251)
  assert.equal(ws.closedWith?.code, CloseCode.TOKEN_EXPIRED)
  assert.equal(hub.stats.disconnects.token_expired, 1)
  assert.equal(hub.connectionsOf('dave'), 1)
  assert.equal(lasting.closedWith, undefined)
})

test('a connection that ended before its expiry leaves nothing scheduled behind', () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 })
  const hub = new Hub(options)
  const ws = new FakeWs()
  hub.add('erin', ws.asWebSocket, { expiresAt: 1_002_000 })
  ws.finishClose()
  mock.timers.tick(5000)
  assert.equal(ws.closedWith, undefined)
  assert.equal(hub.stats.disconnects.token_expired, 0)
})

test('a client past its inbound frame budget is no longer read from and gets 1008; frames within it are fine', () => {
  const hub = new Hub({ ...options, maxInboundFramesPerSecond: 5 })
  const flooder = new FakeWs()
  const calm = new FakeWs()
  hub.add('flooder', flooder.asWebSocket)
  hub.add('calm', calm.asWebSocket)
  // The burst is ten seconds' worth: 50 frames pass, the 51st does not.
  for (let i = 0; i < 50; i++) flooder.emit('message', Buffer.from('x'), false)
  assert.equal(flooder.closedWith?.code, undefined)
  flooder.emit('ping')
  assert.equal(flooder.closedWith?.code, CloseCode.POLICY_VIOLATION)
  assert.equal(flooder.paused, true)
  assert.equal(hub.stats.disconnects.frame_flood, 1)
  for (let i = 0; i < 10; i++) calm.emit('message', Buffer.from('x'), false)
  assert.equal(calm.closedWith, undefined)
})

test('close() tells every client 1001, waits for them, and destroys the ones that do not answer in time', async () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  const hub = new Hub(options)
  const polite = new FakeWs()
  const stuck = new FakeWs()
  hub.add('p', polite.asWebSocket)
  hub.add('s', stuck.asWebSocket)
  const closed = hub.close(300)
  assert.equal(hub.isClosing, true)
  assert.equal(polite.closedWith?.code, CloseCode.GOING_AWAY)
  polite.finishClose()
  mock.timers.tick(300)
  await closed
  assert.equal(stuck.terminated, true)
  assert.equal(hub.connectionCount, 0)
  assert.throws(() => hub.add('late', new FakeWs().asWebSocket), /closing/)
})
