// The heartbeat without sockets, on a clock the test moves: every connection is pinged
// once an interval, spread over it; one that does not answer within the timeout is
// dropped, one that answers stays.
import assert from 'node:assert/strict'
import { afterEach, mock, test } from 'node:test'
import type { Connection } from '../../lib/hub/connection.js'
import { Heartbeat } from '../../lib/hub/heartbeat.js'

afterEach(() => mock.timers.reset())

/** Connections as the heartbeat sees them: a flag it sets, and a ping it counts. */
function fakeConnections(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const pingedAt: number[] = []
    const connection = {
      uid: `u${i}`, awaitingPong: false, ended: false, endReason: undefined,
      socket: { ping: () => pingedAt.push(Date.now()) },
    }
    return { connection: connection as unknown as Connection, pingedAt, answer: () => { connection.awaitingPong = false } }
  })
}

test('pings are spread over the interval; a silent peer is dropped after the timeout, an answering one is not', () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 })
  const peers = fakeConnections(50)
  const dropped: string[] = []
  const heartbeat = new Heartbeat(1000, 300, {
    connections: () => peers.map((p) => p.connection).filter((c) => !c.ended),
    connectionCount: () => peers.filter((p) => !p.connection.ended).length,
    onTimeout: (connection) => {
      dropped.push(connection.uid)
      connection.ended = true
    },
  }, () => Date.now())
  heartbeat.start()
  // Tick by tick (a fiftieth of the interval each), so each ping sees its own time;
  // every peer but u7 answers a ping before the next tick.
  for (let t = 0; t < 3000; t += 20) {
    mock.timers.tick(20)
    for (const [i, peer] of peers.entries()) if (i !== 7) peer.answer()
  }
  const firstPings = peers.map((p) => p.pingedAt[0]!)
  assert.ok(firstPings.every((at) => at !== undefined && at <= 1020), `within an interval and a tick: first pings at ${firstPings.join(' ')}`)
  assert.ok(Math.max(...firstPings) - Math.min(...firstPings) >= 900, 'the first pings are spread over the interval')
  // Pinged again each interval; the silent one is dropped once, 300 ms after its ping.
  assert.ok(peers.every((p, i) => i === 7 || p.pingedAt.length >= 2))
  assert.deepEqual(dropped, ['u7'])
  heartbeat.stop()
})

test('an interval of 0 turns the heartbeat off', () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 })
  const peers = fakeConnections(3)
  const heartbeat = new Heartbeat(0, 1, {
    connections: () => peers.map((p) => p.connection),
    connectionCount: () => peers.length,
    onTimeout: () => assert.fail('nobody may be dropped'),
  }, () => Date.now())
  heartbeat.start()
  mock.timers.tick(60_000)
  assert.ok(peers.every((p) => p.pingedAt.length === 0))
})
