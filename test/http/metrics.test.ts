// The hub's histograms are kept as plain numbers and rendered by prom-client: their
// counts must match what happened, and their buckets must read as Prometheus expects.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connectAs, metrics, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())

/** Bucket values of one histogram series, in `le` order, ending with +Inf. */
function buckets(series: Map<string, number>, name: string, labels = ''): number[] {
  const prefix = `${name}_bucket{${labels}${labels ? ',' : ''}le="`
  return [...series].filter(([key]) => key.startsWith(prefix)).map(([, value]) => value)
}

test('delivery latency counts one observation per frame written, in cumulative buckets', async () => {
  const clients = await Promise.all([connectAs(hub, 'm1'), connectAs(hub, 'm1'), connectAs(hub, 'm2')])
  const before = (await metrics(hub)).get('pusher_delivery_latency_seconds_count') ?? 0
  await post(hub, '/send', { uid: 'm1', message: 'a' }) // 2 frames
  await post(hub, '/broadcast', { message: 'b' }) // 3 frames
  await post(hub, '/send/batch', { messages: [{ uid: 'm2', message: 'c' }, { uid: 'm2', message: 'd' }] }) // 2 frames
  await Promise.all([clients[0]!.received(2), clients[1]!.received(2), clients[2]!.received(3)])
  await hub.app.hub.drained()

  const series = await metrics(hub)
  assert.equal(series.get('pusher_delivery_latency_seconds_count'), before + 7)
  assert.equal(series.get('pusher_frames_total{outcome="written"}'), before + 7)
  const counts = buckets(series, 'pusher_delivery_latency_seconds')
  assert.equal(counts.length, 15)
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! >= counts[i - 1]!, 'buckets are cumulative')
  assert.equal(counts.at(-1), series.get('pusher_delivery_latency_seconds_count'))
  assert.ok((series.get('pusher_delivery_latency_seconds_sum') ?? -1) >= 0)
  await Promise.all(clients.map((client) => client.close()))
})

test('HTTP durations are counted per method, route and status', async () => {
  const before = await metrics(hub)
  const key = (status: number) => `http_request_duration_seconds_count{method="POST",route="/send",status_code="${status}"}`
  const client = await connectAs(hub, 'http')
  for (let i = 0; i < 3; i++) await post(hub, '/send', { uid: 'http', message: 'x' })
  await post(hub, '/send', { uid: 'nobody', message: 'x' })
  await post(hub, '/send', { uid: 'http' })
  const series = await metrics(hub)
  assert.equal(series.get(key(200)), (before.get(key(200)) ?? 0) + 3)
  assert.equal(series.get(key(404)), (before.get(key(404)) ?? 0) + 1)
  assert.equal(series.get(key(400)), (before.get(key(400)) ?? 0) + 1)
  const counts = buckets(series, 'http_request_duration_seconds', 'method="POST",route="/send",status_code="200"')
  assert.equal(counts.at(-1), series.get(key(200)))
  // Unregistered paths are not recorded: a scan of random URLs cannot grow the series.
  await fetch(`${hub.url}/no-such-route-${Date.now()}`)
  assert.equal([...(await metrics(hub)).keys()].some((k) => k.includes('no-such-route')), false)
  await client.close()
})
