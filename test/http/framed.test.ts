// The framed protocol (pusher.framed.v1): JSON envelopes with id and seq for durable
// messages, acks that cover everything up to a seq, and resume with ?since=.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { connect, connectAs, connectFramed as connectWith, messageState, post, refusedUpgrade, startHub, tempDir, type TestHub, token } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ store: { path: join(tempDir('framed'), 'hub.db') } })
})
after(() => hub.app.close())

const connectFramed = (uid: string, since?: number) => connectWith(hub, uid, since)

const status = async (id: string): Promise<string> => (await messageState(hub, id)).body.status

/** Resolves once the store shows `id` in `wanted` status (acks are fire-and-forget frames). */
async function statusBecomes(id: string, wanted: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = () => status(id).then((now) => (now === wanted ? resolve() : setImmediate(check)))
    check()
  })
}

test('a framed connection gets envelopes with id, seq and time; a plain one of the same user gets the bare text', async () => {
  const framed = await connectFramed('both')
  const plain = await connectAs(hub, 'both')
  const durable = await post(hub, '/send', { uid: 'both', message: 'kept "quoted"', ttl: 60 })
  assert.equal(durable.status, 200)
  assert.equal(durable.body.delivered, 2)
  const before = Date.now()
  assert.equal((await post(hub, '/send', { uid: 'both', message: 'fleeting' })).status, 200)

  const [kept, fleeting] = await framed.envelopes(2)
  assert.deepEqual({ id: kept!.id, seq: kept!.seq, data: kept!.data }, { id: durable.body.id, seq: durable.body.seq, data: 'kept "quoted"' })
  assert.ok(Math.abs(kept!.time - Date.now()) < 60_000)
  assert.equal(fleeting!.data, 'fleeting')
  assert.equal(fleeting!.id, undefined)
  assert.equal(fleeting!.seq, undefined)
  assert.ok(fleeting!.time >= before)
  assert.deepEqual(await plain.received(2), ['kept "quoted"', 'fleeting'])
  await Promise.all([framed.close(), plain.close()])
})

test('one ack covers every message up to its seq; acknowledged messages are not replayed', async () => {
  const ids: string[] = []
  for (const message of ['a', 'b', 'c']) ids.push((await post(hub, '/send', { uid: 'acker', message, ttl: 60 })).body.id)
  const first = await connectFramed('acker')
  const envelopes = await first.envelopes(3)
  assert.deepEqual(envelopes.map((e) => e.data), ['a', 'b', 'c'])
  first.ack(envelopes[1]!.seq!)
  await statusBecomes(ids[1]!, 'acked')
  assert.equal(await status(ids[0]!), 'acked')
  assert.equal(await status(ids[2]!), 'delivered')
  await first.close()

  // Reconnecting from the start: only what was not acknowledged comes again.
  const second = await connectFramed('acker')
  assert.deepEqual((await second.envelopes(1)).map((e) => e.data), ['c'])
  await second.close()
})

test('resume with ?since= replays only what came after the last seq the client saw, then live messages', async () => {
  const seqs: number[] = []
  for (const message of ['one', 'two', 'three']) seqs.push((await post(hub, '/send', { uid: 'resumer', message, ttl: 60 })).body.seq)
  const client = await connectFramed('resumer', seqs[0])
  const replayed = await client.envelopes(2)
  assert.deepEqual(replayed.map((e) => [e.seq, e.data]), [[seqs[1], 'two'], [seqs[2], 'three']])
  await post(hub, '/send', { uid: 'resumer', message: 'four', ttl: 60 })
  assert.equal((await client.envelopes(3))[2]!.data, 'four')
  await client.close()
})

test('stored messages (more than a replay page) and sends racing the connect arrive in order, each once', async () => {
  const uid = 'racer'
  for (let i = 0; i < 300; i++) await post(hub, '/send', { uid, message: `stored ${i}`, ttl: 60 })
  // Connect while more durable sends are in flight: some are stored before the replay
  // reads, some are relayed live during it, some after.
  const sending = Promise.all(Array.from({ length: 100 }, (_, i) => post(hub, '/send', { uid, message: `live ${i}`, ttl: 60 })))
  const client = await connectFramed(uid)
  await sending
  const envelopes = await client.envelopes(400)
  const seqs = envelopes.map((e) => e.seq!)
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seqs arrive in ascending order')
  assert.equal(new Set(seqs).size, 400, 'no message arrives twice')
  assert.deepEqual(envelopes.slice(0, 300).map((e) => e.data), Array.from({ length: 300 }, (_, i) => `stored ${i}`))
  await client.close()
})

