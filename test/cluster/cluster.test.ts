// Cluster mode against the real Redis at REDIS_URL: three nodes in this process, each
// with its own Redis connections. A send accepted by any node reaches every connection
// of its user on every node, and the answers and numbers say so truthfully.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ClusterNode, dropPrefix, redisReachable, settle, startNode, testPrefix } from '../support/cluster-helpers.js'
import { API_KEY, connectAs, metrics, post } from '../support/helpers.js'

const skip = (await redisReachable()) ? false : 'Redis is not reachable at REDIS_URL'

describe('three nodes joined by Redis', { skip }, () => {
  const prefix = testPrefix()
  let a: ClusterNode
  let b: ClusterNode
  let c: ClusterNode
  before(async () => {
    ;[a, b, c] = await Promise.all([startNode(prefix, 'node-a'), startNode(prefix, 'node-b'), startNode(prefix, 'node-c')])
    await settle(a, b, c)
  })
  after(async () => {
    await Promise.all([a?.app.close(), b?.app.close(), c?.app.close()])
    await dropPrefix(prefix)
  })

  test('a send accepted by one node reaches the user on another', async () => {
    const bob = await connectAs(b, 'bob')
    await settle(a, b)
    const response = await post(a, '/send', { uid: 'bob', message: 'across nodes' })
    assert.equal(response.status, 200)
    assert.deepEqual(response.body, { delivered: 1, nodes: 1 })
    assert.deepEqual(await bob.received(1), ['across nodes'])
    await bob.close()
  })

  test('a user connected to two other nodes at once gets it on both, and the answer counts both', async () => {
    const onB = await connectAs(b, 'dana')
    const onC = await Promise.all([connectAs(c, 'dana'), connectAs(c, 'dana')])
    await settle(a, b, c)
    const response = await post(a, '/send', { uid: 'dana', message: 'everywhere' })
    assert.deepEqual(response.body, { delivered: 3, nodes: 2 })
    for (const client of [onB, ...onC]) assert.deepEqual(await client.received(1), ['everywhere'])
    await Promise.all([onB, ...onC].map((client) => client.close()))
  })

  test('a user on the sending node and on another is served on both', async () => {
    const local = await connectAs(a, 'erin')
    const remote = await connectAs(c, 'erin')
    await settle(a, c)
    assert.deepEqual((await post(a, '/send', { uid: 'erin', message: 'both' })).body, { delivered: 2, nodes: 2 })
    assert.deepEqual(await local.received(1), ['both'])
    assert.deepEqual(await remote.received(1), ['both'])
    await Promise.all([local.close(), remote.close()])
  })

  test('a batch crosses Redis once per node, and reports each item', async () => {
    const clients = await Promise.all([connectAs(a, 'ba'), connectAs(b, 'bb1'), connectAs(b, 'bb2'), connectAs(c, 'bc')])
    await settle(a, b, c)
    const relayedBefore = a.bus.relay.relayedOut
    const response = await post(a, '/send/batch', {
      messages: [
        { uid: 'ba', message: '1' }, { uid: 'bb1', message: '2' }, { uid: 'bb2', message: '3' },
        { uid: 'bc', message: '4' }, { uid: 'nobody', message: '5' }, { uid: 'bb1', message: '6' },
      ],
    })
    assert.deepEqual(response.body, {
      delivered: 5,
      offline: 1,
      results: [
        { uid: 'ba', delivered: 1 }, { uid: 'bb1', delivered: 1 }, { uid: 'bb2', delivered: 1 },
        { uid: 'bc', delivered: 1 }, { uid: 'nobody', delivered: 0 }, { uid: 'bb1', delivered: 1 },
      ],
    })
    // Two other nodes hold users of this batch: two publishes, not five.
    assert.equal(a.bus.relay.relayedOut - relayedBefore, 2)
    assert.deepEqual(await clients[1]!.received(2), ['2', '6'])
    assert.deepEqual(await clients[2]!.received(1), ['3'])
    assert.deepEqual(await clients[3]!.received(1), ['4'])
    assert.deepEqual(await clients[0]!.received(1), ['1'])
    await Promise.all(clients.map((client) => client.close()))
  })

  test('a broadcast reaches every connection on every node', async () => {
    const clients = await Promise.all([connectAs(a, 'x1'), connectAs(b, 'x2'), connectAs(c, 'x3'), connectAs(c, 'x4')])
    await settle(a, b, c)
    const response = await post(a, '/broadcast', { message: 'all of you' })
    assert.equal(response.status, 200)
    assert.equal(response.body.nodes, 3)
    assert.equal(response.body.delivered, 4)
    for (const client of clients) assert.deepEqual(await client.received(1), ['all of you'])
    await Promise.all(clients.map((client) => client.close()))
  })

  test('a user connected nowhere is offline: 404, from any node', async () => {
    await settle(a, b, c)
    for (const node of [a, b, c]) {
      const response = await post(node, '/send', { uid: 'ghost', message: 'x' })
      assert.equal(response.status, 404)
      assert.equal(response.body.code, 'PUSHER_ERR_USER_OFFLINE')
    }
  })

  test('cluster-wide numbers sit next to each node\'s own', async () => {
    const clients = await Promise.all([connectAs(a, 'n1'), connectAs(b, 'n1'), connectAs(b, 'n2'), connectAs(c, 'n3')])
    await settle(a, b, c)
    await a.bus.renewLease()
    const series = await metrics(a)
    assert.equal(series.get('pusher_cluster_nodes'), 3)
    assert.equal(series.get('pusher_cluster_connections'), 4)
    assert.equal(series.get('pusher_cluster_users_online'), 3)
    assert.equal(series.get('connections'), 1)
    assert.equal(series.get('pusher_users_online'), 1)
    assert.equal(series.get('pusher_redis_up'), 1)
    await Promise.all(clients.map((client) => client.close()))
    await settle(a, b, c)
    await a.bus.renewLease()
    const after = await metrics(a)
    assert.equal(after.get('pusher_cluster_connections'), 0)
    assert.equal(after.get('pusher_cluster_users_online'), 0)
    for (const node of [a, b, c]) {
      await node.app.hub.drained()
      assert.equal((await metrics(node)).get('pending'), 0)
    }
  })
})

