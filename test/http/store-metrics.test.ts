// The durable store's metrics in a hub's /metrics: what an operator reads
// after durable sends to an offline user and that user connecting; absent without a store.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, mock, test } from 'node:test'
import { API_KEY, connectAs, connectFramed, metrics, post, startHub, tempDir, type TestHub } from '../support/helpers.js'

const dir = tempDir('store-metrics')
let hub: TestHub
before(async () => {
  hub = await startHub({ store: { path: join(dir, 'hub.db'), maxPerUser: 3 } })
})
after(() => hub.app.close())

const OPERATIONS = ['append', 'mark_delivered', 'ack', 'last_seq', 'open', 'get', 'sweep', 'topic_append', 'topic_after']
const byStatus = (series: Map<string, number>) =>
  Object.fromEntries(['queued', 'delivered', 'acked', 'expired'].map((status) => [status, series.get(`pusher_store_messages{status="${status}"}`)]))
const operations = (series: Map<string, number>) =>
  Object.fromEntries(OPERATIONS.map((operation) => [operation, series.get(`pusher_store_operation_duration_seconds_count{operation="${operation}"}`)]))

/**
 * /metrics once the store has landed every update asked of it so far. The hub writes
 * the frames, then (in the same turn) asks the store to mark them delivered, so by the
 * time a client has a message, its update is in flight.
 */
async function metricsSettled(): Promise<Map<string, number>> {
  await hub.app.store!.settled()
  return metrics(hub)
}

test('every store metric is exported from the start, at zero', async () => {
  const series = await metrics(hub)
  assert.deepEqual(byStatus(series), { queued: 0, delivered: 0, acked: 0, expired: 0 })
  for (const name of ['pusher_store_stored_total', 'pusher_store_delivered_total', 'pusher_store_acked_total', 'pusher_store_replayed_total']) {
    assert.equal(series.get(name), 0, name)
  }
  assert.equal(series.get('pusher_store_expired_total{reason="ttl"}'), 0)
  assert.equal(series.get('pusher_store_expired_total{reason="queue_limit"}'), 0)
  assert.deepEqual(operations(series), Object.fromEntries(OPERATIONS.map((operation) => [operation, 0])))
})

test('durable sends to an offline user, then their connect: stored, by status, replayed, and the store latency', async () => {
  assert.equal((await post(hub, '/send', { uid: 'away', message: 'one', ttl: 60 })).status, 202)
  assert.equal((await post(hub, '/send', { uid: 'away', message: 'two', durable: true })).status, 202)
  let series = await metrics(hub)
  assert.equal(series.get('pusher_store_stored_total'), 2)
  assert.deepEqual(byStatus(series), { queued: 2, delivered: 0, acked: 0, expired: 0 })
  assert.equal(series.get('pusher_store_operation_duration_seconds_count{operation="append"}'), 2)

  const client = await connectAs(hub, 'away')
  assert.deepEqual(await client.received(2), ['one', 'two'])
  series = await metricsSettled()
  assert.deepEqual(byStatus(series), { queued: 0, delivered: 2, acked: 0, expired: 0 })
  assert.equal(series.get('pusher_store_replayed_total'), 2)
  assert.equal(series.get('pusher_store_delivered_total'), 2)
  // The replay read the queue and marked what it wrote.
  const counts = operations(series)
  assert.ok(counts.open! >= 1, `open: ${counts.open}`)
  assert.ok(counts.mark_delivered! >= 1, `mark_delivered: ${counts.mark_delivered}`)

  // The histogram reads as Prometheus expects: cumulative buckets ending at the count.
  const prefix = 'pusher_store_operation_duration_seconds_bucket{operation="append",le="'
  const buckets = [...series].filter(([key]) => key.startsWith(prefix)).map(([, value]) => value)
  assert.equal(buckets.length, 16)
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]! >= buckets[i - 1]!, 'buckets are cumulative')
  assert.equal(buckets.at(-1), 2)
  assert.ok(series.get('pusher_store_operation_duration_seconds_sum{operation="append"}')! > 0)
  await client.close()
})

