// The hub does not need what clients send, so it ignores it, and bounds it: a frame
// over maxInboundBytes closes that connection with 1009 and nothing else.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import { CloseCode } from '../../app.js'
import { connectAs, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ maxInboundBytes: 1024 })
})
after(() => hub.app.close())

test('small client frames are ignored and the connection keeps receiving', async () => {
  const client = await connectAs(hub, 'chatty')
  for (let i = 0; i < 20; i++) client.ws.send(`hello server ${i}`)
  client.ws.send(Buffer.alloc(512))
  assert.equal((await post(hub, '/send', { uid: 'chatty', message: 'still here' })).status, 200)
  assert.deepEqual(await client.received(1), ['still here'])
  await client.close()
})

test('a frame over maxInboundBytes closes that connection with 1009; others are unaffected', async () => {
  const loud = await connectAs(hub, 'loud')
  const quiet = await connectAs(hub, 'quiet')
  const closed = loud.closed()
  const gone = once(hub.app.hub, 'disconnect')
  loud.ws.send(Buffer.alloc(4096))
  assert.equal((await closed).code, CloseCode.MESSAGE_TOO_BIG)
  await gone
  assert.equal(hub.app.hub.isOnline('loud'), false)
  assert.equal((await post(hub, '/send', { uid: 'quiet', message: 'fine' })).status, 200)
  assert.deepEqual(await quiet.received(1), ['fine'])
  await quiet.close()
})