test('a framed client that sends anything but an ack, a refresh or a topic request is closed with 1008 and told what to send', async () => {
  const notJson = await connectFramed('talker')
  const closing = notJson.closed()
  notJson.ws.send('hello')
  const { code, reason } = await closing
  assert.equal(code, 1008)
  assert.match(reason, /"type":"ack"\|"refresh"\|"subscribe"\|"unsubscribe"/)

  const binary = await connectFramed('talker')
  const closingBinary = binary.closed()
  const ended = once(hub.app.hub, 'disconnect')
  binary.ws.send(Buffer.from([1, 2, 3]))
  assert.equal((await closingBinary).code, 1008)
  assert.equal((await ended)[1], 'protocol_error')

  // A subscribe's since must be a whole number: anything else is a malformed frame too.
  for (const since of [-1, 1.5, '7', 2 ** 60, null]) {
    const resumer = await connectFramed('talker')
    const closingResumer = resumer.closed()
    resumer.ws.send(JSON.stringify({ type: 'subscribe', topic: 'news', since }))
    const closed = await closingResumer
    assert.equal(closed.code, 1008, `since ${JSON.stringify(since)}`)
    assert.match(closed.reason, /^since must be a whole number: send \{"type":"subscribe"/)
  }
})

test('a plain client\'s ?since= holds nothing back: seqs are not its business', { timeout: 10_000 }, async () => {
  assert.equal((await post(hub, '/send', { uid: 'plain-since', message: 'kept for you', ttl: 60 })).status, 202)
  const client = await connect(`${hub.wsUrl}`, { token: `${token({ uid: 'plain-since' })}&since=1000` })
  assert.deepEqual(await client.received(1), ['kept for you'])
  assert.equal((await post(hub, '/send', { uid: 'plain-since', message: 'live', ttl: 60 })).status, 200)
  assert.deepEqual(await client.received(2), ['kept for you', 'live'])
  await client.close()
})

test('a malformed ?since= is refused with 400 before the upgrade', async () => {
  const refused = await refusedUpgrade(`${hub.wsUrl}/ws?since=yesterday`, ['pusher.framed.v1', `bearer.${token({ uid: 'u' })}`])
  assert.equal(refused.status, 400)
  assert.equal(refused.body.code, 'PUSHER_ERR_INVALID_SINCE')
})

test('a batch may carry durable messages: each gets an id and a status, queued ones wait for the user', async () => {
  const online = await connectFramed('batch-online')
  const response = await post(hub, '/send/batch', {
    messages: [
      { uid: 'batch-online', message: 'durable here' },
      { uid: 'batch-offline', message: 'durable away' },
      { uid: 'batch-offline', message: 'not kept', ttl: undefined },
    ].map((m, i) => (i === 2 ? { uid: m.uid, message: m.message } : { ...m, ttl: 60 })),
  })
  assert.equal(response.status, 200)
  const [here, away, plain] = response.body.results
  assert.equal(here.status, 'delivered')
  assert.equal(away.status, 'queued')
  assert.equal(plain.id, undefined)
  assert.equal(plain.delivered, 0)
  const [envelope] = await online.envelopes(1)
  assert.equal(envelope!.id, here.id)

  const offline = await connectFramed('batch-offline')
  const [replayed] = await offline.envelopes(1)
  assert.deepEqual([replayed!.id, replayed!.data], [away.id, 'durable away'])
  await Promise.all([online.close(), offline.close()])
})

test('a batch-wide durable flag keeps every message of the batch', async () => {
  const response = await post(hub, '/send/batch', { durable: true, messages: [{ uid: 'bw', message: 'x' }, { uid: 'bw', message: 'y' }] })
  assert.deepEqual(response.body.results.map((r: { status: string }) => r.status), ['queued', 'queued'])
  assert.equal(await status(response.body.results[1].id), 'queued')
})

test('a backlog larger than the slow-consumer bound is replayed in full, paced by the client, not cut off', async () => {
  const small = await startHub({ store: { path: join(tempDir('framed-backlog'), 'hub.db') }, maxBufferedBytes: 64 * 1024 })
  try {
    const message = 'x'.repeat(4096)
    // 300 messages of 4 KB: 1.2 MB waiting, 19 times the 64 KB bound, over two replay pages.
    for (let i = 0; i < 300; i++) assert.equal((await post(small, '/send', { uid: 'backlog', message: `${i} ${message}`, ttl: 60 })).status, 202)
    const framed = await connectWith(small, 'backlog')
    const envelopes = await framed.envelopes(300)
    assert.deepEqual(envelopes.map((e) => Number(e.data.split(' ')[0])), Array.from({ length: 300 }, (_, i) => i))
    assert.equal(small.app.hub.stats.disconnects.slow_consumer, 0)
    await framed.close()
  } finally {
    await small.app.close()
  }
})
