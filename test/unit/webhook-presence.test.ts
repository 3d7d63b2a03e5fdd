// user.online and user.offline on one node, from the hub's connects and disconnects,
// without sockets (FakeWs) and on a moved clock: the debounce, a reconnect within it,
// claims that take no more than the delivery queue has room for, and shutdown.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, mock, test } from 'node:test'
import { Hub } from '../../lib/hub/hub.js'
import type { WebhookEvent } from '../../lib/webhooks/events.js'
import { LocalPresenceFeed } from '../../lib/webhooks/presence-feed.js'
import { WebhookSender } from '../../lib/webhooks/sender.js'
import { Webhooks } from '../../lib/webhooks/webhooks.js'
import { FakeWs } from '../support/fake-ws.js'

const DELAY = 5000
let hub: Hub
let delivered: WebhookEvent[]
/** Requests the stand-in receiver has not answered yet. */
let unanswered: Array<() => void>

function webhooks(options: { maxQueue?: number; answer?: boolean } = {}): Webhooks {
  const sender = new WebhookSender({
    url: 'http://127.0.0.1:1/hooks', secret: 'x'.repeat(32), timeoutMs: 60_000, concurrency: 100, maxQueue: options.maxQueue ?? 100,
    maxAttempts: 3, maxAgeMs: 600_000, retryDelayMs: 1000, log: { info() {}, warn() {} },
    transport: (request) => new Promise((resolve) => {
      delivered.push(JSON.parse(request.body) as WebhookEvent)
      if (options.answer === false) unanswered.push(() => resolve(204))
      else resolve(204)
    }),
  })
  const instance = new Webhooks({
    sender, presence: new LocalPresenceFeed(hub), events: ['user.online', 'user.offline'], offlineDelayMs: DELAY, unackedAfterMs: 0, info() {}, warn() {},
  })
  instance.start()
  return instance
}

const connect = (uid: string) => {
  const ws = new FakeWs()
  hub.add(uid, ws.asWebSocket)
  return ws
}
const kinds = () => delivered.map((e) => `${e.type} ${e.uid}`)

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_800_000_000_000 })
  hub = new Hub({ maxBufferedBytes: 1024, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1 })
  delivered = []
  unanswered = []
})
afterEach(() => mock.timers.reset())

test('online at the first connection; offline once the last one has been gone for the whole debounce', async () => {
  const hooks = webhooks()
  const first = connect('ann')
  const second = connect('ann')
  assert.deepEqual(kinds(), ['user.online ann'])
  first.finishClose()
  second.finishClose()
  const wentAt = Date.now()
  mock.timers.tick(DELAY - 1)
  await hooks.tick()
  assert.deepEqual(kinds(), ['user.online ann'], 'not before the debounce is over')
  mock.timers.tick(1)
  await hooks.tick()
  assert.deepEqual(kinds(), ['user.online ann', 'user.offline ann'])
  assert.equal(delivered[1]!.time, wentAt)
  mock.timers.tick(DELAY)
  await hooks.tick()
  assert.equal(delivered.length, 2, 'claimed once')
})

test('a reconnect within the debounce cancels the offline and is no second online', async () => {
  const hooks = webhooks()
  connect('bea').finishClose()
  mock.timers.tick(DELAY - 10)
  const back = connect('bea')
  mock.timers.tick(DELAY * 2)
  await hooks.tick()
  assert.deepEqual(kinds(), ['user.online bea'])
  back.finishClose()
  mock.timers.tick(DELAY)
  await hooks.tick()
  assert.deepEqual(kinds(), ['user.online bea', 'user.offline bea'])
})

test('claims take no more than the queue has room for; the rest wait, pending, for a later tick', async () => {
  const hooks = webhooks({ maxQueue: 3, answer: false })
  for (const uid of ['a', 'b', 'c', 'd', 'e']) connect(uid).finishClose()
  // The five onlines: three queued, two dropped as the queue is full.
  assert.equal(hooks.stats.dropped.queue_full['user.online'], 2)
  for (const answer of unanswered.splice(0)) answer()
  await hooks.idle()
  mock.timers.tick(DELAY)
  await hooks.tick()
  assert.equal(hooks.queueLength, 3)
  assert.equal(hooks.stats.dropped.queue_full['user.offline'], 0, 'the other two were left pending, not dropped')
  for (const answer of unanswered.splice(0)) answer()
  await hooks.idle()
  await hooks.tick()
  for (const answer of unanswered.splice(0)) answer()
  await hooks.idle()
  assert.deepEqual(delivered.filter((e) => e.type === 'user.offline').map((e) => e.uid), ['a', 'b', 'c', 'd', 'e'])
})

test('shutdown sends the pending offlines at once: nothing else would, once this node is gone', async () => {
  const hooks = webhooks()
  connect('cy')
  connect('dee').finishClose()
  // The hub closes its connections first (the WebSocket route's preClose), then the webhooks close.
  const closing = hub.close(100)
  mock.timers.tick(100)
  await closing
  await hooks.close(1000)
  assert.deepEqual(kinds().sort(), ['user.offline cy', 'user.offline dee', 'user.online cy', 'user.online dee'])
})
