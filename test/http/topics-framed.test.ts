// Topics over real sockets, on the framed protocol (pusher.framed.v1): a client subscribes
// with a topic token (a JWT with its uid or sub and the topic, signed with the hub's key)
// or by the backend's authorizeTopic hook, or watches its connect token's `topics` from
// the start; a refusal is an error frame and the connection goes on. Publishes go
// through app.bus.publish (the HTTP route is not part of this layer).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { FastifyRequest } from 'fastify'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import { Client, FramedClient, metrics, refusedUpgrade, startHub, type TestHub, token } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())

type Frame = Record<string, unknown>

/** Opens a framed connection with `token` in the bearer subprotocol (or `headers` for a custom authenticator). */
async function framed(target: TestHub, auth: { token?: string; headers?: Record<string, string> }): Promise<FramedClient> {
  const protocols = ['pusher.framed.v1', ...(auth.token !== undefined ? [`bearer.${auth.token}`] : [])]
  const ws = new WebSocket(`${target.wsUrl}/ws`, protocols, { headers: auth.headers })
  const client = new FramedClient(ws)
  await once(ws, 'open')
  assert.equal(ws.protocol, 'pusher.framed.v1')
  return client
}

const framedAs = (uid: string, claims: Record<string, unknown> = {}) => framed(hub, { token: token({ uid, ...claims }) })

function subscribe(client: FramedClient, topic: string, topicToken?: string): void {
  client.ws.send(JSON.stringify({ type: 'subscribe', topic, ...(topicToken !== undefined && { token: topicToken }) }))
}

/** The first `count` frames the client got, parsed. */
async function frames(client: FramedClient, count: number): Promise<Frame[]> {
  return (await client.received(count)).map((text) => JSON.parse(text) as Frame)
}

/** An error frame without its message (a sentence for people), to compare. */
const withoutMessage = ({ message, ...rest }: Frame): Frame => {
  assert.equal(typeof message, 'string')
  return rest
}

const refused = async (target: TestHub, reason: string) => (await metrics(target)).get(`pusher_refused_total{reason="${reason}"}`) ?? 0

test('a topic token (uid or sub) subscribes the connection; a publish then reaches it as {"topic","time","data"}', async () => {
  const alice = await framedAs('alice')
  const otherDevice = await framedAs('alice')
  subscribe(alice, 'news', token({ uid: 'alice', topic: 'news' }))
  subscribe(alice, 'sport', token({ sub: 'alice', topic: 'sport' }))
  assert.deepEqual(await frames(alice, 2), [{ type: 'subscribed', topic: 'news' }, { type: 'subscribed', topic: 'sport' }])

  const before = Date.now()
  assert.deepEqual(await hub.app.bus.publish('news', 'breaking "news"'), { delivered: 1, nodes: 1 }, 'the subscribed connection, not the other device')
  const [envelope] = (await frames(alice, 3)).slice(2)
  assert.deepEqual(Object.keys(envelope!), ['topic', 'time', 'data'])
  assert.equal(envelope!.topic, 'news')
  assert.equal(envelope!.data, 'breaking "news"')
  assert.ok((envelope!.time as number) >= before)
  assert.deepEqual(hub.app.hub.topicSubscribers('sport'), { subscribers: 1, users: 1 })

  // Unsubscribed, it gets no more of that topic.
  alice.ws.send(JSON.stringify({ type: 'unsubscribe', topic: 'news' }))
  assert.deepEqual((await frames(alice, 4))[3], { type: 'unsubscribed', topic: 'news' })
  assert.equal((await hub.app.bus.publish('news', 'later')).delivered, 0)
  await Promise.all([alice.close(), otherDevice.close()])
})

