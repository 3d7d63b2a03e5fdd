// A client that stops reading is cut off once its unsent bytes pass maxBufferedBytes:
// with its own close code, without blocking the sender or anyone else, and with
// `pending` back to 0 even though its queued frames will never be written.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { CloseCode } from '../app.js'
import { connectAs, metrics, post, startHub, type TestHub } from './helpers.js'

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
  // Loopback kernel buffers hold a few MB; 64 MB is far past them and the bound.
  while (accepted < 1024 && hub.app.hub.send('slow', chunk) === 1) accepted++
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
