// Faults, with a redis-server of the test's own that it kills and restarts, and a node
// in a separate process that it kills with SIGKILL. Nothing hangs, sends that need
// Redis fail fast with 503 while local ones keep working, and everything heals.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout } from 'node:timers/promises'
import { test } from 'node:test'
import { WebSocket } from 'ws'
import { connect, connectAs, messageState, metrics, post, token } from '../support/helpers.js'
import { freePort, startHubProcess } from '../support/processes.js'
import { client, collector } from '../support/client-helpers.js'
import { type ClusterNode, dropPrefix, REDIS_URL, redisReachable, settle, startNode, startRedisServer, testPrefix } from '../support/cluster-helpers.js'

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0
if (!hasRedisServer && process.env.CI) throw new Error('redis-server is required under CI=true (apt-get install redis-server)')
const skip = !hasRedisServer ? 'redis-server is not installed' : (await redisReachable()) ? false : 'Redis is not reachable at REDIS_URL'

test('Redis killed mid-traffic: 503 fast for what needs it, local sends go on, and it all heals after a restart', { skip, timeout: 60_000 }, async () => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let redis = await startRedisServer(port)
  const prefix = testPrefix()
  const a = await startNode(prefix, 'a', url)
  const b = await startNode(prefix, 'b', url)
  try {
    const alice = await connectAs(a, 'alice')
    const bob = await connectAs(b, 'bob')
    await settle(a, b)
    assert.equal((await post(a, '/send', { uid: 'bob', message: 'before' })).status, 200)
    assert.deepEqual(await bob.received(1), ['before'])

    redis.kill('SIGKILL')
    await once(redis, 'exit')
    // The user on another node cannot be reached: 503 with a reason, not a hang and not a lie.
    const remote = await post(a, '/send', { uid: 'bob', message: 'during' })
    assert.equal(remote.status, 503)
    assert.equal(remote.body.code, 'PUSHER_ERR_CLUSTER_UNAVAILABLE')
    // A user on this node is still served, and the answer says it may be partial.
    const local = await post(a, '/send', { uid: 'alice', message: 'still here' })
    assert.equal(local.status, 200)
    assert.deepEqual(local.body, { delivered: 1, nodes: 1, partial: true })
    assert.deepEqual(await alice.received(1), ['still here'])
    // A broadcast would reach only this node: refused whole.
    assert.equal((await post(a, '/broadcast', { message: 'x' })).status, 503)
    // A durable send cannot be stored: 503, and the sender knows nothing was kept.
    const durable = await post(a, '/send', { uid: 'alice', message: 'keep me', ttl: 60 })
    assert.equal(durable.status, 503)
    assert.equal(durable.body.code, 'PUSHER_ERR_STORE_UNAVAILABLE')
    assert.equal((await messageState(a, 'any-id')).code, 503)
    assert.equal((await metrics(a)).get('pusher_redis_up'), 0)
    assert.equal((await metrics(a)).get('pusher_messages_total{outcome="unavailable"}'), 2)

    // The same port, an empty Redis: the nodes reconnect, resubscribe and rewrite presence.
    redis = await startRedisServer(port)
    await Promise.all([a.bus.whenRedisReady(), b.bus.whenRedisReady()])
    await settle(a, b)
    assert.equal((await post(a, '/send', { uid: 'bob', message: 'after' })).status, 200)
    assert.deepEqual(await bob.received(2), ['before', 'after'])
    assert.equal((await post(b, '/send', { uid: 'alice', message: 'back' })).status, 200)
    assert.deepEqual(await alice.received(2), ['still here', 'back'])
    assert.equal((await post(b, '/send', { uid: 'alice', message: 'kept again', ttl: 60 })).status, 200)
    assert.deepEqual(await alice.received(3), ['still here', 'back', 'kept again'])
    const series = await metrics(a)
    assert.equal(series.get('pusher_redis_up'), 1)
    assert.ok(series.get('pusher_redis_reconnects_total')! >= 1)
    for (const node of [a, b]) {
      await node.app.hub.drained()
      assert.equal((await metrics(node)).get('pending'), 0)
    }
    await Promise.all([alice.close(), bob.close()])
  } finally {
    await Promise.all([a.app.close(), b.app.close()])
    redis.kill('SIGKILL')
  }
})

/**
 * Waits until `survivor` counts itself alone, the killed node dropped. Presence forgets a
 * dead node when its 1 s lease runs out: the expiry is a moment in time, so this looks
 * again every 200 ms (bounded at 10 s).
 */
async function untilAlone(survivor: ClusterNode, killedAt: number): Promise<void> {
  while (survivor.bus.cluster().nodes > 1 && Date.now() - killedAt < 10_000) {
    await setTimeout(200)
    await settle(survivor)
  }
  assert.equal(survivor.bus.cluster().nodes, 1)
}

