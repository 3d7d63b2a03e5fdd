// /ready in cluster mode. A node that has lost Redis, or only its relay subscription,
// still answers /health: readiness is what tells a balancer that sends through it, or
// to its users, would not arrive. With a redis-server of the test's own, killed and
// restarted, and a subscriber connection cut under a node whose commands still work.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import type { Redis } from 'ioredis'
import { connectAs, metrics, post, type TestHub } from '../support/helpers.js'
import { freePort } from '../support/processes.js'
import { dropPrefix, redisReachable, settle, startNode, startRedisServer, testPrefix } from '../support/cluster-helpers.js'

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0
if (!hasRedisServer && process.env.CI) throw new Error('redis-server is required under CI=true (apt-get install redis-server)')
const skip = !hasRedisServer ? 'redis-server is not installed' : (await redisReachable()) ? false : 'Redis is not reachable at REDIS_URL'

/**
 * GET /ready until it answers `status` and, if given, `until` holds for its body. The
 * connections notice Redis is gone when each one closes, and the store probe's answer is
 * reused for a second: the test looks again every 100 ms, for 10 s at most.
 */
async function readyAnswers(hub: TestHub, status: number, until: (body: any) => boolean = () => true): Promise<any> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const response = await fetch(`${hub.url}/ready`)
    const body = await response.json()
    if ((response.status === status && until(body)) || Date.now() > deadline) {
      assert.equal(response.status, status, JSON.stringify(body))
      return body
    }
    await sleep(100)
  }
}

const ALL_PASS = { shutdown: { ok: true }, redis: { ok: true }, relay: { ok: true }, store: { ok: true } }

test('Redis killed: /ready turns 503 naming the link, the relay and the store, and 200 again once Redis is back', { skip, timeout: 60_000 }, async () => {
  const port = await freePort()
  let redis = await startRedisServer(port)
  const prefix = testPrefix()
  const node = await startNode(prefix, 'probed', `redis://127.0.0.1:${port}`)
  try {
    assert.deepEqual(await readyAnswers(node, 200), { status: 'ready', checks: ALL_PASS })
    assert.equal((await metrics(node)).get('pusher_ready'), 1)

    redis.kill('SIGKILL')
    await once(redis, 'exit')
    const body = await readyAnswers(node, 503, ({ checks }) => !checks.redis.ok && !checks.relay.ok && !checks.store.ok)
    assert.equal(body.code, 'PUSHER_ERR_NOT_READY')
    assert.deepEqual(body.checks.shutdown, { ok: true })
    assert.match(body.checks.redis.reason, /command connection to Redis is down/)
    assert.match(body.checks.relay.reason, /not subscribed to its relay channel/)
    assert.match(body.checks.store.reason, /cannot write/)
    assert.equal((await metrics(node)).get('pusher_ready'), 0)
    // The process itself is fine: liveness stays green, so an orchestrator does not restart it.
    assert.equal((await fetch(`${node.url}/health`)).status, 200)

    redis = await startRedisServer(port)
    await node.bus.whenRedisReady()
    await settle(node)
    assert.deepEqual(await readyAnswers(node, 200), { status: 'ready', checks: ALL_PASS })
    assert.equal((await metrics(node)).get('pusher_ready'), 1)
  } finally {
    await node.app.close()
    redis.kill('SIGKILL')
  }
})

test('a node whose relay subscription died while its command link works: sends to its users are lost, and /ready says so', { skip, timeout: 60_000 }, async () => {
  const prefix = testPrefix()
  const [deaf, other] = await Promise.all([startNode(prefix, 'deaf'), startNode(prefix, 'other')])
  try {
    const carol = await connectAs(deaf, 'carol')
    await settle(deaf, other)
    assert.equal((await post(other, '/send', { uid: 'carol', message: 'heard' })).status, 200)
    assert.deepEqual(await carol.received(1), ['heard'])

    // The subscriber connection, gone for good; the command connection is untouched.
    ;(deaf.bus as unknown as { subscriber: Redis }).subscriber.disconnect()
    const body = await readyAnswers(deaf, 503)
    assert.deepEqual(body.checks.redis, { ok: true })
    assert.deepEqual(body.checks.store, { ok: true })
    assert.equal(body.checks.relay.ok, false)
    assert.match(body.message, /^This node cannot deliver messages now \(relay: /)
    assert.equal((await metrics(deaf)).get('pusher_redis_up'), 1)
    // What readiness warns about: presence still lists carol on the deaf node, but
    // nothing relayed to it arrives, so a send from another node reaches no one.
    assert.equal((await post(other, '/send', { uid: 'carol', message: 'lost' })).status, 404)
    assert.deepEqual(carol.messages, ['heard'])
    assert.equal((await fetch(`${other.url}/ready`)).status, 200)
    await carol.close()
  } finally {
    await Promise.all([deaf.app.close(), other.app.close()])
    await dropPrefix(prefix)
  }
})
