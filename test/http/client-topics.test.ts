// The client library's topics on Node with `ws`: against the real hub for subscribing
// with topic tokens, refusals, unsubscribing, resubscribing after a reconnect and the
// token's `topics` claim; against a scripted server for what the hub does not do on
// demand (close at a subscribe frame, as a hub older than topics does; a topic envelope
// with a seq).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { type PusherClient, type PusherClientEvents, type SubscribedInfo, type Subscription, type TopicError, type TopicMessage, type TopicMessageInfo } from '../../client/index.js'
import { startHub, token, type TestHub } from '../support/helpers.js'
import { client, collector, next } from '../support/client-helpers.js'

function confirmed(subscription: Subscription): Promise<void> {
  return new Promise((resolve) => {
    const off = subscription.on('subscribed', () => {
      off()
      resolve()
    })
  })
}

function refused(subscription: Subscription): Promise<TopicError> {
  return new Promise((resolve) => {
    const off = subscription.on('error', (error) => {
      off()
      resolve(error)
    })
  })
}

/** Every message of `subscription`, as data and info. */
function inbox(subscription: Subscription) {
  const box = collector<{ data: string; info: TopicMessageInfo }>()
  subscription.on('message', (data, info) => box.push({ data, info }))
  return box
}

/** Every topicMessage of `pusher`. */
function topicInbox(pusher: PusherClient) {
  const box = collector<TopicMessage>()
  pusher.on('topicMessage', (message) => box.push(message))
  return box
}

/** A topic token: this user may watch this topic. */
const topicToken = (uid: string, topic: string) => token({ uid, topic })

