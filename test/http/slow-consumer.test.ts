// A client that stops reading is cut off once its unsent bytes pass maxBufferedBytes:
// with its own close code, without blocking the sender or anyone else, and with
// `pending` back to 0 even though its queued frames will never be written.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { setImmediate } from 'node:timers/promises'
import { CloseCode } from '../../app.js'
import { connectAs, metrics, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ maxBufferedBytes: 256 * 1024 })
})
after(() => hub.app.close())

test('a consumer that stops reading is cut off with 4008 while others keep receiving', async () => {
  const slow = await connectAs(hub, 'slow')
  const fast = await connectAs(hub, 'fast')
  // Stop reading: the kernel buffers fill, then the hub's own buffer grows.
  const rawSocket = (slow.ws as unknown as { _socket: Socket })._socket
  rawSocket.pause()

  const cut = once(hub.app.hub, 'disconnect')
  const chunk = Buffer.alloc(64 * 1024, 'x')
  let accepted = 0
  // One message per event-loop turn, so each is flushed to the socket before the next:
  // a steady stream. Loopback kernel buffers hold a few MB; 64 MB is far past them.
  while (accepted < 1024 && hub.app.hub.send('slow', chunk) === 1) {
    accepted++
    await setImmediate()
  }
  assert.ok(accepted < 1024, 'the slow consumer was never cut off')
  const [connection, reason] = await cut
  assert.equal(connection.uid, 'slow')
  assert.equal(reason, 'slow_consumer')

  // Its unwritten frames are written off: pending returns to 0 while it still reads nothing.
  await hub.app.hub.drained()
  assert.equal(hub.app.hub.pending, 0)

  // The sender is not blocked and other users are served.
  assert.equal((await post(hub, '/send', { uid: 'fast', message: 'unaffected' })).status, 200)
  assert.deepEqual(await fast.received(1), ['unaffected'])
  // The cut user is no longer online for senders.
  assert.equal((await post(hub, '/send', { uid: 'slow', message: 'too late' })).status, 404)

  const series = await metrics(hub)
  assert.equal(series.get('pusher_disconnects_total{reason="slow_consumer"}'), 1)
  assert.equal(series.get('connections'), 1)
  assert.equal(series.get('pending'), 0)

  // When it reads again it finds the distinct close code behind what it had been sent.
  const closed = slow.closed()
  rawSocket.resume()
  assert.equal((await closed).code, CloseCode.SLOW_CONSUMER)
  assert.ok(slow.messages.length > 0)
  await fast.close()
})

test('a consumer that pauses under the bound catches up: every frame arrives in order and pending returns to 0', async () => {
  const roomy = await startHub({ maxBufferedBytes: 64 * 1024 * 1024 })
  try {
    const reader = await connectAs(roomy, 'pauser')
    const rawSocket = (reader.ws as unknown as { _socket: Socket })._socket
    rawSocket.pause()
    // 16 MB in 256 messages, one per turn: the kernel buffers fill and the rest waits
    // in the socket, so writes complete later, through their callbacks.
    const count = 256
    for (let i = 0; i < count; i++) {
      assert.equal(roomy.app.hub.send('pauser', `${i}:`.padEnd(64 * 1024, 'y')), 1)
      await setImmediate()
    }
    assert.ok(roomy.app.hub.pending > 0, 'every write finished at once; the test did not reach the backlog path')
    rawSocket.resume()
    const messages = await reader.received(count)
    assert.deepEqual(messages.map((m) => Number(m.slice(0, m.indexOf(':')))), Array.from({ length: count }, (_, i) => i))
    await roomy.app.hub.drained()
    assert.equal(roomy.app.hub.stats.framesWritten, count)
    assert.equal(roomy.app.hub.stats.disconnects.slow_consumer, 0)
    await reader.close()
  } finally {
    await roomy.app.close()
  }
})
