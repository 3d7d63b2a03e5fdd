// Webhooks from one hub to a real local HTTP receiver, which verifies every request with
// the exported verifyWebhook: online and offline with their debounce, the message events
// of the SQLite store, retries when the receiver fails or is not there yet, and the
// flush at shutdown.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { verifyWebhook } from '../../app.js'
import { connectAs, connectFramed, messageState, metrics, post, startHub, tempDir, type TestHub } from '../support/helpers.js'
import { freePort } from '../support/processes.js'
import { WEBHOOK_SECRET, WebhookReceiver } from '../support/webhook-receiver.js'

const OFFLINE_DELAY_MS = 300
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const dir = tempDir('webhooks')

/** Waits for a condition the hub reaches on its own (checked every few ms, bounded). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

const webhooksTo = (receiver: WebhookReceiver, extra: object = {}) => ({
  webhooks: { url: receiver.url, secret: WEBHOOK_SECRET, offlineDelayMs: OFFLINE_DELAY_MS, retryDelayMs: 20, ...extra },
})

/**
 * Proving that nothing more comes needs the debounce to run out: the test waits past it
 * (a deadline, not an event), then makes the hub claim at once and deliver all it has.
 */
async function pastTheDebounce(hub: TestHub): Promise<void> {
  await sleep(OFFLINE_DELAY_MS + hub.app.webhooks!.tickMs)
  await hub.app.webhooks!.tick()
  await hub.app.webhooks!.idle()
}

describe('user.online and user.offline on one node', () => {
  let receiver: WebhookReceiver
  let hub: TestHub
  before(async () => {
    receiver = await WebhookReceiver.start()
    hub = await startHub(webhooksTo(receiver))
  })
  after(async () => {
    await hub.app.close()
    await receiver.close()
  })

  test('the first connection of a user sends one signed user.online; more connections send nothing more', async () => {
    const before = Date.now()
    const first = await connectAs(hub, 'olive')
    const online = await receiver.next('user.online', 'olive')
    assert.match(online.id, UUID)
    assert.ok(online.time >= before && online.time <= Date.now(), 'time is when the user came online')
    assert.equal(online.data, undefined)
    const request = receiver.requests.find((r) => r.body.includes(online.id))!
    assert.equal(request.verified, true)
    assert.equal(request.headers['pusher-webhook-id'], online.id)
    assert.match(String(request.headers['pusher-webhook-signature']), /^v1=[0-9a-f]{64}$/)
    assert.equal(request.headers['content-type'], 'application/json')
    assert.equal(verifyWebhook({ body: request.body, headers: request.headers, secret: 'another-secret-another-secret' }), false)
    assert.equal(verifyWebhook({ body: request.body.replace('olive', 'oscar'), headers: request.headers, secret: WEBHOOK_SECRET }), false)

    const second = await connectAs(hub, 'olive')
    await until(() => hub.app.hub.connectionsOf('olive') === 2, 'the second connection')
    await hub.app.webhooks!.idle()
    assert.equal(receiver.of('user.online', 'olive').length, 1)

    // One of two closing is not offline; the last one is, once the debounce is over.
    await second.close()
    await until(() => hub.app.hub.connectionsOf('olive') === 1, 'the first close')
    await first.close()
    await until(() => hub.app.hub.connectionsOf('olive') === 0, 'the last close')
    const wentAt = Date.now()
    const offline = await receiver.next('user.offline', 'olive')
    assert.ok(Math.abs(offline.time - wentAt) < 100, 'time is when the last connection closed')
    assert.ok(Date.now() - offline.time >= OFFLINE_DELAY_MS, 'sent only once the debounce was over')
    assert.equal(receiver.of('user.offline', 'olive').length, 1)
  })

  test('a reconnect within the debounce sends neither user.offline nor a second user.online', async () => {
    const first = await connectAs(hub, 'quick')
    await receiver.next('user.online', 'quick')
    await first.close()
    await until(() => hub.app.hub.connectionsOf('quick') === 0, 'the close')
    const again = await connectAs(hub, 'quick')
    await until(() => hub.app.hub.connectionsOf('quick') === 1, 'the reconnect')
    await pastTheDebounce(hub)
    assert.deepEqual(receiver.of('user.offline', 'quick'), [])
    assert.equal(receiver.of('user.online', 'quick').length, 1)

    await again.close()
    await receiver.next('user.offline', 'quick')
    await pastTheDebounce(hub)
    assert.equal(receiver.of('user.offline', 'quick').length, 1)
  })

  test('a receiver answering 500 and 503 gets the event on a later attempt; every failed attempt is counted', async () => {
    await hub.app.webhooks!.idle()
    const failedBefore = (await metrics(hub)).get('pusher_webhook_failed_total{type="user.online"}')!
    receiver.answers = [500, 503]
    const client = await connectAs(hub, 'retried')
    const online = await receiver.next('user.online', 'retried')
    const attempts = receiver.requests.filter((r) => r.headers['pusher-webhook-id'] === online.id)
    assert.deepEqual(attempts.map((r) => r.headers['pusher-webhook-attempt']), ['1', '2', '3'])
    assert.ok(attempts.every((r) => r.verified), 'every attempt is signed')
    const series = await metrics(hub)
    assert.equal(series.get('pusher_webhook_failed_total{type="user.online"}'), failedBefore + 2)
    assert.ok(series.get('pusher_webhook_sent_total{type="user.online"}')! >= 1)
    assert.equal(series.get('pusher_webhook_dropped_total{type="user.online",reason="gave_up"}'), 0)
    await client.close()
    await receiver.next('user.offline', 'retried')
    await hub.app.webhooks!.idle()
    assert.equal((await metrics(hub)).get('pusher_webhook_queue_length'), 0)
  })
})