test('a topic token for another user, another topic, with another key, expired, or none: topic_forbidden, counted, and the connection goes on', async () => {
  const counted = await refused(hub, 'topic_forbidden')
  const alice = await framedAs('carol')
  const wrong = [
    token({ uid: 'mallory', topic: 'payroll' }),
    token({ uid: 'carol', topic: 'news' }),
    token({ uid: 'carol', topic: 'payroll' }, { key: 'another-secret-that-is-long-enough-for-hs256' }),
    token({ uid: 'carol', topic: 'payroll', exp: Math.floor(Date.now() / 1000) - 60 }),
    token({ uid: 'carol' }), // a connect token is no topic token
    undefined,
  ]
  for (const topicToken of wrong) subscribe(alice, 'payroll', topicToken)
  const answers = await frames(alice, wrong.length)
  for (const answer of answers) assert.deepEqual(withoutMessage(answer), { type: 'error', topic: 'payroll', reason: 'topic_forbidden' })
  assert.equal((await hub.app.bus.publish('payroll', 'salaries')).delivered, 0)
  assert.equal(await refused(hub, 'topic_forbidden'), counted + wrong.length)

  // Still connected: the user's own messages arrive, without a topic.
  assert.equal((await hub.app.bus.send('carol', 'direct')).delivered, 1)
  const [direct] = (await frames(alice, wrong.length + 1)).slice(wrong.length)
  assert.equal(direct!.data, 'direct')
  assert.equal(direct!.topic, undefined)
  await alice.close()
})

test('the topics claim of the connect token subscribes the connection at connect, framed or plain', async () => {
  const framedClient = await framedAs('dave', { topics: ['alerts', 'doc/42'] })
  const plain = new Client(new WebSocket(`${hub.wsUrl}/ws?token=${token({ uid: 'dave', topics: ['alerts'] })}`))
  await once(plain.ws, 'open')
  assert.deepEqual(hub.app.hub.topicSubscribers('alerts'), { subscribers: 2, users: 1 })
  assert.equal((await hub.app.bus.publish('alerts', 'fire')).delivered, 2)
  assert.equal((await hub.app.bus.publish('doc/42', 'edit')).delivered, 1)
  assert.deepEqual((await frames(framedClient, 2)).map((f) => [f.topic, f.data]), [['alerts', 'fire'], ['doc/42', 'edit']])
  assert.deepEqual(await plain.received(1), ['fire'])

  // Closed, they leave their topics.
  let open = 2
  const gone = new Promise<void>((resolve) => {
    hub.app.hub.on('disconnect', function left(connection) {
      if (connection.uid !== 'dave' || --open > 0) return
      hub.app.hub.off('disconnect', left)
      resolve()
    })
  })
  await Promise.all([framedClient.close(), plain.close()])
  await gone
  assert.deepEqual(hub.app.hub.topicSubscribers('alerts'), { subscribers: 0, users: 0 })
  assert.equal((await hub.app.bus.publish('doc/42', 'nobody')).delivered, 0)
})

