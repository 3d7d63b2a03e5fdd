// The server pings; a peer that stops answering is dropped, one that answers stays.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import { connectAs, metrics, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  // Short enough for a quick test, long enough that a pong is not late on a busy machine
  // (the answering client shares this process's event loop).
  hub = await startHub({ heartbeat: { intervalMs: 300, timeoutMs: 200 } })
})
after(() => hub.app.close())

test('a peer that does not answer pings is dropped; a peer that answers stays', async () => {
  const lively = await connectAs(hub, 'lively')
  // autoPong off: the client receives pings and never answers, like a peer whose network vanished.
  const silent = await connectAs(hub, 'silent', { autoPong: false })
  const silentClosed = silent.closed()

  const [dropped, reason] = await once(hub.app.hub, 'disconnect')
  assert.equal(dropped.uid, 'silent')
  assert.equal(reason, 'heartbeat_timeout')
  // It was destroyed, not closed politely: a dead peer could not answer a close frame.
  assert.equal((await silentClosed).code, 1006)

  // Three more heartbeat rounds later the answering peer is still connected.
  for (let round = 0; round < 3; round++) await once(lively.ws, 'ping')
  assert.equal(hub.app.hub.isOnline('lively'), true)

  await hub.app.hub.drained()
  const series = await metrics(hub)
  assert.equal(series.get('pusher_disconnects_total{reason="heartbeat_timeout"}'), 1)
  assert.equal(series.get('connections'), 1)
  assert.equal(series.get('pending'), 0)
  await lively.close()
})

test('pings are spread over the interval, not sent to every connection in one turn', async () => {
  // A turn that pings every connection holds the event loop as long as a broadcast to
  // all of them, and every message sent meanwhile waits.
  const intervalMs = 1000
  const spread = await startHub({ heartbeat: { intervalMs, timeoutMs: 500 } })
  try {
    const clients = await Promise.all(Array.from({ length: 40 }, (_, i) => connectAs(spread, `spread-${i}`)))
    const firstPings = await Promise.all(clients.map(async (client) => {
      await once(client.ws, 'ping')
      return performance.now()
    }))
    const first = Math.min(...firstPings)
    const last = Math.max(...firstPings)
    // Each connection is still pinged within an interval (and a tick) of connecting.
    assert.ok(last - first >= intervalMs / 2, `the 40 first pings came within ${(last - first).toFixed(0)} ms of each other`)
    // A tick is a fiftieth of the interval; the last ping may come that late (twice, on a busy machine).
    assert.ok(last - first <= intervalMs * 1.04, `the 40 first pings spanned ${(last - first).toFixed(0)} ms, more than the interval`)
    await Promise.all(clients.map((client) => client.close()))
  } finally {
    await spread.app.close()
  }
})