test('an acknowledgement, a lapsed ttl and the per-user limit move the by-status gauge and the counters', async () => {
  // A framed client acknowledges what it was given.
  const sent = await post(hub, '/send', { uid: 'acker', message: 'ack me', ttl: 60 })
  const framed = await connectFramed(hub, 'acker')
  const [envelope] = await framed.envelopes(1)
  // The hub hands the ack to the store (its own listener, first) when the frame arrives.
  const acked = once(hub.app.hub, 'ack')
  framed.ack(envelope!.seq!)
  await acked
  let series = await metricsSettled()
  assert.equal(envelope!.id, sent.body.id)
  assert.equal(series.get('pusher_store_acked_total'), 1)
  assert.equal(series.get('pusher_store_messages{status="acked"}'), 1)
  assert.ok(series.get('pusher_store_operation_duration_seconds_count{operation="ack"}')! >= 1)
  await framed.close()

  // Past its ttl a message counts as expired at once; the counter moves when the sweep expires it.
  assert.equal((await post(hub, '/send', { uid: 'late', message: 'too late', ttl: 1 })).status, 202)
  // The clock moves past the ttl instead of the test waiting for it.
  mock.timers.enable({ apis: ['Date'], now: Date.now() })
  try {
    mock.timers.tick(1001)
    series = await metrics(hub)
    assert.equal(series.get('pusher_store_messages{status="expired"}'), 1)
    assert.equal(series.get('pusher_store_expired_total{reason="ttl"}'), 0)
    await hub.app.store!.sweep()
    series = await metrics(hub)
    assert.equal(series.get('pusher_store_messages{status="expired"}'), 1)
    assert.equal(series.get('pusher_store_expired_total{reason="ttl"}'), 1)
  } finally {
    mock.timers.reset()
  }
  assert.equal(series.get('pusher_store_operation_duration_seconds_count{operation="sweep"}'), 1)

  // maxPerUser is 3: the fourth queued message pushes the oldest out.
  for (let i = 0; i < 4; i++) await post(hub, '/send', { uid: 'full', message: `m${i}`, ttl: 60 })
  series = await metrics(hub)
  assert.equal(series.get('pusher_store_expired_total{reason="queue_limit"}'), 1)
  assert.deepEqual(byStatus(series), { queued: 3, delivered: 2, acked: 1, expired: 2 })

  // Status by id is a store read too.
  await fetch(`${hub.url}/messages/${sent.body.id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  assert.equal((await metrics(hub)).get('pusher_store_operation_duration_seconds_count{operation="get"}'), 1)
})

test('promtool check metrics passes on /metrics with the store metrics', { skip: spawnSync('promtool', ['--version']).status === 0 ? false : 'promtool not installed (apt-get install prometheus)' }, async () => {
  const text = await (await fetch(`${hub.url}/metrics`)).text()
  for (const name of ['pusher_store_messages', 'pusher_store_stored_total', 'pusher_store_expired_total', 'pusher_store_replayed_total', 'pusher_store_operation_duration_seconds_bucket']) {
    assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} missing`)
  }
  const child = promisify(execFile)('promtool', ['check', 'metrics'])
  child.child.stdin!.end(text)
  const outcome = await child.then(() => ({ code: 0, output: '' }), (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }))
  assert.equal(outcome.code, 0, outcome.output)
})

test('without a store, /metrics has no store metrics', async () => {
  const plain = await startHub()
  try {
    const names = [...(await metrics(plain)).keys()]
    assert.deepEqual(names.filter((name) => name.startsWith('pusher_store_')), [])
  } finally {
    await plain.app.close()
  }
})

test('the connect of a user with nothing stored reads only their last seq, no messages', async () => {
  const before = operations(await metrics(hub))
  const client = await connectAs(hub, 'never-sent-to')
  // The replay's read starts when the hub takes the connection, before the client sees it open.
  const after = operations(await metricsSettled())
  assert.equal(after.last_seq, before.last_seq! + 1)
  assert.equal(after.open, before.open)
  await client.close()
})
