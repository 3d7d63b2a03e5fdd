// Topics on one node, as a backend and its clients use them: publishing to whoever
// watches, the three ways to watch (the token's `topics` claim, the backend's API, a
// framed client's own subscribe with a topic token or an authorizeTopic hook), asking
// who watches, and the refusals a caller can cause.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import { API_KEY, type Client, connect, connectAs, connectFramed, FramedClient, get, metrics, post, refusedUpgrade, startHub, token, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ maxBatchSize: 3, maxTopicsPerConnection: 3, maxMessageBytes: 64 })
})
after(() => hub.app.close())

/** A plain client of `uid` whose token's `topics` claim names `topics`. */
function plainWatching(uid: string, topics: string[], on: TestHub = hub): Promise<Client> {
  return connect(on, { token: token({ uid, topics }) })
}

/** A framed client of `uid` whose token's `topics` claim names `topics` (none: no claim). */
async function framedWatching(uid: string, topics?: string[], on: TestHub = hub): Promise<FramedClient> {
  const claims = topics === undefined ? { uid } : { uid, topics }
  const ws = new WebSocket(`${on.wsUrl}/ws`, ['pusher.framed.v1', `bearer.${token(claims)}`])
  const client = new FramedClient(ws)
  await once(ws, 'open')
  assert.equal(ws.protocol, 'pusher.framed.v1')
  return client
}

/** The `n`th frame (from 1) a client received, parsed, once it has arrived. */
async function frame(client: Client, n: number): Promise<Record<string, unknown>> {
  return JSON.parse((await client.received(n))[n - 1]!) as Record<string, unknown>
}

/**
 * Proves a client received nothing more than `count` frames so far: a direct send to its
 * user must be the very next thing it gets.
 */
async function receivedNothingAfter(client: Client, uid: string, count: number): Promise<void> {
  assert.equal((await post(hub, '/send', { uid, message: 'marker' })).status, 200)
  const next = (await client.received(count + 1))[count]!
  const data = next.startsWith('{') ? (JSON.parse(next) as { data?: string }).data : next
  assert.equal(data, 'marker', `got ${next} before the marker`)
}

test('a publish reaches plain clients as the bare text and framed clients as {topic, time, data}; others get nothing', async () => {
  const plain = await plainWatching('reader-1', ['news/today'])
  const framed = await framedWatching('reader-2', ['news/today'])
  const bystander = await connectAs(hub, 'bystander')
  const publishedAfter = Date.now()

  const published = await post(hub, '/publish', { topic: 'news/today', message: 'hello "topic"' })
  assert.equal(published.status, 200)
  assert.deepEqual(published.body, { delivered: 2, nodes: 1 })

  assert.deepEqual(await plain.received(1), ['hello "topic"'])
  const envelope = await frame(framed, 1)
  assert.deepEqual(Object.keys(envelope), ['topic', 'time', 'data'])
  assert.equal(envelope.topic, 'news/today')
  assert.equal(envelope.data, 'hello "topic"')
  assert.ok((envelope.time as number) >= publishedAfter && (envelope.time as number) <= Date.now())
  await receivedNothingAfter(bystander, 'bystander', 0)
  await Promise.all([plain.close(), framed.close(), bystander.close()])
})

test('a publish to a topic nobody watches is 200 with delivered 0, and nothing is kept for a later subscriber', async () => {
  const nobody = await post(hub, '/publish', { topic: 'empty:room', message: 'into the void' })
  assert.equal(nobody.status, 200)
  assert.deepEqual(nobody.body, { delivered: 0, nodes: 0 })
  const late = await plainWatching('late', ['empty:room'])
  await receivedNothingAfter(late, 'late', 0)
  await late.close()
})