describe('durable delivery across nodes', { skip }, () => {
  test('a message queued through one node is delivered when the user connects to another', async () => {
    const prefix = testPrefix()
    const a = await startNode(prefix, 'takes-the-send')
    const b = await startNode(prefix, 'takes-the-user')
    try {
      await settle(a, b)
      const response = await post(a, '/send', { uid: 'roamer', message: 'kept in Redis', ttl: 60 })
      assert.equal(response.status, 202)
      const client = await connectAs(b, 'roamer')
      assert.deepEqual(await client.received(1), ['kept in Redis'])
      // Either node answers for the message: the store is shared.
      const state = await fetch(`${a.url}/messages/${response.body.id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
      assert.equal(state.status, 200)
      assert.equal((await state.json()).uid, 'roamer')
      await client.close()
    } finally {
      await Promise.all([a.app.close(), b.app.close()])
      await dropPrefix(prefix)
    }
  })
})

describe('leaving the cluster', { skip }, () => {
  test('a node that shuts down cleanly removes itself from presence at once', async () => {
    const prefix = testPrefix()
    const a = await startNode(prefix, 'stays')
    const b = await startNode(prefix, 'leaves')
    try {
      const frank = await connectAs(b, 'frank')
      await settle(a, b)
      assert.equal((await post(a, '/send', { uid: 'frank', message: 'hi' })).status, 200)
      const closed = frank.closed()
      await b.app.close()
      assert.equal((await closed).code, 1001)
      // No lease has to run out: the answer changes as soon as the node has left.
      const response = await post(a, '/send', { uid: 'frank', message: 'gone?' })
      assert.equal(response.status, 404)
      await a.bus.renewLease()
      assert.equal((await metrics(a)).get('pusher_cluster_nodes'), 1)
    } finally {
      await a.app.close()
      await dropPrefix(prefix)
    }
  })

  test('two hubs with different prefixes share one Redis without seeing each other', async () => {
    const [one, two] = [testPrefix(), testPrefix()]
    const a = await startNode(one, 'same-name')
    const b = await startNode(two, 'same-name')
    try {
      const client = await connectAs(b, 'shared-uid')
      await settle(a, b)
      assert.equal((await post(a, '/send', { uid: 'shared-uid', message: 'x' })).status, 404)
      assert.equal((await post(b, '/send', { uid: 'shared-uid', message: 'y' })).status, 200)
      assert.deepEqual(await client.received(1), ['y'])
      await client.close()
    } finally {
      await Promise.all([a.app.close(), b.app.close()])
      await Promise.all([dropPrefix(one), dropPrefix(two)])
    }
  })
})
