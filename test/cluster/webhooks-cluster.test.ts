// Webhooks from a cluster joined through the real Redis at REDIS_URL, every node posting
// to one local receiver: each event leaves exactly one node. Online once however many
// nodes hold the user, offline once after the last connection anywhere, no flap when a
// user moves between nodes, offline for the users of a node killed with SIGKILL, and the
// Redis store's message.expired and message.unacked once though every node sweeps and claims.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { type ClusterNode, dropPrefix, REDIS_URL, redisReachable, settle, startNode, testPrefix } from '../support/cluster-helpers.js'
import { connect, connectAs, type Client, post, token } from '../support/helpers.js'
import { startHubProcess } from '../support/processes.js'
import { WEBHOOK_SECRET, WebhookReceiver } from '../support/webhook-receiver.js'

const reachable = await redisReachable()
const skip = reachable ? false : 'Redis is not reachable at REDIS_URL'
const OFFLINE_DELAY_MS = 300

const webhooksTo = (receiver: WebhookReceiver, extra: object = {}) => ({
  webhooks: { url: receiver.url, secret: WEBHOOK_SECRET, offlineDelayMs: OFFLINE_DELAY_MS, retryDelayMs: 20, ...extra },
})

/** Every node has written its presence, run its claims and delivered what it had: any duplicate would have arrived. */
async function quiet(...nodes: ClusterNode[]): Promise<void> {
  for (const node of nodes) await node.bus.presenceSettled()
  for (const node of nodes) await node.app.webhooks!.tick()
  for (const node of nodes) await node.app.webhooks!.idle()
}

