// The hub writes frames straight to the TCP socket under ws only when ws keeps that
// socket where raw-socket.ts expects; otherwise it says so once and goes through
// ws.send. Both paths deliver the same frames, in order, and `pending` ends at 0.
import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { test } from 'node:test'
import type { WebSocket } from 'ws'
import { directSocket, onRawSocketFallback, resetRawSocketVerdict } from '../../lib/hub/raw-socket.js'
import { connectAs, connectFramed, post, startHub } from '../support/helpers.js'

async function deliversInOrder(): Promise<void> {
  const hub = await startHub({ store: { path: ':memory:' } })
  try {
    const plain = await connectAs(hub, 'u')
    const framed = await connectFramed(hub, 'u')
    // A burst: the first frame is written at once, the rest queue and leave together.
    for (let i = 0; i < 5; i++) hub.app.hub.send('u', `m${i}`)
    assert.equal((await post(hub, '/send', { uid: 'u', message: 'kept', ttl: 60 })).status, 200)
    assert.deepEqual(await plain.received(6), ['m0', 'm1', 'm2', 'm3', 'm4', 'kept'])
    const envelopes = await framed.envelopes(6)
    assert.deepEqual(envelopes.map((e) => e.data), ['m0', 'm1', 'm2', 'm3', 'm4', 'kept'])
    assert.ok(envelopes[5]!.seq! > 0)
    await hub.app.hub.drained()
    assert.equal(hub.app.hub.pending, 0)
    await Promise.all([plain.close(), framed.close()])
  } finally {
    await hub.app.close()
  }
}

test('with the ws this project pins, frames go straight to the socket the upgrade came on', async () => {
  const hub = await startHub()
  try {
    await connectAs(hub, 'direct')
    const [connection] = [...hub.app.hub.connections()]
    assert.ok(directSocket(connection!.socket) instanceof Socket)
  } finally {
    await hub.app.close()
  }
  await deliversInOrder()
})

test('a ws whose internals differ is noticed once, and every frame goes through ws.send', async () => {
  resetRawSocketVerdict()
  const warnings: string[] = []
  onRawSocketFallback((message) => warnings.push(message))
  assert.equal(directSocket({ _socket: {}, _sender: {} } as unknown as WebSocket), undefined)
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]!, /through ws\.send/)
  // The verdict holds for the process: real connections now go through ws.send too.
  await deliversInOrder()
})