test('the token\'s topics claim subscribes at connect; an invalid claim refuses the connection', async () => {
  const client = await plainWatching('claimed', ['a', 'b:c'])
  assert.deepEqual((await get(hub, '/topics/b:c')).body, { topic: 'b:c', subscribers: 1, users: 1, nodes: 1 })
  assert.deepEqual((await post(hub, '/publish', { topic: 'a', message: 'on a' })).body, { delivered: 1, nodes: 1 })
  assert.deepEqual(await client.received(1), ['on a'])
  await client.close()

  const refused = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'claimed', topics: ['no spaces'] })}`)
  assert.equal(refused.status, 401)
  assert.match(refused.body.message, /"topics" claim must be an array of topic names/)
})

test('a framed client subscribes with a topic token, receives what is published, and unsubscribes', async () => {
  const client = await framedWatching('subscriber')
  client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'order/42', token: token({ uid: 'subscriber', topic: 'order/42' }) }))
  assert.deepEqual(await frame(client, 1), { type: 'subscribed', topic: 'order/42' })

  assert.deepEqual((await post(hub, '/publish', { topic: 'order/42', message: 'shipped' })).body, { delivered: 1, nodes: 1 })
  const envelope = await frame(client, 2)
  assert.equal(envelope.topic, 'order/42')
  assert.equal(envelope.data, 'shipped')

  // A token for another topic, or another user's, grants nothing; the connection stays open.
  client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'order/43', token: token({ uid: 'subscriber', topic: 'order/42' }) }))
  const wrongTopic = await frame(client, 3)
  assert.deepEqual([wrongTopic.type, wrongTopic.topic, wrongTopic.reason], ['error', 'order/43', 'topic_forbidden'])
  assert.match(wrongTopic.message as string, /send a topic token/)
  client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'order/43', token: token({ uid: 'someone-else', topic: 'order/43' }) }))
  assert.equal((await frame(client, 4)).reason, 'topic_forbidden')

  client.ws.send(JSON.stringify({ type: 'unsubscribe', topic: 'order/42' }))
  assert.deepEqual(await frame(client, 5), { type: 'unsubscribed', topic: 'order/42' })
  assert.deepEqual((await post(hub, '/publish', { topic: 'order/42', message: 'gone' })).body, { delivered: 0, nodes: 0 })
  await receivedNothingAfter(client, 'subscriber', 5)
  await client.close()
})

test('with an authorizeTopic hook, the hook decides a framed client\'s subscribe, with or without a token', async () => {
  const asked: Array<[string, string, string | undefined]> = []
  const hooked = await startHub({
    authorizeTopic: async (uid, topic, { token }) => {
      asked.push([uid, topic, token])
      return topic.startsWith(`user/${uid}/`)
    },
  })
  try {
    const client = await framedWatching('ann', undefined, hooked)
    client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'user/ann/inbox' }))
    assert.deepEqual(await frame(client, 1), { type: 'subscribed', topic: 'user/ann/inbox' })
    client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'user/bob/inbox', token: 'anything' }))
    assert.equal((await frame(client, 2)).reason, 'topic_forbidden')
    assert.deepEqual(asked, [['ann', 'user/ann/inbox', undefined], ['ann', 'user/bob/inbox', 'anything']])
    assert.deepEqual((await post(hooked, '/publish', { topic: 'user/ann/inbox', message: 'mail' })).body, { delivered: 1, nodes: 1 })
    assert.equal((await frame(client, 3)).data, 'mail')
    await client.close()
  } finally {
    await hooked.app.close()
  }
})

test('POST /users/:uid/topics subscribes and unsubscribes every connection of the user, and counts what changed', async () => {
  const plain = await connectAs(hub, 'multi')
  const framed = await connectFramed(hub, 'multi')
  const other = await connectAs(hub, 'not-multi')

  const subscribed = await post(hub, '/users/multi/topics', { subscribe: ['team/1', 'team/2'] })
  assert.equal(subscribed.status, 200)
  assert.deepEqual(subscribed.body, { uid: 'multi', connections: 2, subscribed: 4, unsubscribed: 0, refused: 0, nodes: 1 })
  assert.deepEqual((await post(hub, '/publish', { topic: 'team/1', message: 'standup' })).body, { delivered: 2, nodes: 1 })
  assert.deepEqual(await plain.received(1), ['standup'])
  // The framed connection is told what the backend changed, as if it had asked.
  assert.deepEqual(await frame(framed, 1), { type: 'subscribed', topic: 'team/1' })
  assert.deepEqual(await frame(framed, 2), { type: 'subscribed', topic: 'team/2' })
  assert.equal((await frame(framed, 3)).data, 'standup')

  // Unsubscribe comes first; a topic watched already is not counted again.
  const changed = await post(hub, '/users/multi/topics', { unsubscribe: ['team/1', 'never-watched'], subscribe: ['team/2', 'team/3'] })
  assert.deepEqual(changed.body, { uid: 'multi', connections: 2, subscribed: 2, unsubscribed: 2, refused: 0, nodes: 1 })
  assert.deepEqual((await post(hub, '/publish', { topic: 'team/1', message: 'left' })).body, { delivered: 0, nodes: 0 })
  assert.deepEqual((await post(hub, '/publish', { topic: 'team/3', message: 'joined' })).body, { delivered: 2, nodes: 1 })
  assert.deepEqual(await plain.received(2), ['standup', 'joined'])
  assert.deepEqual((await framed.received(6)).slice(3).map((text) => JSON.parse(text) as Record<string, unknown>).map(({ type, topic, data }) => type ?? data),
    ['unsubscribed', 'subscribed', 'joined'])
  assert.equal((await frame(framed, 4)).topic, 'team/1')
  assert.equal((await frame(framed, 5)).topic, 'team/3')

  // Each connection watches at most maxTopicsPerConnection (3 here): what is over it is refused.
  const full = await post(hub, '/users/multi/topics', { subscribe: ['team/4', 'team/5'] })
  assert.deepEqual(full.body, { uid: 'multi', connections: 2, subscribed: 2, unsubscribed: 0, refused: 2, nodes: 1 })

  assert.deepEqual((await post(hub, '/users/nobody-here/topics', { subscribe: ['team/1'] })).body,
    { uid: 'nobody-here', connections: 0, subscribed: 0, unsubscribed: 0, refused: 0, nodes: 0 })
  await receivedNothingAfter(other, 'not-multi', 0)
  await Promise.all([plain.close(), framed.close(), other.close()])
})

test('POST /users/:uid/topics refuses an empty change, a list over the limit, an invalid name, an unknown field', async () => {
  for (const body of [{}, { subscribe: [] }, { subscribe: [], unsubscribe: [] }]) {
    const empty = await post(hub, '/users/someone/topics', body)
    assert.equal(empty.status, 400, JSON.stringify(body))
    assert.equal(empty.body.code, 'PUSHER_ERR_INVALID_TOPIC')
    assert.match(empty.body.message, /subscribe or unsubscribe must list at least one topic/)
  }
  const tooMany = await post(hub, '/users/someone/topics', { subscribe: ['a', 'b', 'c', 'd'] })
  assert.equal(tooMany.status, 400)
  assert.match(tooMany.body.message, /subscribe/)
  const invalid = await post(hub, '/users/someone/topics', { subscribe: ['fine'], unsubscribe: ['ok', 'not ok'] })
  assert.equal(invalid.status, 400)
  assert.equal(invalid.body.code, 'PUSHER_ERR_INVALID_TOPIC')
  assert.match(invalid.body.message, /^unsubscribe\[1\]: topic may hold only letters, digits and _-.:@\//)
  const unknown = await post(hub, '/users/someone/topics', { subscribe: ['a'], topics: ['b'] })
  assert.equal(unknown.status, 400)
  assert.match(unknown.body.message, /unknown field\(s\): topics/)
})

test('GET /topics/<name> counts subscribers, users and nodes; the name\'s slashes may be sent as is or as %2F', async () => {
  const clients = await Promise.all([plainWatching('u1', ['room/1']), plainWatching('u1', ['room/1']), plainWatching('u2', ['room/1', 'room/2'])])
  const expected = { topic: 'room/1', subscribers: 3, users: 2, nodes: 1 }
  assert.deepEqual(await get(hub, '/topics/room%2F1'), { status: 200, body: expected })
  assert.deepEqual(await get(hub, '/topics/room/1'), { status: 200, body: expected })
  assert.deepEqual((await get(hub, '/topics/nobody:watches')).body, { topic: 'nobody:watches', subscribers: 0, users: 0, nodes: 0 })

  // Longer than find-my-way's default maxParamLength (100), which this app keeps.
  const long = `long/${'x'.repeat(150)}`
  const longWatcher = await plainWatching('u3', [long])
  assert.deepEqual((await get(hub, `/topics/${long}`)).body, { topic: long, subscribers: 1, users: 1, nodes: 1 })

  const invalid = await get(hub, '/topics/room%201')
  assert.equal(invalid.status, 400)
  assert.equal(invalid.body.code, 'PUSHER_ERR_INVALID_TOPIC')
  assert.equal((await get(hub, '/topics/')).body.code, 'PUSHER_ERR_INVALID_TOPIC')
  await Promise.all([...clients, longWatcher].map((client) => client.close()))
})

test('POST /publish/batch publishes each message to its topic and answers per message, in request order', async () => {
  const [one, two] = await Promise.all([plainWatching('b1', ['batch/a']), plainWatching('b2', ['batch/a', 'batch/b'])])
  const batch = await post(hub, '/publish/batch', { messages: [{ topic: 'batch/a', message: '1' }, { topic: 'batch/none', message: '2' }, { topic: 'batch/b', message: '3' }] })
  assert.equal(batch.status, 200)
  assert.deepEqual(batch.body, {
    delivered: 3,
    results: [{ topic: 'batch/a', delivered: 2, nodes: 1 }, { topic: 'batch/none', delivered: 0, nodes: 0 }, { topic: 'batch/b', delivered: 1, nodes: 1 }],
  })
  assert.deepEqual(await one.received(1), ['1'])
  assert.deepEqual(await two.received(2), ['1', '3'])

  // Refused whole: nothing of a batch with one bad item is published.
  const invalid = await post(hub, '/publish/batch', { messages: [{ topic: 'batch/a', message: 'not sent' }, { topic: 'bad topic', message: 'x' }] })
  assert.equal(invalid.status, 400)
  assert.equal(invalid.body.code, 'PUSHER_ERR_INVALID_TOPIC')
  assert.match(invalid.body.message, /^messages\[1\]: /)
  const tooLarge = await post(hub, '/publish/batch', { messages: [{ topic: 'batch/a', message: 'not sent' }, { topic: 'batch/a', message: 'x'.repeat(65) }] })
  assert.equal(tooLarge.status, 413)
  assert.equal(tooLarge.body.code, 'PUSHER_ERR_MESSAGE_TOO_LARGE')
  await receivedNothingAfter(one, 'b1', 1)

  const tooMany = await post(hub, '/publish/batch', { messages: Array.from({ length: 4 }, () => ({ topic: 'batch/a', message: 'x' })) })
  assert.equal(tooMany.status, 400)
  assert.match(tooMany.body.message, /messages/)
  assert.equal((await post(hub, '/publish/batch', { messages: [] })).status, 400)
  await Promise.all([one.close(), two.close()])
})

test('POST /publish refuses an invalid topic, a ttl without a store, an unknown field, a message too large, and a missing API key', async () => {
  const invalid = await post(hub, '/publish', { topic: 'has space', message: 'x' })
  assert.equal(invalid.status, 400)
  assert.equal(invalid.body.code, 'PUSHER_ERR_INVALID_TOPIC')
  assert.match(invalid.body.message, /^topic may hold only letters, digits and _-.:@\/; nothing was published/)
  const tooLong = await post(hub, '/publish', { topic: 'x'.repeat(201), message: 'x' })
  assert.equal(tooLong.body.code, 'PUSHER_ERR_INVALID_TOPIC')
  assert.match(tooLong.body.message, /at most 200 characters/)

  // This hub has no message store: a ttl cannot be kept, and nothing is published.
  const watcher = await plainWatching('store-less', ['fine'])
  const ttl = await post(hub, '/publish', { topic: 'fine', message: 'x', ttl: 60 })
  assert.equal(ttl.status, 400)
  assert.equal(ttl.body.code, 'PUSHER_ERR_STORE_DISABLED')
  const unknown = await post(hub, '/publish', { topic: 'fine', message: 'x', durable: true })
  assert.equal(unknown.status, 400)
  assert.match(unknown.body.message, /unknown field\(s\): durable/)
  await receivedNothingAfter(watcher, 'store-less', 0)
  await watcher.close()
  const missing = await post(hub, '/publish', { topic: 'fine' })
  assert.equal(missing.status, 400)
  assert.match(missing.body.message, /message/)

  // maxMessageBytes (64 here) counts UTF-8 bytes: 22 three-byte characters are 66.
  const large = await post(hub, '/publish', { topic: 'fine', message: '€'.repeat(22) })
  assert.equal(large.status, 413)
  assert.equal(large.body.code, 'PUSHER_ERR_MESSAGE_TOO_LARGE')
  assert.match(large.body.message, /66 bytes, over the 64-byte limit/)

  for (const [method, path] of [['POST', '/publish'], ['POST', '/publish/batch'], ['POST', '/users/someone/topics'], ['GET', '/topics/some/topic']] as const) {
    const response = await fetch(`${hub.url}${path}`, { method, ...(method === 'POST' && { headers: { 'content-type': 'application/json' }, body: '{"topic":"a","message":"b"}' }) })
    assert.equal(response.status, 401, `${method} ${path}`)
    assert.equal(((await response.json()) as { code: string }).code, 'PUSHER_ERR_SENDER_UNAUTHORIZED')
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/)
  }
  const wrongKey = await fetch(`${hub.url}/publish`, { method: 'POST', headers: { authorization: `Bearer not-${API_KEY}`, 'content-type': 'application/json' }, body: '{"topic":"a","message":"b"}' })
  assert.equal(wrongKey.status, 401)
})

test('a publish with a ttl is kept in the topic\'s history with a seq; a framed client subscribing with since gets what came after, in order, then live ones', async () => {
  const stored = await startHub({ store: { path: ':memory:', topicHistorySize: 3 } })
  try {
    // Every spelling of a ttl: a number, a string of digits; per message or for the batch.
    const one = await post(stored, '/publish', { topic: 'order/7', message: 'placed', ttl: 60 })
    assert.equal(one.status, 200)
    assert.deepEqual(Object.keys(one.body).sort(), ['delivered', 'id', 'nodes', 'seq'])
    assert.equal(one.body.delivered, 0, 'nobody watches yet: kept all the same')
    const two = await post(stored, '/publish', { topic: 'order/7', message: 'paid', ttl: '60' })
    assert.equal(two.body.seq, one.body.seq + 1)
    const batch = await post(stored, '/publish/batch', { messages: [{ topic: 'order/7', message: 'packed', ttl: 60 }, { topic: 'order/8', message: 'other', ttl: '30' }, { topic: 'order/7', message: 'live only' }] })
    assert.equal(batch.status, 200)
    const [packed, other, liveOnly] = batch.body.results as Array<{ seq?: number; id?: string }>
    assert.equal(packed!.seq, one.body.seq + 2)
    assert.equal(typeof other!.id, 'string')
    assert.equal(liveOnly!.seq, undefined, 'without a ttl, not kept')
    const forAll = await post(stored, '/publish/batch', { ttl: 60, messages: [{ topic: 'order/9', message: 'kept too' }] })
    assert.equal(typeof forAll.body.results[0].seq, 'number', 'the batch\'s ttl applies to every message without its own')
    for (const bad of [0, '0', 2_592_001, '1e3', -5, 1.5]) {
      const refused = await post(stored, '/publish', { topic: 'order/7', message: 'x', ttl: bad })
      assert.equal(refused.status, 400, `ttl ${JSON.stringify(bad)}`)
      assert.equal(refused.body.code, 'PUSHER_ERR_INVALID_TTL')
    }

    const client = await framedWatching('olga', undefined, stored)
    client.ws.send(JSON.stringify({ type: 'subscribe', topic: 'order/7', token: token({ uid: 'olga', topic: 'order/7' }), since: one.body.seq }))
    const caughtUp = (await client.received(3)).map((text) => JSON.parse(text) as Record<string, unknown>)
    assert.deepEqual(caughtUp.map((f) => [f.data, f.seq]), [['paid', two.body.seq], ['packed', packed!.seq], [undefined, packed!.seq]])
    assert.deepEqual(caughtUp[2], { type: 'subscribed', topic: 'order/7', seq: packed!.seq, recovered: true })
    assert.deepEqual(Object.keys(caughtUp[0]!).sort(), ['data', 'id', 'seq', 'time', 'topic'])

    const live = await post(stored, '/publish', { topic: 'order/7', message: 'shipped', ttl: 60 })
    assert.deepEqual([live.body.delivered, live.body.nodes], [1, 1])
    assert.deepEqual(await frame(client, 4), { topic: 'order/7', id: live.body.id, seq: live.body.seq, time: (await frame(client, 4)).time, data: 'shipped' })

    // The history keeps 3 ('placed' is gone): a since before 'placed' gets what is left, and is told it was not all.
    const late = await framedWatching('pat', undefined, stored)
    late.ws.send(JSON.stringify({ type: 'subscribe', topic: 'order/7', token: token({ uid: 'pat', topic: 'order/7' }), since: one.body.seq - 1 }))
    const partial = (await late.received(4)).map((text) => JSON.parse(text) as Record<string, unknown>)
    assert.deepEqual(partial.map((f) => f.data ?? f.recovered), ['paid', 'packed', 'shipped', false])

    const counts = await metrics(stored)
    assert.equal(counts.get('pusher_topic_history_stored_total'), 6)
    assert.equal(counts.get('pusher_topic_history_trimmed_total'), 1)
    assert.equal(counts.get('pusher_topic_history_replayed_total'), 5)
    await Promise.all([client.close(), late.close()])
  } finally {
    await stored.app.close()
  }
})

test('topic metrics: topics and subscriptions watched here, publishes by outcome, deliveries, fan-out times', async (t) => {
  // A hub of its own: the gauges count every connection, and other tests' may still be closing.
  const own = await startHub()
  t.after(() => own.app.close())
  const start = await metrics(own)
  const at = (series: Map<string, number>, key: string) => series.get(key) ?? 0
  const clients = await Promise.all([plainWatching('m1', ['metrics/a', 'metrics/b'], own), plainWatching('m2', ['metrics/a'], own)])
  const watching = await metrics(own)
  assert.equal(at(watching, 'pusher_topics') - at(start, 'pusher_topics'), 2)
  assert.equal(at(watching, 'pusher_topic_subscriptions') - at(start, 'pusher_topic_subscriptions'), 3)

  await post(own, '/publish', { topic: 'metrics/a', message: 'x' }) // 2 connections
  await post(own, '/publish/batch', { messages: [{ topic: 'metrics/b', message: 'y' }, { topic: 'metrics/nobody', message: 'z' }] }) // 1, and none
  await Promise.all([clients[0]!.received(2), clients[1]!.received(1)])
  const after = await metrics(own)
  const grew = (key: string) => at(after, key) - at(start, key)
  assert.equal(grew('pusher_topic_publishes_total{outcome="delivered"}'), 2)
  assert.equal(grew('pusher_topic_publishes_total{outcome="no_subscribers"}'), 1)
  assert.equal(after.get('pusher_topic_publishes_total{outcome="unavailable"}'), 0)
  assert.equal(grew('pusher_topic_deliveries_total'), 3)
  // One fan-out per publish that had subscribers here.
  assert.equal(grew('pusher_topic_fanout_seconds_count'), 2)
  assert.equal(after.get('pusher_topic_fanout_seconds_bucket{le="+Inf"}'), after.get('pusher_topic_fanout_seconds_count'))

  await Promise.all(clients.map((client) => client.close()))
})