test('a receiver that is not listening yet (connection refused) gets the event once it is', async () => {
  const port = await freePort()
  const hub = await startHub({ webhooks: { url: `http://127.0.0.1:${port}/hooks`, secret: WEBHOOK_SECRET, retryDelayMs: 20 } })
  let receiver: WebhookReceiver | undefined
  try {
    const client = await connectAs(hub, 'early')
    await until(() => hub.app.webhooks!.stats.failed['user.online'] >= 1, 'a refused attempt')
    receiver = await WebhookReceiver.start(port)
    const online = await receiver.next('user.online', 'early')
    const request = receiver.requests.find((r) => r.headers['pusher-webhook-id'] === online.id)!
    assert.ok(Number(request.headers['pusher-webhook-attempt']) >= 2)
    assert.equal(request.verified, true)
    await client.close()
  } finally {
    await hub.app.close()
    await receiver?.close()
  }
})

test('a hub shutting down reports its users offline before close() resolves', async () => {
  const receiver = await WebhookReceiver.start()
  const hub = await startHub(webhooksTo(receiver, { offlineDelayMs: 60_000 }))
  try {
    await connectAs(hub, 'leaving')
    await receiver.next('user.online', 'leaving')
  } finally {
    await hub.app.close()
  }
  // The debounce is a minute: only the flush at shutdown can have sent it.
  assert.equal(receiver.of('user.offline', 'leaving').length, 1)
  await receiver.close()
})

describe('message.expired and message.unacked with the SQLite store', () => {
  let receiver: WebhookReceiver
  let hub: TestHub
  before(async () => {
    receiver = await WebhookReceiver.start()
    hub = await startHub({ store: { path: join(dir, 'messages.db'), maxPerUser: 2 }, ...webhooksTo(receiver, { unackedAfterSeconds: 1 }) })
  })
  after(async () => {
    await hub.app.close()
    await receiver.close()
  })

  const createdAt = async (id: string) => Date.parse((await messageState(hub, id)).body.createdAt)

  test('a durable message whose ttl runs out unacknowledged sends message.expired, once', async () => {
    const sent = await post(hub, '/send', { uid: 'absent', message: 'only for a second', ttl: 1 })
    assert.equal(sent.status, 202)
    const expired = await receiver.next('message.expired', 'absent')
    const created = await createdAt(sent.body.id)
    assert.deepEqual(expired.data, { messageId: sent.body.id, seq: sent.body.seq, createdAt: created, expiresAt: created + 1000, reason: 'ttl' })
    assert.equal(expired.time, created + 1000, 'time is when it expired')
    await hub.app.store!.sweep()
    await hub.app.webhooks!.idle()
    assert.equal(receiver.of('message.expired', 'absent').length, 1)
    // It expired at the same moment it became due as unacknowledged: only the expiry is reported.
    assert.deepEqual(receiver.of('message.unacked', 'absent'), [])
  })

  test('a message still unacknowledged a second after it was stored sends message.unacked, with whether it was written to a connection', async () => {
    const queued = await post(hub, '/send', { uid: 'away', message: 'read me', ttl: 60 })
    const plain = await connectAs(hub, 'plain-client')
    const written = await post(hub, '/send', { uid: 'plain-client', message: 'cannot ack', ttl: 60 })
    assert.equal(written.body.status, 'delivered')

    const unacked = await receiver.next('message.unacked', 'away')
    const created = await createdAt(queued.body.id)
    assert.deepEqual(unacked.data, { messageId: queued.body.id, seq: queued.body.seq, createdAt: created, expiresAt: created + 60_000 })
    assert.equal(unacked.time, created + 1000)
    const delivered = await receiver.next('message.unacked', 'plain-client')
    assert.equal(delivered.data!.messageId, written.body.id)
    assert.ok(delivered.data!.deliveredAt! >= await createdAt(written.body.id), 'deliveredAt says it reached a connection')
    await plain.close()
  })

  test('a message acknowledged in time sends no message.unacked', async () => {
    const client = await connectFramed(hub, 'prompt')
    const sent = await post(hub, '/send', { uid: 'prompt', message: 'ack me', ttl: 60 })
    const [envelope] = await client.envelopes(1)
    client.ack(envelope!.seq!)
    await until(() => hub.app.store!.stats.acked > 0, 'the ack')
    await hub.app.store!.settled()
    assert.equal((await messageState(hub, sent.body.id)).body.status, 'acked')
    // Past its due time (a deadline: nothing is to arrive), then claim at once.
    await sleep(Math.max(0, await createdAt(sent.body.id) + 1000 - Date.now()) + hub.app.webhooks!.tickMs)
    await hub.app.webhooks!.tick()
    await hub.app.webhooks!.idle()
    assert.deepEqual(receiver.of('message.unacked', 'prompt'), [])
    await client.close()
  })

  test('a message pushed out by the per-user limit sends message.expired with reason queue_limit', async () => {
    const first = await post(hub, '/send', { uid: 'crowded', message: '1', ttl: 60 })
    await post(hub, '/send', { uid: 'crowded', message: '2', ttl: 60 })
    await post(hub, '/send', { uid: 'crowded', message: '3', ttl: 60 })
    const expired = await receiver.next('message.expired', 'crowded')
    assert.equal(expired.data!.messageId, first.body.id)
    assert.equal(expired.data!.reason, 'queue_limit')
    assert.equal((await messageState(hub, first.body.id)).body.status, 'expired')
  })
})