test('a subscription made before connecting is sent on open, confirmed, and gets what is published; the user stream is untouched', { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: token({ uid: 'ann' }) })
  try {
    const userMessages: unknown[] = []
    pusher.on('message', (message) => userMessages.push(message))
    const topics = topicInbox(pusher)
    const subscription = pusher.subscribe('news', { token: topicToken('ann', 'news') })
    assert.equal(subscription.state, 'pending')
    assert.equal(pusher.subscribe('news'), subscription, 'the same topic: the same subscription')
    const subscribed = confirmed(subscription)
    pusher.connect()
    await subscribed
    assert.equal(subscription.state, 'subscribed')
    const box = inbox(subscription)
    const before = Date.now()
    assert.deepEqual(await hub.app.bus.publish('news', 'extra, extra'), { delivered: 1, nodes: 1 })
    const [{ data, info }] = (await box.first(1)) as [{ data: string; info: TopicMessageInfo }]
    assert.equal(data, 'extra, extra')
    assert.equal(info.topic, 'news')
    assert.ok(info.time >= before - 1000 && info.time <= Date.now() + 1000, `time ${info.time}`)
    // Every topic message reaches the client-level event too, after the subscription's.
    assert.deepEqual(await topics.first(1), [{ topic: 'news', time: info.time, data: 'extra, extra' }])
    assert.deepEqual(userMessages, [], 'not a message of the user stream')
    assert.equal(pusher.lastSeq, 0)
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('a refused subscribe is an error event; the connection stays open and the next subscribe works', { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: token({ uid: 'bob' }) })
  const closes: Array<PusherClientEvents['close']> = []
  pusher.on('close', (info) => closes.push(info))
  try {
    const opened = next(pusher, 'open')
    pusher.connect()
    await opened
    // A token for another topic, and one for another user: neither allows this topic.
    const wrongTopic = pusher.subscribe('payroll', { token: topicToken('bob', 'news') })
    const wrongUser = pusher.subscribe('secrets', { token: topicToken('eve', 'secrets') })
    const errors = [refused(wrongTopic), refused(wrongUser)]
    for (const [subscription, topic, error] of [[wrongTopic, 'payroll', await errors[0]!], [wrongUser, 'secrets', await errors[1]!]] as const) {
      assert.equal(error.topic, topic)
      assert.equal(error.reason, 'topic_forbidden')
      assert.equal(error.willRetry, false)
      assert.match(error.message, /topic token/)
      assert.equal(subscription.state, 'failed')
    }
    // A listener-less refusal is not lost: the client's error event reports it.
    const clientError = next(pusher, 'error')
    pusher.subscribe('nobody-listens', { token: 'not-a-jwt' })
    assert.match((await clientError).message, /"nobody-listens" refused \(topic_forbidden\)/)

    // The same connection: subscribing again, with a right token, takes.
    const again = pusher.subscribe('payroll', { token: topicToken('bob', 'payroll') })
    assert.equal(again, wrongTopic, 'a refused subscription is asked for again')
    await confirmed(again)
    const box = inbox(again)
    await hub.app.bus.publish('payroll', 'paid')
    assert.equal((await box.first(1))[0]!.data, 'paid')
    assert.deepEqual(closes, [], 'never disconnected')
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('unsubscribe stops delivery at once, even of a message already on its way', { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: token({ uid: 'cat' }) })
  try {
    const topics = topicInbox(pusher)
    const leaving = pusher.subscribe('weather', { token: topicToken('cat', 'weather') })
    // A second topic on the same connection: its message, published after, comes after
    // any message of the first that was going to arrive.
    const staying = pusher.subscribe('tides', { token: () => topicToken('cat', 'tides') })
    pusher.connect()
    await Promise.all([confirmed(leaving), confirmed(staying)])
    const gone = inbox(leaving)
    await hub.app.bus.publish('weather', 'sunny')
    await gone.first(1)

    const closed = once(hub.app.hub, 'topicClose')
    leaving.unsubscribe()
    assert.equal(leaving.state, 'unsubscribed')
    // The hub has not read the unsubscribe yet (same process, same tick): it sends this one,
    // and the client, which asked to stop, drops it.
    assert.equal((await hub.app.bus.publish('weather', 'in flight')).delivered, 1)
    assert.deepEqual(await closed, ['weather'])
    assert.equal((await hub.app.bus.publish('weather', 'after')).delivered, 0)
    await hub.app.bus.publish('tides', 'high')
    assert.deepEqual((await topics.first(2)).map((m) => `${m.topic}: ${m.data}`), ['weather: sunny', 'tides: high'])
    assert.deepEqual(gone.items.map((m) => m.data), ['sunny'])
    assert.notEqual(pusher.subscribe('weather', { token: topicToken('cat', 'weather') }), leaving, 'a new subscription after unsubscribe')
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('the backend\'s unsubscribe ends the subscription (unsubscribed event); its subscribe shows as topicMessage', { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: token({ uid: 'dee' }) })
  try {
    const topics = topicInbox(pusher)
    const subscription = pusher.subscribe('rates', { token: topicToken('dee', 'rates') })
    pusher.connect()
    await confirmed(subscription)
    const ended = new Promise<void>((resolve) => subscription.on('unsubscribed', () => resolve()))
    assert.deepEqual(await hub.app.bus.changeTopics('dee', { unsubscribe: ['rates'], subscribe: ['alerts'] }), { uid: 'dee', connections: 1, subscribed: 1, unsubscribed: 1, refused: 0, nodes: 1 })
    await ended
    assert.equal(subscription.state, 'unsubscribed')
    assert.equal((await hub.app.bus.publish('rates', 'not for dee')).delivered, 0)
    await hub.app.bus.publish('alerts', 'for dee')
    assert.deepEqual((await topics.first(1)).map((m) => `${m.topic}: ${m.data}`), ['alerts: for dee'])

    // Not asked for again after a reconnect: the backend's word stands.
    const reconnected = next(pusher, 'open')
    hub.app.hub.disconnect('dee')
    await reconnected
    await hub.app.bus.changeTopics('dee', { subscribe: ['alerts'] })
    await hub.app.bus.publish('alerts', 'again')
    assert.deepEqual((await topics.first(2)).map((m) => m.data), ['for dee', 'again'])
    assert.equal(hub.app.hub.topicSubscribers('rates').subscribers, 0)
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('after the hub drops the connection (4002) the client reconnects and resubscribes, with a fresh topic token', { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: () => token({ uid: 'dan' }) })
  let tokenCalls = 0
  try {
    const subscription = pusher.subscribe('scores', {
      token: async () => {
        tokenCalls++
        return topicToken('dan', 'scores')
      },
    })
    const box = inbox(subscription)
    let subscribed = confirmed(subscription)
    pusher.connect()
    await subscribed
    await hub.app.bus.publish('scores', '1-0')
    await box.first(1)

    subscribed = confirmed(subscription)
    const closed = next(pusher, 'close')
    assert.equal(hub.app.hub.disconnect('dan'), 1)
    assert.deepEqual(await closed, { code: 4002, reason: 'disconnected by the server: reconnect later', willReconnect: true })
    assert.equal(subscription.state, 'pending', 'not confirmed on the next connection yet')
    await subscribed
    assert.equal(subscription.state, 'subscribed')
    assert.equal(tokenCalls, 2, 'the token function asked again for the new connection')
    await hub.app.bus.publish('scores', '2-0')
    assert.deepEqual((await box.first(2)).map((m) => m.data), ['1-0', '2-0'])
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('after a reconnect a subscription resumes from its last seq: what was published with a ttl meanwhile comes first, in order, each once, and recovered says whether all of it was kept', { timeout: 15_000 }, async () => {
  const hub = await startHub({ store: { path: ':memory:', topicHistorySize: 2 } })
  // The connect token waits at this gate: what the test publishes meanwhile is missed live.
  let gate = Promise.resolve()
  const pusher = client(hub.wsUrl, { token: async () => { await gate; return token({ uid: 'ivy' }) } })
  const away = async (publish: () => Promise<unknown>) => {
    let open!: () => void
    gate = new Promise((resolve) => (open = resolve))
    const closed = next(pusher, 'close')
    assert.equal(hub.app.hub.disconnect('ivy'), 1)
    await closed
    await publish()
    open()
  }
  const publish = (message: string, ttl?: number) => hub.app.bus.publish('scores', message, ttl === undefined ? undefined : { ttl })
  try {
    const subscription = pusher.subscribe('scores', { token: topicToken('ivy', 'scores') })
    const box = inbox(subscription)
    const answers = collector<SubscribedInfo>()
    subscription.on('subscribed', (info) => answers.push(info))
    pusher.connect()
    assert.deepEqual(await answers.first(1), [{ seq: 0 }], 'nothing kept yet: every stored message is after 0')
    const first = (await publish('1-0', 60)) as { seq: number; delivered: number }
    assert.equal(first.delivered, 1)
    await box.first(1)

    // One missed with a ttl (kept), one without (not kept: missed for good).
    await away(async () => {
      await publish('not kept')
      await publish('2-0', 60)
    })
    assert.deepEqual((await answers.first(2))[1], { seq: first.seq + 1, recovered: true })
    await publish('2-1', 60)
    const got = await box.first(3)
    assert.deepEqual(got.map((m) => [m.data, m.info.seq]), [['1-0', first.seq], ['2-0', first.seq + 1], ['2-1', first.seq + 2]])

    // Three missed, and the history keeps two (topicHistorySize): what is left comes, and recovered is false.
    await away(async () => {
      for (const message of ['3-0', '3-1', '3-2']) await publish(message, 60)
    })
    assert.deepEqual((await answers.first(3))[2], { seq: first.seq + 5, recovered: false })
    assert.deepEqual((await box.first(5)).slice(3).map((m) => m.data), ['3-1', '3-2'])
    assert.equal(subscription.seq, first.seq + 5)

    // Across page loads: a new client given a seq it kept resumes from there.
    const later = client(hub.wsUrl, { token: token({ uid: 'ivy' }) })
    try {
      const resumed = later.subscribe('scores', { token: topicToken('ivy', 'scores'), since: first.seq + 4 })
      const laterBox = inbox(resumed)
      const confirmedAt = new Promise<SubscribedInfo>((resolve) => resumed.on('subscribed', resolve))
      later.connect()
      assert.deepEqual(await confirmedAt, { seq: first.seq + 5, recovered: true })
      assert.deepEqual((await laterBox.first(1)).map((m) => m.data), ['3-2'])
    } finally {
      await later.close()
    }
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test("topics of the token's `topics` claim arrive as topicMessage events, and to a subscription of the topic if there is one", { timeout: 15_000 }, async () => {
  const hub = await startHub()
  const pusher = client(hub.wsUrl, { token: token({ uid: 'eve', topics: ['alerts', 'digest'] }) })
  try {
    const topics = topicInbox(pusher)
    const watched = Promise.all([once(hub.app.hub, 'topicOpen'), once(hub.app.hub, 'topicOpen')])
    pusher.connect()
    await watched
    await hub.app.bus.publish('alerts', 'fire drill at noon')
    assert.deepEqual((await topics.first(1)).map((m) => [m.topic, m.data]), [['alerts', 'fire drill at noon']])

    // Subscribing to a topic the connection already watches needs no token check: the hub confirms it.
    const digest = pusher.subscribe('digest', { token: 'no token needed' })
    await confirmed(digest)
    const box = inbox(digest)
    await hub.app.bus.publish('digest', 'weekly')
    assert.equal((await box.first(1))[0]!.data, 'weekly')
    assert.deepEqual((await topics.first(2)).map((m) => m.data), ['fire drill at noon', 'weekly'])
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('names are checked before they are sent; one longer than this hub allows is refused as topic_invalid, to the right subscription', { timeout: 15_000 }, async () => {
  // A hook that decides only when the test says so: the subscribe of "short" is still
  // unanswered when the refusal of the long name comes back.
  let allow = () => {}
  const decided = new Promise<boolean>((resolve) => { allow = () => resolve(true) })
  const hub: TestHub = await startHub({ maxTopicLength: 12, authorizeTopic: () => decided })
  const pusher = client(hub.wsUrl, { token: token({ uid: 'fay' }) })
  try {
    assert.throws(() => pusher.subscribe('no spaces'), { name: 'TypeError', message: /letters, digits/ })
    assert.throws(() => pusher.subscribe(''), { name: 'TypeError', message: /empty/ })
    assert.throws(() => pusher.subscribe('x'.repeat(1025)), { name: 'TypeError', message: /at most 1024/ })
    const opened = next(pusher, 'open')
    pusher.connect()
    await opened
    // No token: the hub's authorizeTopic hook decides.
    const short = pusher.subscribe('short')
    const long = pusher.subscribe('a-rather-long-topic')
    const subscribed = confirmed(short)
    // The hub's refusal of the long name does not say which name it refuses.
    const error = await refused(long)
    assert.equal(error.reason, 'topic_invalid')
    assert.equal(error.topic, 'a-rather-long-topic')
    assert.match(error.message, /at most 12 characters/)
    assert.equal(long.state, 'failed')
    assert.equal(short.state, 'pending')
    allow()
    await subscribed
    assert.equal(short.state, 'subscribed')
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

// --- a scripted server on 127.0.0.1 ---

async function scripted(onFrame: (socket: WebSocket, frame: string, connection: number) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'pusher.framed.v1' })
  await once(server, 'listening')
  let connections = 0
  server.on('connection', (socket) => {
    const connection = connections++
    socket.on('message', (data) => onFrame(socket, data.toString(), connection))
  })
  return {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    close: () => {
      for (const socket of server.clients) socket.terminate()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

test('a hub that closes at a subscribe frame (1008: older than topics) fails that subscription; the client reconnects and keeps going', { timeout: 15_000 }, async () => {
  const server = await scripted((socket, frame) => {
    if (JSON.parse(frame).type === 'subscribe') socket.close(1008, 'unknown frame type')
  })
  const pusher = client(server.url, { token: 'tok' })
  try {
    const subscription = pusher.subscribe('news')
    const error = refused(subscription)
    const clientError = next(pusher, 'error')
    pusher.connect()
    assert.equal((await error).reason, 'frame_refused')
    assert.match((await clientError).message, /1008.*when asked for topics/)
    assert.equal(subscription.state, 'failed')
    const reopened = next(pusher, 'open')
    await reopened
  } finally {
    await pusher.close()
    await server.close()
  }
})

test('a topic envelope is not acked and does not move lastSeq, even with a seq', { timeout: 15_000 }, async () => {
  const frames = collector<string>()
  const server = await scripted((_socket, frame) => frames.push(frame))
  server.server.on('connection', (socket) => {
    socket.send(JSON.stringify({ topic: 'news', id: 'topic-id', seq: 9, time: 1, data: 'a topic message' }))
    socket.send(JSON.stringify({ id: 'user-id', seq: 1, time: 2, data: 'a user message' }))
  })
  const pusher = client(server.url, { token: 'tok', ackDelayMs: 0 })
  try {
    const topics = topicInbox(pusher)
    const user = next(pusher, 'message')
    pusher.connect()
    assert.deepEqual(await topics.first(1), [{ topic: 'news', time: 1, data: 'a topic message', id: 'topic-id', seq: 9 }])
    assert.equal((await user).seq, 1, 'seq 1 is not taken for a duplicate of seq 9')
    assert.deepEqual(JSON.parse((await frames.first(1))[0]!), { type: 'ack', seq: 1 })
    assert.equal(pusher.lastSeq, 1)
  } finally {
    await pusher.close()
    await server.close()
  }
})
