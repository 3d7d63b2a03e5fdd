// Replay without sockets: what a connecting user missed comes first, in seq order, then
// the live messages held meanwhile, each once; a plain client gets only what no
// connection took; a framed client that sees a gap gets it filled from the store.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Hub } from '../../lib/hub/hub.js'
import { Replayer } from '../../lib/store/replay.js'
import { SqliteStore } from '../../lib/store/sqlite.js'
import { timedStore } from '../../lib/store/timing.js'
import { FakeWs } from '../support/fake-ws.js'

const hubOptions = { maxBufferedBytes: 1024 * 1024, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1 }
const storeOptions = { maxPerUser: 1000, keepClosedMs: 60_000 }
const data = (frames: string[]) => frames.map((frame) => (JSON.parse(frame) as { data: string }).data)
const seqs = (frames: string[]) => frames.map((frame) => (JSON.parse(frame) as { seq?: number }).seq)

test('a framed connection gets the stored messages after its since, then the live ones held meanwhile, each once', async () => {
  const hub = new Hub(hubOptions)
  const store = new SqliteStore({ path: ':memory:', ...storeOptions })
  const stored = await store.append(['one', 'two', 'three'].map((text) => ({ uid: 'u', data: text, ttlMs: 60_000 })))
  const ws = new FakeWs()
  const connection = hub.add('u', ws.asWebSocket, { framed: true, since: stored[0]!.seq })
  connection.holdBack()
  // While the replay has not run: a live plain message, a live copy of a stored one, a new durable one.
  hub.send('u', 'live')
  hub.send('u', 'three', { id: stored[2]!.id, seq: stored[2]!.seq, time: stored[2]!.createdAt })
  const [fourth] = await store.append([{ uid: 'u', data: 'four', ttlMs: 60_000 }])
  hub.send('u', 'four', { id: fourth!.id, seq: fourth!.seq, time: fourth!.createdAt })
  assert.equal(ws.sent.length, 0)

  const replayer = new Replayer(hub, store, { room: 64 * 1024, warn: assert.fail })
  await replayer.replay(connection)
  const frames = await ws.frames(4)
  assert.deepEqual(data(frames), ['two', 'three', 'four', 'live'])
  assert.deepEqual(seqs(frames), [stored[1]!.seq, stored[2]!.seq, fourth!.seq, undefined])
  ws.complete()
  assert.equal(hub.pending, 0)
  replayer.close()
  await store.close()
})

test('a plain connection gets only the messages no connection took yet', async () => {
  const hub = new Hub(hubOptions)
  const store = timedStore(new SqliteStore({ path: ':memory:', ...storeOptions }))
  const [taken, waiting] = await store.append(['taken elsewhere', 'waiting'].map((text) => ({ uid: 'p', data: text, ttlMs: 60_000 })))
  await store.markDelivered([taken!.id])
  const replayer = new Replayer(hub, store, { room: 64 * 1024, warn: assert.fail })
  const ws = new FakeWs()
  hub.add('p', ws.asWebSocket)
  assert.deepEqual(await ws.frames(1), ['waiting'])
  // Written now: marked delivered (the replay does not wait for the mark; settled() does).
  await store.settled()
  assert.equal((await store.get(waiting!.id))?.status, 'delivered')
  replayer.close()
  await store.close()
})

test('a framed connection that sees a seq ahead of one it has not had gets the gap filled first', async () => {
  const hub = new Hub(hubOptions)
  const store = new SqliteStore({ path: ':memory:', ...storeOptions })
  const replayer = new Replayer(hub, store, { room: 64 * 1024, warn: assert.fail })
  const ws = new FakeWs()
  const connection = hub.add('g', ws.asWebSocket, { framed: true })
  await ws.frames(0)
  const stored = await store.append(['a', 'b', 'c'].map((text) => ({ uid: 'g', data: text, ttlMs: 60_000 })))
  // Only the last one arrives live (the others were relayed through a node that failed).
  const last = stored[2]!
  hub.send('g', 'c', { id: last.id, seq: last.seq, time: last.createdAt })
  assert.deepEqual(data(await ws.frames(3)), ['a', 'b', 'c'])
  assert.equal(connection.seq, last.seq)
  replayer.close()
  await store.close()
})
