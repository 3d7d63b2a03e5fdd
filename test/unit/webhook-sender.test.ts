// The webhook delivery queue on a moved clock (node:test mock timers): retries after
// doubling, jittered delays; giving up after maxAttempts or maxAgeMs; the queue bound and
// what it drops; the concurrency limit; the per-request timeout; the flush at shutdown.
// The transport is a stand-in whose answers the test decides.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, mock, test } from 'node:test'
import { verifyWebhook } from '../../app.js'
import { newWebhookEvent, type WebhookEventType } from '../../lib/webhooks/events.js'
import { WebhookSender, type WebhookRequest, type WebhookSenderOptions } from '../../lib/webhooks/sender.js'

const SECRET = 'a-webhook-secret-that-is-long-enough-0123'
const URL_WITH_TOKEN = 'https://backend.example:8443/hooks?token=do-not-log-me'

interface Call {
  request: WebhookRequest
  at: number
  answer(status: number): void
}

/** A receiver the test drives: each request waits until answered, or is answered from `script` at once. */
class StandIn {
  readonly calls: Call[] = []
  /** Statuses answered at once, one per request; empty: requests wait for answer(). */
  script: number[] = []

  readonly transport = (request: WebhookRequest): Promise<number> => new Promise((resolve, reject) => {
    const call = { request, at: Date.now(), answer: resolve }
    this.calls.push(call)
    request.signal.addEventListener('abort', () => reject(request.signal.reason))
    const status = this.script.shift()
    if (status !== undefined) resolve(status)
  })
}

const lines: string[] = []
let receiver: StandIn

function sender(options: Partial<WebhookSenderOptions> = {}): WebhookSender {
  return new WebhookSender({
    url: URL_WITH_TOKEN, secret: SECRET, timeoutMs: 10_000, concurrency: 4, maxQueue: 100, maxAttempts: 10, maxAgeMs: 900_000, retryDelayMs: 1000,
    log: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    transport: receiver.transport,
    random: () => 0.5,
    ...options,
  })
}

const event = (type: WebhookEventType = 'user.online', uid = 'ann') => newWebhookEvent(type, uid, Date.now())

/** Lets the promise chains of answered requests run (setImmediate is not mocked). */
const settle = () => new Promise((resolve) => setImmediate(resolve))

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_800_000_000_000 })
  receiver = new StandIn()
  lines.length = 0
})
afterEach(() => mock.timers.reset())

test('a failed event is retried after doubling, jittered delays until a 2xx, and every attempt is signed afresh', async () => {
  const webhooks = sender()
  const start = Date.now()
  receiver.script = [500, 502, 503, 204]
  webhooks.enqueue(event())
  await settle()
  // With the jitter pinned at one half: 500, 1000, then 2000 ms.
  for (const [wait, attempts] of [[499, 1], [1, 2], [999, 2], [1, 3], [1999, 3], [1, 4]] as const) {
    mock.timers.tick(wait)
    await settle()
    assert.equal(receiver.calls.length, attempts, `attempts after ${Date.now() - start} ms`)
  }
  assert.deepEqual(receiver.calls.map((c) => c.at - start), [0, 500, 1500, 3500])
  for (const { request, at } of receiver.calls) {
    assert.equal(verifyWebhook({ body: request.body, headers: request.headers, secret: SECRET, now: at, toleranceSeconds: 1 }), true)
  }
  assert.deepEqual(receiver.calls.map((c) => c.request.headers['pusher-webhook-attempt']), ['1', '2', '3', '4'])
  assert.equal(webhooks.stats.sent['user.online'], 1)
  assert.equal(webhooks.stats.failed['user.online'], 3)
  assert.equal(webhooks.length, 0)
  // One line when it started failing, one when it recovered; the URL's path and query never.
  assert.equal(lines.length, 2)
  assert.match(lines[0]!, /https:\/\/backend\.example:8443 failed \(HTTP 500\)/)
  assert.match(lines[1]!, /succeed again, after 3 failed attempts/)
  assert.ok(lines.every((line) => !line.includes('do-not-log-me') && !line.includes(SECRET)))
})

test('an event is given up after maxAttempts, each attempt counted as failed', async () => {
  const webhooks = sender({ maxAttempts: 3 })
  receiver.script = [500, 500, 500, 500]
  webhooks.enqueue(event('user.offline'))
  const idle = webhooks.idle()
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(60_000)
    await settle()
  }
  await idle
  assert.equal(receiver.calls.length, 3)
  assert.equal(webhooks.stats.failed['user.offline'], 3)
  assert.equal(webhooks.stats.dropped.gave_up['user.offline'], 1)
  assert.equal(webhooks.stats.sent['user.offline'], 0)
  assert.ok(lines.some((line) => /gave up on webhook event .* \(user\.offline\) after 3 attempts/.test(line)))
})

