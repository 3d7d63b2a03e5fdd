// Durable sends over HTTP: stored before the answer, 202 while nobody is connected,
// written to the user's next connection, and observable by id.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, mock, test } from 'node:test'
import { connectAs, messageState, post, startHub, tempDir, type TestHub } from '../support/helpers.js'
import { startHubProcess } from '../support/processes.js'

const dir = tempDir('durable')
let hub: TestHub
before(async () => {
  hub = await startHub({ store: { path: join(dir, 'hub.db') } })
})
after(() => hub.app.close())

const status = (id: string) => messageState(hub, id)

test('a durable send to an offline user is answered 202 with an id, and reaches the user when they connect, in order', async () => {
  const first = await post(hub, '/send', { uid: 'away', message: 'while you were out', ttl: 60 })
  assert.equal(first.status, 202)
  assert.equal(first.body.status, 'queued')
  assert.equal(first.body.delivered, 0)
  assert.ok(Number.isSafeInteger(first.body.seq) && first.body.seq > 0)
  const second = await post(hub, '/send', 'uid=away&message=and%20this&durable=true')
  assert.equal(second.status, 202)
  assert.equal(second.body.seq, first.body.seq + 1)
  assert.equal((await status(first.body.id)).body.status, 'queued')

  const client = await connectAs(hub, 'away')
  assert.deepEqual(await client.received(2), ['while you were out', 'and this'])
  await hub.app.hub.drained()
  const after = await status(first.body.id)
  assert.equal(after.body.status, 'delivered')
  assert.ok(Date.parse(after.body.deliveredAt) >= Date.parse(after.body.createdAt))
  await client.close()
})

test('a durable send to a connected user is answered 200, delivered', async () => {
  const client = await connectAs(hub, 'here')
  const response = await post(hub, '/send', { uid: 'here', message: 'now', durable: true })
  assert.equal(response.status, 200)
  assert.equal(response.body.status, 'delivered')
  assert.equal(response.body.delivered, 1)
  assert.deepEqual(await client.received(1), ['now'])
  assert.equal((await status(response.body.id)).body.status, 'delivered')
  await client.close()
})

test('a message past its ttl is reported expired and not delivered on connect', async () => {
  const response = await post(hub, '/send', { uid: 'late', message: 'too late', ttl: 1 })
  assert.equal(response.status, 202)
  // The ttl is a span of time: the test moves the clock past it instead of waiting.
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    mock.timers.tick(1001)
    assert.equal((await status(response.body.id)).body.status, 'expired')
    const client = await connectAs(hub, 'late')
    assert.equal((await post(hub, '/send', { uid: 'late', message: 'fresh' })).status, 200)
    assert.deepEqual(await client.received(1), ['fresh'])
    await client.close()
  } finally {
    mock.timers.reset()
  }
})

test('status by id: 404 for an unknown id, 401 without an API key; ttl is validated', async () => {
  assert.equal((await status('no-such-message')).code, 404)
  assert.equal((await fetch(`${hub.url}/messages/anything`)).status, 401)
  assert.equal((await post(hub, '/send', { uid: 'x', message: 'y', ttl: 0 })).status, 400)
  assert.equal((await post(hub, '/send', { uid: 'x', message: 'y', ttl: 'soon' })).status, 400)
})

test('without a store, a durable send is refused with a reason', async () => {
  const plain = await startHub()
  try {
    const response = await post(plain, '/send', { uid: 'x', message: 'y', ttl: 60 })
    assert.equal(response.status, 400)
    assert.equal(response.body.code, 'PUSHER_ERR_STORE_DISABLED')
    assert.equal((await post(plain, '/send', 'uid=x&message=y&durable=true')).body.code, 'PUSHER_ERR_STORE_DISABLED')
    const batch = await post(plain, '/send/batch', { durable: true, messages: [{ uid: 'x', message: 'y' }] })
    assert.equal(batch.body.code, 'PUSHER_ERR_STORE_DISABLED')
    // Asking for nothing durable needs no store.
    const notDurable = await post(plain, '/send/batch', { durable: false, messages: [{ uid: 'x', message: 'y' }] })
    assert.deepEqual(notDurable.body, { delivered: 0, offline: 1, results: [{ uid: 'x', delivered: 0 }] })
  } finally {
    await plain.app.close()
  }
})

test('a message answered 202 survives the server being killed with SIGKILL right after, and is delivered after restart', { timeout: 60_000 }, async () => {
  const db = join(dir, 'killed.db')
  const first = await startHubProcess({ PUSHER_DB: db, REDIS_URL: '' })
  let second: Awaited<ReturnType<typeof startHubProcess>> | undefined
  try {
    const response = await post(first.hub, '/send', { uid: 'survivor', message: 'kept through a crash', ttl: 600 })
    assert.equal(response.status, 202)
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')

    second = await startHubProcess({ PUSHER_DB: db, REDIS_URL: '' })
    const client = await connectAs(second.hub, 'survivor')
    assert.deepEqual(await client.received(1), ['kept through a crash'])
    await client.close()
  } finally {
    first.child.kill('SIGKILL')
    second?.child.kill('SIGKILL')
  }
})