/** Proving that nothing more comes needs the debounce to run out: a deadline, not an event, so the test waits it out. */
async function pastTheDebounce(...nodes: ClusterNode[]): Promise<void> {
  await sleep(OFFLINE_DELAY_MS + nodes[0]!.app.webhooks!.tickMs)
  await quiet(...nodes)
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Two nodes with webhooks to one receiver, for the tests of one describe block. */
function twoNodesWithWebhooks(extra: object = {}): { a: ClusterNode; b: ClusterNode; receiver: WebhookReceiver; prefix: string } {
  const prefix = testPrefix()
  const cluster = { prefix } as { a: ClusterNode; b: ClusterNode; receiver: WebhookReceiver; prefix: string }
  before(async () => {
    cluster.receiver = await WebhookReceiver.start()
    const options = webhooksTo(cluster.receiver, extra)
    ;[cluster.a, cluster.b] = await Promise.all([startNode(prefix, 'west', REDIS_URL, options), startNode(prefix, 'east', REDIS_URL, options)])
    await settle(cluster.a, cluster.b)
  })
  after(async () => {
    await Promise.all([cluster.a?.app.close(), cluster.b?.app.close()])
    await dropPrefix(prefix)
    await cluster.receiver?.close()
  })
  return cluster
}

describe('user.online and user.offline across nodes', { skip }, () => {
  const cluster = twoNodesWithWebhooks()

  test('a user connected to two nodes is online once, and offline once, after the last connection anywhere', async () => {
    const { a, b, receiver } = cluster
    const west = await connectAs(a, 'uma')
    await receiver.next('user.online', 'uma')
    const east = await connectAs(b, 'uma')
    await until(() => b.app.hub.connectionsOf('uma') === 1, 'the second connection')
    await quiet(a, b)
    assert.equal(receiver.of('user.online', 'uma').length, 1)

    await west.close()
    await until(() => a.app.hub.connectionsOf('uma') === 0, 'the first close')
    await pastTheDebounce(a, b)
    assert.deepEqual(receiver.of('user.offline', 'uma'), [], 'still connected to the other node')

    await east.close()
    await receiver.next('user.offline', 'uma')
    await pastTheDebounce(a, b)
    assert.equal(receiver.of('user.offline', 'uma').length, 1)
    assert.equal(receiver.of('user.online', 'uma').length, 1)
  })

  test('moving to another node within the debounce is neither offline nor a second online', async () => {
    const { a, b, receiver } = cluster
    const first = await connectAs(a, 'vic')
    await receiver.next('user.online', 'vic')
    await first.close()
    await until(() => a.app.hub.connectionsOf('vic') === 0, 'the close')
    // Written: Redis counts the user offline (pending) before they come back on the other node.
    await a.bus.presenceSettled()
    const moved = await connectAs(b, 'vic')
    await until(() => b.app.hub.connectionsOf('vic') === 1, 'the reconnect')
    await pastTheDebounce(a, b)
    assert.deepEqual(receiver.of('user.offline', 'vic'), [])
    assert.equal(receiver.of('user.online', 'vic').length, 1)
    await moved.close()
    await receiver.next('user.offline', 'vic')
  })

  test('many users connecting to both nodes at once, then leaving at once: one online and one offline each', async () => {
    const { a, b, receiver } = cluster
    const uids = Array.from({ length: 20 }, (_, i) => `crowd-${i}`)
    const clients: Client[] = await Promise.all(uids.flatMap((uid) => [connectAs(a, uid), connectAs(b, uid)]))
    await receiver.until(() => uids.every((uid) => receiver.of('user.online', uid).length > 0), 'every online')
    await Promise.all(clients.map((client) => client.close()))
    await receiver.until(() => uids.every((uid) => receiver.of('user.offline', uid).length > 0), 'every offline')
    await pastTheDebounce(a, b)
    for (const uid of uids) {
      assert.equal(receiver.of('user.online', uid).length, 1, `${uid} online once`)
      assert.equal(receiver.of('user.offline', uid).length, 1, `${uid} offline once`)
    }
  })

  test('a user left behind by a presence write that never landed goes offline when the node rewrites its presence', async () => {
    const { a, receiver, prefix } = cluster
    // What a failed write of a disconnect leaves: Redis still lists the user on node west.
    const redis = new Redis(REDIS_URL)
    await redis.multi().hset(`${prefix}presence:ghost`, 'west', '1').sadd(`${prefix}node:west:users`, 'ghost').sadd(`${prefix}users`, 'ghost').exec()
    redis.disconnect()
    await a.bus.presence.rewrite(() => a.app.hub.userConnections())
    await receiver.next('user.offline', 'ghost')
  })
})

describe('a node killed with SIGKILL', { skip }, () => {
  let child: ChildProcess | undefined
  let survivor: ClusterNode
  let receiver: WebhookReceiver
  const prefix = testPrefix()
  before(async () => {
    receiver = await WebhookReceiver.start()
    survivor = await startNode(prefix, 'survivor', REDIS_URL, webhooksTo(receiver))
  })
  after(async () => {
    child?.kill('SIGKILL')
    await survivor.app.close()
    await dropPrefix(prefix)
    await receiver.close()
  })

  test('its users are reported offline once, by a node still alive, after its lease and the debounce', { timeout: 60_000 }, async () => {
    const started = await startHubProcess({
      REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: 'doomed', PUSHER_LEASE_TTL_MS: '1000',
      PUSHER_WEBHOOK_URL: receiver.url, PUSHER_WEBHOOK_SECRET: WEBHOOK_SECRET, PUSHER_WEBHOOK_OFFLINE_DELAY_MS: String(OFFLINE_DELAY_MS),
    }, /joined the cluster/)
    child = started.child
    await connect(started.hub, { token: token({ uid: 'carol' }) })
    // The doomed node saw carol come online, so it sent that one.
    await receiver.next('user.online', 'carol')
    const dave = await connectAs(survivor, 'dave')
    await receiver.next('user.online', 'dave')

    const killedAt = Date.now()
    child.kill('SIGKILL')
    await once(child, 'exit')
    const offline = await receiver.next('user.offline', 'carol')
    // Lease (1 s, renewed every 200 ms) + the debounce + a tick, with room for a loaded machine.
    assert.ok(Date.now() - killedAt < 5000, `offline ${Date.now() - killedAt} ms after the kill`)
    assert.ok(offline.time >= killedAt, 'time is when the survivor found the node dead')
    await pastTheDebounce(survivor)
    assert.equal(receiver.of('user.offline', 'carol').length, 1)
    assert.deepEqual(receiver.of('user.offline', 'dave'), [])
    await dave.close()
  })
})

describe('message.expired and message.unacked with the Redis store', { skip }, () => {
  const cluster = twoNodesWithWebhooks({ unackedAfterSeconds: 1 })

  test('a message whose ttl runs out unacknowledged is reported once, though every node sweeps', async () => {
    const { a, b, receiver } = cluster
    const sent = await post(a, '/send', { uid: 'nobody-home', message: 'brief', ttl: 1 })
    assert.equal(sent.status, 202)
    const expired = await receiver.next('message.expired', 'nobody-home')
    assert.equal(expired.data!.messageId, sent.body.id)
    assert.equal(expired.data!.seq, sent.body.seq)
    assert.equal(expired.data!.reason, 'ttl')
    assert.equal(expired.data!.expiresAt - expired.data!.createdAt, 1000)
    await Promise.all([a.app.store!.sweep(), b.app.store!.sweep()])
    await quiet(a, b)
    assert.equal(receiver.of('message.expired', 'nobody-home').length, 1)
  })

  test('messages still unacknowledged after the threshold are reported once each, whichever node claims them', async () => {
    const { a, b, receiver } = cluster
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) => post(i % 2 === 0 ? a : b, '/send', { uid: `late-${i % 3}`, message: `m${i}`, ttl: 60 })))
    const ids = new Set(sent.map((response) => response.body.id as string))
    const reported = () => receiver.events.filter((e) => e.type === 'message.unacked' && ids.has(e.data!.messageId))
    await receiver.until(() => new Set(reported().map((e) => e.data!.messageId)).size === ids.size, 'every message.unacked')
    await quiet(a, b)
    assert.equal(reported().length, ids.size, 'none twice')
  })
})
