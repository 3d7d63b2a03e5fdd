// Durable sends for embedders: app.bus.send(uid, message, { ttl }) and sendBatch store
// first, then send, and answer as POST /send does, on one node and across a cluster.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ClusterNode, redisReachable, settle, testPrefix, twoNodes } from '../support/cluster-helpers.js'
import { connectAs, connectFramed, startHub, type TestHub } from '../support/helpers.js'

describe('one node', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub({ store: { path: ':memory:', defaultTtlSeconds: 600 } })
  })
  after(() => hub.app.close())

  test('a durable send to an offline user is stored, queued, and replayed when the user connects', async () => {
    const queued = await hub.app.bus.send('later', 'kept for you', { ttl: 60 })
    assert.equal(queued.status, 'queued')
    assert.equal(queued.delivered, 0)
    assert.ok(queued.id !== undefined && queued.seq! > 0)
    const kept = await hub.app.store!.get(queued.id)
    assert.equal(kept?.status, 'queued')
    assert.equal(kept!.expiresAt - kept!.createdAt, 60_000)

    const client = await connectFramed(hub, 'later')
    const [envelope] = await client.envelopes(1)
    assert.deepEqual({ id: envelope!.id, seq: envelope!.seq, data: envelope!.data }, { id: queued.id, seq: queued.seq, data: 'kept for you' })
    await client.close()
  })

  test('a durable send to an online user is delivered, and durable: true takes the default time to live', async () => {
    const client = await connectAs(hub, 'here')
    const sent = await hub.app.bus.send('here', 'now', { durable: true })
    assert.equal(sent.status, 'delivered')
    assert.equal(sent.delivered, 1)
    assert.deepEqual(await client.received(1), ['now'])
    const kept = await hub.app.store!.get(sent.id!)
    assert.equal(kept!.expiresAt - kept!.createdAt, 600_000)
    await client.close()
  })

  test('a batch stores its durable messages in one go and says which were delivered', async () => {
    const client = await connectAs(hub, 'batch-online')
    const batch = await hub.app.bus.sendBatch([
      { uid: 'batch-online', message: 'plain' },
      { uid: 'batch-online', message: 'durable', ttl: 30 },
      { uid: 'batch-offline', message: 'waits', ttl: 30 },
    ])
    assert.deepEqual(batch.results.map((r) => [r.uid, r.delivered, r.status]), [
      ['batch-online', 1, undefined], ['batch-online', 1, 'delivered'], ['batch-offline', 0, 'queued'],
    ])
    assert.deepEqual(await client.received(2), ['plain', 'durable'])
    assert.equal((await hub.app.store!.get(batch.results[2]!.id!))?.status, 'queued')
    await client.close()
  })

  test('a uid over the configured maxUidLength is refused by the bus itself, durable or not, before anything is stored', async () => {
    const long = 'u'.repeat(257)
    await assert.rejects(async () => hub.app.bus.send(long, 'y'), { code: 'PUSHER_ERR_INVALID_UID', message: /at most 256/ })
    await assert.rejects(async () => hub.app.bus.send(long, 'y', { ttl: 60 }), { code: 'PUSHER_ERR_INVALID_UID' })
    assert.equal(await hub.app.store!.lastSeq(long), 0)
  })

  test('a bad ttl is refused before anything is stored or sent', async () => {
    await assert.rejects(async () => hub.app.bus.send('x', 'y', { ttl: 2_592_001 }), { code: 'PUSHER_ERR_INVALID_TTL' })
    await assert.rejects(async () => hub.app.bus.sendBatch([{ uid: 'x', message: 'y', ttl: 'soon' }]), { code: 'PUSHER_ERR_INVALID_TTL', message: /messages\[0\]\.ttl/ })
  })
})

test('without a store, a durable send is refused with PUSHER_ERR_STORE_DISABLED; a plain one still goes', async () => {
  const hub = await startHub()
  try {
    await assert.rejects(async () => hub.app.bus.send('x', 'y', { ttl: 60 }), { code: 'PUSHER_ERR_STORE_DISABLED' })
    assert.deepEqual(await hub.app.bus.send('x', 'y'), { delivered: 0, nodes: 0 })
  } finally {
    await hub.app.close()
  }
})

const skip = (await redisReachable()) ? false : 'Redis not reachable (set REDIS_URL)'

describe('across nodes', { skip }, () => {
  const nodes = twoNodes(['bus-a', 'bus-b'], `${testPrefix()}durable-bus:`)
  let a: ClusterNode
  let b: ClusterNode
  before(() => ({ a, b } = nodes))

  test('app.bus.send with a ttl on one node reaches a framed client on the other with its id and seq', async () => {
    const client = await connectFramed(b, 'far-away')
    await settle(a, b)
    const sent = await a.app.bus.send('far-away', 'via Redis, stored', { ttl: 60 })
    assert.equal(sent.status, 'delivered')
    assert.equal(sent.nodes, 1)
    const [envelope] = await client.envelopes(1)
    assert.equal(envelope!.id, sent.id)
    assert.equal(envelope!.seq, sent.seq)
    await client.close()
  })
})