test('topics when a node is killed with SIGKILL: its subscribers drop out of the counts, and a client that reconnects elsewhere watches again', { skip, timeout: 60_000 }, async () => {
  const prefix = testPrefix()
  const a = await startNode(prefix, 'topics-survivor')
  const { child, hub: doomed } = await startHubProcess(
    { REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: 'topics-doomed', PUSHER_LEASE_TTL_MS: '1000' }, /joined the cluster/)
  const watcherToken = token({ uid: 'erin', topics: ['match:7'] })
  try {
    const onDoomed = await connect(doomed, { token: watcherToken })
    const onSurvivor = await connect(a, { token: token({ uid: 'frank', topics: ['match:7'] }) })
    // The other process writes its counts to Redis in its own time: nothing here can await
    // that, so the test looks every 100 ms (bounded at 5 s).
    for (let tries = 0; (await a.bus.topicInfo('match:7')).subscribers < 2 && tries < 50; tries++) await setTimeout(100)
    assert.deepEqual(await a.bus.publish('match:7', 'kick-off'), { delivered: 2, nodes: 2 })
    assert.deepEqual(await onDoomed.received(1), ['kick-off'])

    const killedAt = Date.now()
    child.kill('SIGKILL')
    await once(child, 'exit')
    await untilAlone(a, killedAt)
    // The dead node's subscribers are not claimed: only the survivor's is counted.
    assert.deepEqual(await a.bus.publish('match:7', 'half-time'), { delivered: 1, nodes: 1 })
    assert.deepEqual(await a.bus.topicInfo('match:7'), { topic: 'match:7', subscribers: 1, users: 1, nodes: 1 })

    // The client comes back on the survivor with the same token: its topics claim subscribes it again.
    const back = await connect(a, { token: watcherToken })
    assert.deepEqual(await a.bus.publish('match:7', 'full-time'), { delivered: 2, nodes: 1 })
    assert.deepEqual(await back.received(1), ['full-time'])
    await Promise.all([back.close(), onSurvivor.close()])
  } finally {
    child.kill('SIGKILL')
    await a.app.close()
    await dropPrefix(prefix)
  }
})

test('topic recovery when a node is killed with SIGKILL: the client library resumes on another node with what was published meanwhile, in order, each once', { skip, timeout: 60_000 }, async () => {
  const prefix = testPrefix()
  const a = await startNode(prefix, 'history-survivor')
  const { child, hub: doomed } = await startHubProcess(
    { REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: 'history-doomed', PUSHER_LEASE_TTL_MS: '1000' }, /joined the cluster/)
  // A load balancer in front of both: it sends connections to the doomed node while it lives.
  let target = doomed.wsUrl
  class Balanced extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url.replace(/^ws:\/\/[^/]+/, target), protocols)
    }
  }
  // The connect token waits at this gate: the test publishes while the client is away.
  let gate = Promise.resolve()
  const pusher = client(doomed, { token: async () => { await gate; return token({ uid: 'gina' }) }, WebSocket: Balanced })
  const got = collector<string>()
  const recovered = collector<boolean | undefined>()
  try {
    const match = pusher.subscribe('match:9', { token: token({ uid: 'gina', topic: 'match:9' }) })
    match.on('message', (data) => got.push(data))
    match.on('subscribed', (info) => recovered.push(info.recovered))
    pusher.connect()
    await recovered.first(1)
    // The doomed node listens to the topic once its client is subscribed there.
    for (let tries = 0; (await a.bus.topicInfo('match:9')).subscribers < 1 && tries < 50; tries++) await setTimeout(100)
    const first = await a.bus.publish('match:9', 'kick-off', { ttl: 60 })
    assert.deepEqual([first.delivered, first.nodes], [1, 1])
    assert.deepEqual(await got.first(1), ['kick-off'])

    let open!: () => void
    gate = new Promise((resolve) => (open = resolve))
    child.kill('SIGKILL')
    await once(child, 'exit')
    target = a.wsUrl
    // Published while the client has no connection: kept in the topic's history.
    await a.bus.publish('match:9', 'goal', { ttl: 60 })
    await a.bus.publish('match:9', 'half-time', { ttl: 60 })
    open()

    // The client reconnects (to the survivor) and resubscribes with since: what it missed comes first.
    assert.deepEqual(await recovered.first(2), [undefined, true])
    assert.deepEqual(got.items, ['kick-off', 'goal', 'half-time'])
    await a.bus.publish('match:9', 'full-time', { ttl: 60 })
    assert.deepEqual(await got.first(4), ['kick-off', 'goal', 'half-time', 'full-time'])
    assert.equal(match.seq, (await a.app.store!.topics.after('match:9', 0, 10)).lastSeq)
  } finally {
    pusher.close()
    child.kill('SIGKILL')
    await a.app.close()
    await dropPrefix(prefix)
  }
})

test('a node killed with SIGKILL drops out of presence within the lease, while the others keep serving', { skip, timeout: 60_000 }, async () => {
  const prefix = testPrefix()
  const a = await startNode(prefix, 'survivor')
  const { child, hub: doomed } = await startHubProcess(
    { REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: 'doomed', PUSHER_LEASE_TTL_MS: '1000' }, /joined the cluster/)
  try {
    const carol = await connect(doomed, { token: token({ uid: 'carol' }) })
    const dave = await connectAs(a, 'dave')
    await settle(a)
    // The other process writes carol's presence in its own time: nothing here can await
    // that, so the test looks every 100 ms (bounded at 5 s).
    for (let tries = 0; (await a.bus.presenceOf(['carol']))[0]!.connections === 0 && tries < 50; tries++) await setTimeout(100)
    assert.deepEqual((await post(a, '/send', { uid: 'carol', message: 'relayed' })).body, { delivered: 1, nodes: 1 })
    assert.deepEqual(await carol.received(1), ['relayed'])

    const killedAt = Date.now()
    child.kill('SIGKILL')
    await once(child, 'exit')
    await untilAlone(a, killedAt)
    assert.ok(Date.now() - killedAt < 5000, 'the dead node stayed in presence for more than 5 s')
    assert.equal((await post(a, '/send', { uid: 'carol', message: 'lost?' })).status, 404)
    await a.bus.renewLease()
    assert.equal((await metrics(a)).get('pusher_cluster_users_online'), 1)

    assert.equal((await post(a, '/send', { uid: 'dave', message: 'still served' })).status, 200)
    assert.deepEqual(await dave.received(1), ['still served'])
    await dave.close()
  } finally {
    child.kill('SIGKILL')
    await a.app.close()
    await dropPrefix(prefix)
  }
})