test('an event is given up when its next retry would come later than maxAgeMs after it was queued', async () => {
  const webhooks = sender({ maxAgeMs: 2500 })
  receiver.script = Array(10).fill(500)
  webhooks.enqueue(event())
  await settle()
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(1000)
    await settle()
  }
  // Attempts at 0, 500 and 1500 ms; the next would be at 3500, past 2500.
  assert.equal(receiver.calls.length, 3)
  assert.equal(webhooks.stats.dropped.gave_up['user.online'], 1)
  assert.equal(webhooks.length, 0)
})

test('the queue holds at most maxQueue events; those past it are dropped and counted by type', async () => {
  const webhooks = sender({ maxQueue: 3, concurrency: 1 })
  const accepted = [event('user.online'), event('user.offline'), event('message.expired'), event('message.expired'), event('user.online')]
    .map((e) => webhooks.enqueue(e))
  assert.deepEqual(accepted, [true, true, true, false, false])
  assert.equal(webhooks.length, 3)
  assert.equal(webhooks.room, 0)
  assert.equal(webhooks.stats.dropped.queue_full['message.expired'], 1)
  assert.equal(webhooks.stats.dropped.queue_full['user.online'], 1)
  assert.equal(lines.filter((line) => line.includes('queue full')).length, 1, 'one line, not one per drop')
  // The one in flight is answered: room for one more.
  assert.equal(receiver.calls.length, 1)
  receiver.calls[0]!.answer(200)
  await settle()
  assert.equal(webhooks.room, 1)
  assert.equal(webhooks.enqueue(event()), true)
})

test('no more than `concurrency` requests are in flight at once', async () => {
  const webhooks = sender({ concurrency: 2 })
  for (let i = 0; i < 5; i++) webhooks.enqueue(event('user.online', `u${i}`))
  assert.equal(receiver.calls.length, 2)
  receiver.calls[0]!.answer(204)
  await settle()
  assert.equal(receiver.calls.length, 3)
  for (const call of receiver.calls.slice(1)) call.answer(204)
  await settle()
  receiver.calls.slice(3).forEach((call) => call.answer(204))
  await settle()
  assert.equal(receiver.calls.length, 5)
  assert.equal(webhooks.stats.sent['user.online'], 5)
})

test('a request without an answer within timeoutMs is aborted, counted as failed, and retried', async () => {
  const webhooks = sender({ timeoutMs: 2000 })
  webhooks.enqueue(event())
  mock.timers.tick(1999)
  await settle()
  assert.equal(webhooks.stats.failed['user.online'], 0)
  mock.timers.tick(1)
  await settle()
  assert.equal(receiver.calls[0]!.request.signal.aborted, true)
  assert.equal(webhooks.stats.failed['user.online'], 1)
  assert.match(lines[0]!, /no answer within 2000 ms/)
  mock.timers.tick(500)
  assert.equal(receiver.calls.length, 2, 'retried')
})

test('close() retries at once what would wait past the deadline, and resolves once delivered', async () => {
  const webhooks = sender({ retryDelayMs: 20_000 })
  receiver.script = [500, 204]
  webhooks.enqueue(event('user.offline'))
  await settle()
  assert.equal(receiver.calls.length, 1, 'first attempt failed; the retry would come 10 s later')
  const closed = webhooks.close(2000)
  await settle()
  await closed
  assert.equal(receiver.calls.length, 2)
  assert.equal(webhooks.stats.sent['user.offline'], 1)
})

test('close() drops what is left at the deadline, aborts what is in flight, and refuses new events', async () => {
  const webhooks = sender({ concurrency: 1 })
  webhooks.enqueue(event('user.offline', 'a'))
  webhooks.enqueue(event('user.offline', 'b'))
  const closed = webhooks.close(2000)
  mock.timers.tick(2000)
  await closed
  assert.equal(receiver.calls[0]!.request.signal.aborted, true)
  assert.equal(webhooks.stats.dropped.shutdown['user.offline'], 2)
  assert.equal(webhooks.length, 0)
  assert.equal(webhooks.enqueue(event('user.online')), false)
  assert.equal(webhooks.stats.dropped.shutdown['user.online'], 1)
  assert.ok(lines.some((line) => /2 webhook events .* could not be delivered before shutdown/.test(line)))
  // A late answer to the aborted request changes nothing.
  receiver.calls[0]!.answer(204)
  await settle()
  assert.equal(webhooks.stats.sent['user.offline'], 0)
})