test('a connect token whose topics claim is invalid is refused with 401 (invalid_topics) before the upgrade', async () => {
  const claims: Array<[string, unknown]> = [
    ['a bad name', ['news', 'no spaces']],
    ['not an array', 'news'],
    ['an object', { news: true }],
    ['too many', Array.from({ length: 101 }, (_, i) => `t${i}`)],
    ['a name too long', ['x'.repeat(201)]],
    ['a number', [42]],
    ['null', null],
  ]
  const counted = hub.app.authFailures.invalid_topics
  for (const [what, topics] of claims) {
    const { status, body } = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'erin', topics })}`, ['pusher.framed.v1'])
    assert.equal(status, 401, what)
    assert.equal(body.code, 'PUSHER_ERR_TOKEN_INVALID', what)
    assert.match(body.message, /\(invalid_topics\)/, what)
  }
  assert.equal(hub.app.authFailures.invalid_topics, counted + claims.length)
  assert.equal((await metrics(hub)).get('pusher_auth_failures_total{reason="invalid_topics"}'), counted + claims.length)
  assert.equal(hub.app.hub.isOnline('erin'), false)
})

test('a topic token cannot open a connection: it grants one topic, not the user\'s messages', async () => {
  const topicToken = token({ uid: 'erin', topic: 'news' })
  const { status, body } = await refusedUpgrade(`${hub.wsUrl}/ws?token=${topicToken}`, ['pusher.framed.v1'])
  assert.equal(status, 401)
  assert.equal(body.code, 'PUSHER_ERR_TOKEN_INVALID')
  assert.match(body.message, /topic token/)
  assert.equal(hub.app.hub.isOnline('erin'), false)
})

test('an authorizeTopic option decides without a token, synchronously or not, in place of topic tokens', async () => {
  const asked: Array<[string, string, string | undefined]> = []
  const own = await startHub({
    authorizeTopic: (uid, topic, { token: sent }) => {
      asked.push([uid, topic, sent])
      if (topic.startsWith('slow/')) return Promise.resolve(topic === `slow/${uid}`)
      return topic === `user/${uid}`
    },
  })
  try {
    const counted = await refused(own, 'topic_forbidden')
    const frank = await framed(own, { token: token({ uid: 'frank' }) })
    subscribe(frank, 'user/frank')
    subscribe(frank, 'user/grace')
    subscribe(frank, 'slow/frank', 'anything')
    // A valid topic token does not matter: the hook replaces them.
    subscribe(frank, 'news', token({ uid: 'frank', topic: 'news' }))
    const answers = (await frames(frank, 4)).map((f) => `${f.type} ${f.topic} ${f.reason ?? ''}`)
    assert.deepEqual(answers.sort(), ['error news topic_forbidden', 'error user/grace topic_forbidden', 'subscribed slow/frank ', 'subscribed user/frank '])
    assert.deepEqual(asked[0], ['frank', 'user/frank', undefined])
    assert.deepEqual(asked[2], ['frank', 'slow/frank', 'anything'])
    assert.equal((await own.app.bus.publish('user/frank', 'mine')).delivered, 1)
    assert.equal((await own.app.bus.publish('slow/frank', 'also')).delivered, 1)
    assert.equal(await refused(own, 'topic_forbidden'), counted + 2)
    await frank.close()
  } finally {
    await own.app.close()
  }
})

test('a custom authenticator without authorizeTopic refuses every client subscribe; the backend can still subscribe the user', async () => {
  const own = await startHub({ jwt: undefined, authenticator: (request: FastifyRequest) => String(request.headers['x-user']) })
  try {
    const counted = await refused(own, 'topic_forbidden')
    const heidi = await framed(own, { headers: { 'x-user': 'heidi' } })
    subscribe(heidi, 'news', token({ uid: 'heidi', topic: 'news' }))
    subscribe(heidi, 'news')
    for (const answer of await frames(heidi, 2)) assert.deepEqual(withoutMessage(answer), { type: 'error', topic: 'news', reason: 'topic_forbidden' })
    assert.equal(await refused(own, 'topic_forbidden'), counted + 2)
    assert.equal(own.app.hub.subscriptionCount, 0)

    assert.deepEqual(await own.app.bus.changeTopics('heidi', { subscribe: ['news'] }), { uid: 'heidi', connections: 1, subscribed: 1, unsubscribed: 0, refused: 0, nodes: 1 })
    assert.equal((await own.app.bus.publish('news', 'from the backend')).delivered, 1)
    const [, , told, message] = await frames(heidi, 4)
    assert.deepEqual(told, { type: 'subscribed', topic: 'news' })
    assert.equal(message!.data, 'from the backend')
    await heidi.close()
  } finally {
    await own.app.close()
  }
})

test('a custom authenticator\'s topics subscribe at connect, held to the same rules as a token\'s', async () => {
  const own = await startHub({
    jwt: undefined,
    authenticator: (request: FastifyRequest) => ({ uid: 'ivan', topics: String(request.headers['x-topics']).split(',') }),
  })
  try {
    const ivan = await framed(own, { headers: { 'x-topics': 'a,b' } })
    assert.deepEqual([...own.app.hub.topics()].sort(), ['a', 'b'])
    const bad = await refusedUpgrade(`${own.wsUrl}/ws`, ['pusher.framed.v1'], { 'x-topics': 'a,b c' })
    assert.equal(bad.status, 401)
    assert.match(bad.body.message, /\(invalid_topics\)/)
    await ivan.close()
  } finally {
    await own.app.close()
  }
})
