// The hub frames messages itself (one buffer per message, one write per socket per
// turn); a standard client must read every size class of frame header, and a burst of
// messages to one socket, which leaves in one write, must arrive whole and in order.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connectAs, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ maxMessageBytes: 200_000 })
})
after(() => hub.app.close())

test('messages of every frame-header size arrive byte for byte', async () => {
  const client = await connectAs(hub, 'sizes')
  // 7-bit length up to 125, 16-bit up to 65535, 64-bit beyond; multi-byte characters across the edges.
  const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000, 199_999]
  const messages = sizes.map((size, i) => (i % 2 === 0 ? 'a'.repeat(size) : '✓'.repeat(Math.floor(size / 3)) + 'b'.repeat(size % 3)))
  for (const message of messages) assert.equal((await post(hub, '/send', { uid: 'sizes', message })).status, 200)
  const received = await client.received(messages.length)
  for (const [i, message] of messages.entries()) assert.equal(received[i], message, `message ${i} (${Buffer.byteLength(message)} bytes)`)
  await client.close()
})

test('a burst to one socket within one turn (a batch) arrives complete and in order', async () => {
  const client = await connectAs(hub, 'burst')
  const messages = Array.from({ length: 500 }, (_, i) => ({ uid: 'burst', message: `m${i}` }))
  const response = await post(hub, '/send/batch', { messages })
  assert.equal(response.body.delivered, 500)
  assert.deepEqual(await client.received(500), messages.map((m) => m.message))
  await hub.app.hub.drained()
  await client.close()
})
