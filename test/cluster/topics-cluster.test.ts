// Topics across nodes joined by the real Redis at REDIS_URL: a publish to any node
// reaches the topic's subscribers on every node, and only the nodes that have some;
// its answer counts them; the backend's subscribe of a user reaches the user's
// connections on every node and answers what each changed.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { type ClusterNode, dropPrefix, REDIS_URL, redisReachable, settle, startNode, testPrefix } from '../support/cluster-helpers.js'
import { connect, connectAs, token } from '../support/helpers.js'

// Under CI=true an unreachable Redis throws here: the file fails, it does not skip.
const skip = (await redisReachable()) ? false : 'Redis is not reachable at REDIS_URL'

/** Connects `uid` to `node` with a token whose `topics` claim subscribes it at connect. */
const watcher = (node: ClusterNode, uid: string, topics: string[], protocols: string[] = []) =>
  connect(node, { token: token({ uid, topics }), protocols })

describe('topics across three nodes', { skip }, () => {
  const prefix = `${testPrefix()}topics:`
  let a: ClusterNode
  let b: ClusterNode
  let c: ClusterNode
  before(async () => {
    ;[a, b, c] = await Promise.all([startNode(prefix, 'topics-a'), startNode(prefix, 'topics-b'), startNode(prefix, 'topics-c')])
    await settle(a, b, c)
  })
  after(async () => {
    await Promise.all([a, b, c].map((node) => node.app.close()))
    await dropPrefix(prefix)
  })

  test('a publish to node A reaches the subscribers on B and C, and counts them', async () => {
    const onB = await watcher(b, 'reader-1', ['match:42'])
    const alsoOnB = await watcher(b, 'reader-2', ['match:42'])
    const onC = await watcher(c, 'reader-3', ['match:42'])
    await settle(a, b, c)
    const delivery = await a.bus.publish('match:42', 'goal')
    assert.deepEqual(delivery, { delivered: 3, nodes: 2 })
    for (const client of [onB, alsoOnB, onC]) assert.deepEqual(await client.received(1), ['goal'])
    assert.deepEqual(await c.bus.topicInfo('match:42'), { topic: 'match:42', subscribers: 3, users: 3, nodes: 2 })
    await Promise.all([onB, alsoOnB, onC].map((client) => client.close()))
  })

  test('a publish reaches only the nodes with subscribers to the topic', async () => {
    const onB = await watcher(b, 'quiet-reader', ['doc/7'])
    await settle(a, b, c)
    const heardByC = c.bus.relay.relayedIn
    const heardByB = b.bus.relay.relayedIn
    assert.deepEqual(await a.bus.publish('doc/7', 'edit 1'), { delivered: 1, nodes: 1 })
    assert.deepEqual(await onB.received(1), ['edit 1'])
    assert.equal(b.bus.relay.relayedIn, heardByB + 1)
    assert.equal(c.bus.relay.relayedIn, heardByC, 'node C has no subscriber to doc/7 and must not hear it')

    // Its last subscriber gone, B stops listening too.
    const stopped = once(b.app.hub, 'topicClose')
    await onB.close()
    assert.deepEqual(await stopped, ['doc/7'])
    await settle(a, b, c)
    assert.deepEqual(await a.bus.publish('doc/7', 'edit 2'), { delivered: 0, nodes: 0 })
    assert.equal(b.bus.relay.relayedIn, heardByB + 1)
    assert.deepEqual(await a.bus.topicInfo('doc/7'), { topic: 'doc/7', subscribers: 0, users: 0, nodes: 0 })
  })

  test('framed clients on another node get the topic envelope; the publishing node\'s own subscribers get it once', async () => {
    const framedOnC = await watcher(c, 'framed-reader', ['price:eur'], ['pusher.framed.v1'])
    const onA = await watcher(a, 'local-reader', ['price:eur'])
    await settle(a, b, c)
    assert.deepEqual(await a.bus.publish('price:eur', '1.08'), { delivered: 2, nodes: 2 })
    const [envelope] = (await framedOnC.received(1)).map((text) => JSON.parse(text) as { topic: string; data: string; time: number })
    assert.equal(envelope!.topic, 'price:eur')
    assert.equal(envelope!.data, '1.08')
    assert.deepEqual(await onA.received(1), ['1.08'])
    // A second publish proves the first was not written twice to A's subscriber.
    await a.bus.publish('price:eur', '1.09')
    assert.deepEqual(await onA.received(2), ['1.08', '1.09'])
    await Promise.all([framedOnC.close(), onA.close()])
  })

  test('a batch publishes each message to its topic across nodes', async () => {
    const onB = await watcher(b, 'batch-reader', ['t:1', 't:2'])
    await settle(a, b, c)
    const batch = await a.bus.publishBatch([{ topic: 't:1', message: 'one' }, { topic: 't:nobody', message: 'lost' }, { topic: 't:2', message: 'two' }])
    assert.deepEqual(batch, {
      delivered: 2,
      results: [{ topic: 't:1', delivered: 1, nodes: 1 }, { topic: 't:nobody', delivered: 0, nodes: 0 }, { topic: 't:2', delivered: 1, nodes: 1 }],
    })
    assert.deepEqual(await onB.received(2), ['one', 'two'])
    await onB.close()
  })

  test('the backend subscribes a user on every node and hears what each changed', async () => {
    const [onA, onB, alsoOnB] = await Promise.all([connectAs(a, 'roamer'), connectAs(b, 'roamer'), connectAs(b, 'roamer')])
    await settle(a, b, c)
    const change = await c.bus.changeTopics('roamer', { subscribe: ['news', 'order:9'] })
    assert.deepEqual(change, { uid: 'roamer', connections: 3, subscribed: 6, unsubscribed: 0, refused: 0, nodes: 2 })
    await settle(a, b, c)
    assert.deepEqual(await c.bus.publish('order:9', 'shipped'), { delivered: 3, nodes: 2 })
    for (const client of [onA, onB, alsoOnB]) assert.deepEqual(await client.received(1), ['shipped'])

    const undo = await a.bus.changeTopics('roamer', { unsubscribe: ['order:9', 'never-watched'] })
    assert.deepEqual(undo, { uid: 'roamer', connections: 3, subscribed: 0, unsubscribed: 3, refused: 0, nodes: 2 })
    await settle(a, b, c)
    assert.deepEqual(await c.bus.publish('order:9', 'late'), { delivered: 0, nodes: 0 })
    assert.deepEqual(await a.bus.topicInfo('news'), { topic: 'news', subscribers: 3, users: 2, nodes: 2 })
    await Promise.all([onA, onB, alsoOnB].map((client) => client.close()))
  })

  test('malformed topic payloads from a foreign publisher are ignored; the node keeps serving', async () => {
    const onB = await watcher(b, 'steady-reader', ['steady'])
    await settle(a, b, c)
    const foreign = new Redis(REDIS_URL)
    try {
      const heard = b.bus.relay.relayedIn
      for (const junk of ['T{"uid":5}', 'T{not json', 'A{"id":"x"}', 'P\u0005ab']) await foreign.publish(`${prefix}relay:topics-b`, junk)
      await foreign.publish(`${prefix}topic:steady`, Buffer.from([0x50, 200, 1, 2]))
      assert.deepEqual(await a.bus.publish('steady', 'still here'), { delivered: 1, nodes: 1 })
      assert.deepEqual(await onB.received(1), ['still here'])
      assert.equal(b.bus.relay.relayedIn, heard + 1, 'only the well-formed publish counts as relayed')
    } finally {
      foreign.disconnect()
      await onB.close()
    }
  })

  test('a node that leaves takes its counts with it', async () => {
    const leaving = await startNode(prefix, 'topics-leaving')
    const client = await watcher(leaving, 'short-stay', ['lobby'])
    await settle(a, leaving)
    assert.equal((await a.bus.topicInfo('lobby')).subscribers, 1)
    await client.close()
    await leaving.app.close()
    assert.deepEqual(await a.bus.topicInfo('lobby'), { topic: 'lobby', subscribers: 0, users: 0, nodes: 0 })
  })
})
