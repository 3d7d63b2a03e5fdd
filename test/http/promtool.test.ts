// Prometheus' own linter on the hub's real /metrics output after traffic, and on the
// shipped alert rules and scrape config (Debian package `prometheus` provides promtool).
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { after, before, test } from 'node:test'
import { connectAs, post, refusedUpgrade, startHub, type TestHub } from '../support/helpers.js'
import { root } from '../support/paths.js'

const promtoolFound = spawnSync('promtool', ['--version']).status === 0
if (!promtoolFound && process.env.CI) throw new Error('promtool is required under CI=true: apt-get install prometheus')
const skip = promtoolFound ? false : 'promtool not installed (apt-get install prometheus)'

async function promtool(args: string[], stdin?: string): Promise<{ code: number; output: string }> {
  const run = promisify(execFile)
  try {
    const child = run('promtool', args, { cwd: root })
    if (stdin !== undefined) {
      child.child.stdin!.end(stdin)
    }
    const { stdout, stderr } = await child
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, output: stdout + stderr }
  }
}

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())

test('promtool check metrics passes on /metrics after every kind of traffic', { skip }, async () => {
  const clients = await Promise.all([connectAs(hub, 'p1'), connectAs(hub, 'p1'), connectAs(hub, 'p2')])
  await post(hub, '/send', { uid: 'p1', message: 'x' })
  await post(hub, '/send', { uid: 'nobody', message: 'x' })
  await post(hub, '/broadcast', { message: 'y' })
  await post(hub, '/send/batch', { messages: [{ uid: 'p2', message: 'z' }] })
  await post(hub, '/users/p1/topics', { subscribe: ['lint/topic'] })
  await post(hub, '/publish', { topic: 'lint/topic', message: 't' })
  await post(hub, '/publish', { topic: 'lint/nobody', message: 't' })
  await post(hub, '/send', { bad: true })
  await refusedUpgrade(`${hub.wsUrl}/ws?token=nope`)
  await clients[2]!.close()
  await hub.app.hub.drained()

  const text = await (await fetch(`${hub.url}/metrics`)).text()
  // Every family the dashboard and alerts use is present with samples.
  for (const name of ['connections', 'pending', 'pusher_ready', 'pusher_users_online', 'pusher_messages_total', 'pusher_delivery_latency_seconds_bucket',
    'pusher_disconnects_total', 'pusher_auth_failures_total', 'pusher_refused_total', 'http_request_duration_seconds_bucket', 'process_cpu_user_seconds_total',
    'pusher_topics', 'pusher_topic_subscriptions', 'pusher_topic_publishes_total', 'pusher_topic_deliveries_total', 'pusher_topic_fanout_seconds_bucket', 'pusher_topic_history_replayed_total']) {
    assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} missing`)
  }
  const { code, output } = await promtool(['check', 'metrics'], text)
  assert.equal(code, 0, output)
  await Promise.all(clients.map((client) => client.close()))
})

test('promtool check rules and test rules pass on deploy/alerts.yml', { skip }, async () => {
  const check = await promtool(['check', 'rules', 'deploy/alerts.yml'])
  assert.equal(check.code, 0, check.output)
  const unit = await promtool(['test', 'rules', 'deploy/alerts.test.yml'])
  assert.equal(unit.code, 0, unit.output)
})

test('promtool check config passes on the single-node and the cluster scrape configs', { skip }, async () => {
  for (const file of ['deploy/prometheus.yml', 'deploy/prometheus.cluster.yml']) {
    const { code, output } = await promtool(['check', 'config', file])
    assert.equal(code, 0, output)
  }
})

test('promtool check metrics passes on a cluster node\'s /metrics too', { skip }, async (t) => {
  const { dropPrefix, redisReachable, settle, startNode, testPrefix } = await import('../support/cluster-helpers.js')
  if (!(await redisReachable())) return t.skip('Redis is not reachable at REDIS_URL')
  const prefix = testPrefix()
  const node = await startNode(prefix, 'linted')
  try {
    const client = await connectAs(node, 'c1')
    await settle(node)
    await post(node, '/send', { uid: 'c1', message: 'x' })
    const text = await (await fetch(`${node.url}/metrics`)).text()
    for (const name of ['pusher_redis_up', 'pusher_ready', 'pusher_cluster_nodes', 'pusher_cluster_users_online', 'pusher_relayed_total']) {
      assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} missing`)
    }
    const { code, output } = await promtool(['check', 'metrics'], text)
    assert.equal(code, 0, output)
    await client.close()
  } finally {
    await node.app.close()
    await dropPrefix(prefix)
  }
})

test('promtool check metrics passes with webhooks on, after events were delivered and failed', { skip }, async () => {
  const { WEBHOOK_SECRET, WebhookReceiver } = await import('../support/webhook-receiver.js')
  const receiver = await WebhookReceiver.start()
  const withHooks = await startHub({ webhooks: { url: receiver.url, secret: WEBHOOK_SECRET, retryDelayMs: 10 } })
  try {
    receiver.answers = [500]
    const client = await connectAs(withHooks, 'hooked')
    await receiver.next('user.online', 'hooked')
    const text = await (await fetch(`${withHooks.url}/metrics`)).text()
    for (const name of ['pusher_webhook_sent_total', 'pusher_webhook_failed_total', 'pusher_webhook_dropped_total', 'pusher_webhook_queue_length']) {
      assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} missing`)
    }
    const { code, output } = await promtool(['check', 'metrics'], text)
    assert.equal(code, 0, output)
    await client.close()
  } finally {
    await withHooks.app.close()
    await receiver.close()
  }
})
