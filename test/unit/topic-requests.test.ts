// A framed client's own subscriptions, without sockets: {"type":"subscribe","topic","token"}
// and {"type":"unsubscribe","topic"} decided by the hub's authorizer (sync or async),
// within the per-connection limits. Every answer is a frame; a refusal never closes the
// connection. The subscribe rate reads performance.now, which the rate test moves by hand.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import type { Connection } from '../../lib/hub/connection.js'
import { Hub, type HubOptions, type TopicAuthorizer } from '../../lib/hub/hub.js'
import { FakeWs } from '../support/fake-ws.js'

const options = { maxBufferedBytes: 1 << 20, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1, closeGraceMs: 1000 }

interface Framed {
  hub: Hub
  ws: FakeWs
  connection: Connection
  /** Every topicRefused event, as "<reason> <topic>". */
  refusals: string[]
}

/** A hub with `authorize` and one framed connection of alice. */
function framedAlice(authorize: TopicAuthorizer | undefined, extra: Partial<HubOptions> = {}): Framed {
  const hub = new Hub({ ...options, ...extra })
  hub.authorizeTopic = authorize
  const refusals: string[] = []
  hub.on('topicRefused', (_connection, topic, reason) => refusals.push(`${reason} ${topic}`))
  const ws = new FakeWs()
  const connection = hub.add('alice', ws.asWebSocket, { framed: true })
  return { hub, ws, connection, refusals }
}

function subscribe(ws: FakeWs, topic: string, token?: string): void {
  ws.emit('message', Buffer.from(JSON.stringify({ type: 'subscribe', topic, ...(token !== undefined && { token }) })), false)
}

function unsubscribe(ws: FakeWs, topic: string): void {
  ws.emit('message', Buffer.from(JSON.stringify({ type: 'unsubscribe', topic })), false)
}

/** The first `count` frames the client got, parsed. */
async function replies(ws: FakeWs, count: number): Promise<Array<Record<string, unknown>>> {
  return (await ws.frames(count)).map((frame) => JSON.parse(frame) as Record<string, unknown>)
}

/** Lets settled authorizations run and this turn's frames go out (setImmediate: after the promise jobs). */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

/** A promise and its resolve and reject, for an authorizer that answers when the test says. */
function deferred(): { promise: Promise<boolean>; resolve: (allowed: boolean | string) => void; reject: (error: Error) => void } {
  let resolve!: (allowed: boolean | string) => void
  let reject!: (error: Error) => void
  const promise = new Promise<boolean>((yes, no) => {
    resolve = yes as (allowed: boolean | string) => void
    reject = no
  })
  return { promise, resolve, reject }
}

/** Allows a token "<uid>:<topic>"; records what it was asked. */
function tokenAuthorizer(asked: Array<{ uid: string; topic: string; token: string | undefined }> = []): TopicAuthorizer {
  return (request) => {
    asked.push(request)
    return request.token === `${request.uid}:${request.topic}`
  }
}

test('a synchronous authorizer that allows: "subscribed", and publishes to the topic reach the client', async () => {
  const asked: Array<{ uid: string; topic: string; token: string | undefined }> = []
  const { hub, ws } = framedAlice(tokenAuthorizer(asked))
  subscribe(ws, 'news', 'alice:news')
  assert.deepEqual(asked, [{ uid: 'alice', topic: 'news', token: 'alice:news' }])
  assert.deepEqual(await replies(ws, 1), [{ type: 'subscribed', topic: 'news' }])
  assert.equal(hub.publish('news', 'headline'), 1)
  assert.equal((await replies(ws, 2))[1]!.data, 'headline')
})

test('a synchronous authorizer that refuses: an error frame topic_forbidden, no subscription, the connection stays open', async () => {
  const { hub, ws, refusals } = framedAlice(tokenAuthorizer())
  subscribe(ws, 'secret', 'alice:news')
  subscribe(ws, 'secret')
  const [wrongToken, noToken] = await replies(ws, 2)
  assert.deepEqual({ ...wrongToken, message: undefined }, { type: 'error', topic: 'secret', reason: 'topic_forbidden', message: undefined })
  assert.match(String(wrongToken!.message), /topic token/)
  assert.equal(noToken!.reason, 'topic_forbidden')
  assert.deepEqual(refusals, ['topic_forbidden secret', 'topic_forbidden secret'])
  assert.equal(hub.publish('secret', 'x'), 0)
  assert.equal(ws.closedWith, undefined)
  assert.equal(hub.send('alice', 'still here'), 1)
})

test('without an authorizer every subscribe is refused as topic_forbidden', async () => {
  const { hub, ws } = framedAlice(undefined)
  subscribe(ws, 'news', 'alice:news')
  assert.equal((await replies(ws, 1))[0]!.reason, 'topic_forbidden')
  assert.equal(hub.subscriptionCount, 0)
})

test('an asynchronous authorizer: nothing until it resolves; true subscribes, false and a rejection refuse', async () => {
  const decisions = new Map<string, ReturnType<typeof deferred>>()
  const { hub, ws } = framedAlice(({ topic }) => {
    const decision = deferred()
    decisions.set(topic, decision)
    return decision.promise
  })
  subscribe(ws, 'yes')
  subscribe(ws, 'no')
  subscribe(ws, 'broken')
  await nextTurn()
  assert.deepEqual(ws.sent, [])
  assert.equal(hub.subscriptionCount, 0)

  decisions.get('no')!.resolve(false)
  decisions.get('yes')!.resolve(true)
  decisions.get('broken')!.reject(new Error('backend down'))
  const answers = await replies(ws, 3)
  assert.deepEqual(answers.map((a) => `${a.type} ${a.topic} ${a.reason ?? ''}`), [
    'error no topic_forbidden',
    'subscribed yes ',
    'error broken topic_forbidden',
  ])
  assert.deepEqual([...hub.topics()], ['yes'])
})

test('only true allows, whether the authorizer answers at once or later: a truthy string is a refusal', async () => {
  const sync = framedAlice(() => 'forbidden' as unknown as boolean)
  subscribe(sync.ws, 'news')
  assert.equal((await replies(sync.ws, 1))[0]!.reason, 'topic_forbidden')
  assert.equal(sync.hub.subscriptionCount, 0)

  const later = framedAlice(() => Promise.resolve('forbidden' as unknown as boolean))
  subscribe(later.ws, 'news')
  assert.equal((await replies(later.ws, 1))[0]!.reason, 'topic_forbidden')
  assert.equal(later.hub.subscriptionCount, 0)
})

test('an unsubscribe that arrives while an asynchronous authorization is pending wins: no subscription results', async () => {
  const decision = deferred()
  const { hub, ws } = framedAlice(() => decision.promise)
  subscribe(ws, 'news')
  unsubscribe(ws, 'news')
  decision.resolve(true)
  await decision.promise
  await nextTurn()
  assert.deepEqual(await replies(ws, 1), [{ type: 'unsubscribed', topic: 'news' }])
  assert.equal(ws.sent.length, 1, 'no "subscribed" after the unsubscribe')
  assert.equal(hub.subscriptionCount, 0)
  assert.equal(hub.publish('news', 'x'), 0)
})

test('subscribe, unsubscribe, subscribe again while both are decided: the last request\'s verdict is the one that counts', async () => {
  const decisions: Array<ReturnType<typeof deferred>> = []
  const { hub, ws, refusals } = framedAlice(() => {
    const decision = deferred()
    decisions.push(decision)
    return decision.promise
  })
  subscribe(ws, 'news', 'stale')
  unsubscribe(ws, 'news')
  subscribe(ws, 'news', 'fresh')
  assert.equal(decisions.length, 2)
  // The withdrawn request is refused, the one that stands is allowed, in that order.
  decisions[0]!.resolve(false)
  await decisions[0]!.promise
  await nextTurn()
  decisions[1]!.resolve(true)
  const answers = await replies(ws, 2)
  assert.deepEqual(answers, [{ type: 'unsubscribed', topic: 'news' }, { type: 'subscribed', topic: 'news' }])
  assert.deepEqual(refusals, [])
  assert.equal(hub.publish('news', 'x'), 1)

  // And the other way round: the withdrawn request was allowed, the one that stands is refused.
  const second = framedAlice(() => {
    const decision = deferred()
    decisions.push(decision)
    return decision.promise
  })
  subscribe(second.ws, 'news', 'good')
  unsubscribe(second.ws, 'news')
  subscribe(second.ws, 'news', 'bad')
  decisions[2]!.resolve(true)
  await decisions[2]!.promise
  await nextTurn()
  decisions[3]!.resolve(false)
  const [, last] = await replies(second.ws, 2)
  assert.equal(last!.reason, 'topic_forbidden')
  assert.equal(second.hub.subscriptionCount, 0)
})

test('an authorizer that throws refuses with topic_forbidden and the connection goes on', async () => {
  const { hub, ws, refusals } = framedAlice(({ topic }) => {
    if (topic === 'boom') throw new Error('bad token')
    return true
  })
  subscribe(ws, 'boom', 'x')
  subscribe(ws, 'fine')
  assert.deepEqual((await replies(ws, 2)).map((a) => a.reason ?? a.type), ['topic_forbidden', 'subscribed'])
  assert.deepEqual(refusals, ['topic_forbidden boom'])
  assert.equal(ws.closedWith, undefined)
  assert.deepEqual([...hub.topics()], ['fine'])
})

test('past the burst of 100 subscribes a client gets topic_rate and stays open; the rate refills it', async (t) => {
  let now = 5_000
  t.mock.method(performance, 'now', () => now)
  const { hub, ws, refusals } = framedAlice(() => true, { maxSubscribesPerSecond: 10, maxTopicsPerConnection: 1000 })
  for (let i = 0; i < 100; i++) subscribe(ws, `t${i}`)
  subscribe(ws, 'one-too-many')
  const answers = await replies(ws, 101)
  assert.ok(answers.slice(0, 100).every((a) => a.type === 'subscribed'))
  assert.deepEqual({ ...answers[100], message: undefined }, { type: 'error', topic: 'one-too-many', reason: 'topic_rate', message: undefined })
  assert.deepEqual(refusals, ['topic_rate one-too-many'])
  assert.equal(ws.closedWith, undefined)
  assert.equal(hub.connectionCount, 1)
  assert.equal(hub.subscriptionCount, 100)

  // 10 a second: one more after 100 ms, not before; unsubscribes do not count.
  now += 99
  subscribe(ws, 'early')
  unsubscribe(ws, 't0')
  now += 1
  subscribe(ws, 'on-time')
  subscribe(ws, 'greedy')
  const later = (await replies(ws, 105)).slice(101)
  assert.deepEqual(later.map((a) => `${a.type} ${a.topic} ${a.reason ?? ''}`), [
    'error early topic_rate',
    'unsubscribed t0 ',
    'subscribed on-time ',
    'error greedy topic_rate',
  ])
  assert.equal(hub.subscriptionCount, 100)
})

test('an invalid name: topic_invalid with an empty topic in the error frame, for a subscribe and an unsubscribe alike', async () => {
  const asked: unknown[] = []
  const { hub, ws, refusals } = framedAlice((request) => {
    asked.push(request)
    return true
  }, { maxTopicLength: 10 })
  subscribe(ws, 'no spaces')
  subscribe(ws, 'x'.repeat(11))
  subscribe(ws, '')
  unsubscribe(ws, '<script>')
  const answers = await replies(ws, 4)
  for (const answer of answers) {
    assert.equal(answer.type, 'error')
    assert.equal(answer.topic, '')
    assert.equal(answer.reason, 'topic_invalid')
  }
  assert.match(String(answers[1]!.message), /at most 10 characters/)
  assert.deepEqual(asked, [], 'the authorizer is not asked about an invalid name')
  assert.deepEqual(refusals, ['topic_invalid no spaces', `topic_invalid ${'x'.repeat(11)}`, 'topic_invalid ', 'topic_invalid <script>'])
  assert.equal(ws.closedWith, undefined)
  assert.equal(hub.subscriptionCount, 0)
})

test('a duplicate subscribe answers subscribed without a second subscription or a second authorization', async () => {
  let asked = 0
  const { hub, ws } = framedAlice(() => ++asked > 0)
  subscribe(ws, 'news')
  subscribe(ws, 'news')
  assert.deepEqual(await replies(ws, 2), [{ type: 'subscribed', topic: 'news' }, { type: 'subscribed', topic: 'news' }])
  assert.equal(asked, 1)
  assert.equal(hub.subscriptionCount, 1)
  assert.equal(hub.publish('news', 'once'), 1)
  assert.equal((await ws.frames(3)).filter((frame) => frame.includes('"data":"once"')).length, 1)

  // Asked again while an asynchronous authorization is pending: still one authorization, one subscription.
  const decision = deferred()
  let pending = 0
  const later = framedAlice(() => {
    pending++
    return decision.promise
  })
  subscribe(later.ws, 'news')
  subscribe(later.ws, 'news')
  decision.resolve(true)
  assert.deepEqual(await replies(later.ws, 1), [{ type: 'subscribed', topic: 'news' }])
  assert.equal(pending, 1)
  assert.equal(later.hub.subscriptionCount, 1)
})

test('at maxTopicsPerConnection a subscribe gets topic_limit, before the authorizer is asked; leaving one makes room', async () => {
  let asked = 0
  const { hub, ws, refusals } = framedAlice(() => {
    asked++
    return true
  }, { maxTopicsPerConnection: 2 })
  subscribe(ws, 'a')
  subscribe(ws, 'b')
  subscribe(ws, 'c')
  const answers = await replies(ws, 3)
  assert.equal(answers[2]!.reason, 'topic_limit')
  assert.equal(answers[2]!.topic, 'c')
  assert.equal(asked, 2)
  assert.deepEqual(refusals, ['topic_limit c'])
  unsubscribe(ws, 'a')
  subscribe(ws, 'c')
  assert.deepEqual((await replies(ws, 5)).slice(3), [{ type: 'unsubscribed', topic: 'a' }, { type: 'subscribed', topic: 'c' }])
  assert.deepEqual([...hub.topics()].sort(), ['b', 'c'])
})

test('authorizations still being decided count against the limit: a never-answering authorizer cannot pile up requests', async () => {
  const decisions: Array<ReturnType<typeof deferred>> = []
  const { hub, ws } = framedAlice(() => {
    const decision = deferred()
    decisions.push(decision)
    return decision.promise
  }, { maxTopicsPerConnection: 1 })
  subscribe(ws, 'first')
  subscribe(ws, 'second')
  assert.equal(decisions.length, 1, 'the second request is refused before the authorizer is asked')
  decisions[0]!.resolve(true)
  const answers = await replies(ws, 2)
  assert.deepEqual(answers.map((a) => `${a.type} ${a.topic} ${a.reason ?? ''}`), ['error second topic_limit', 'subscribed first '])
  assert.deepEqual([...hub.topics()], ['first'])
})

test('an authorization that ends after its connection closed leaves no subscription behind', async () => {
  const decision = deferred()
  const { hub, ws } = framedAlice(() => decision.promise)
  const opened: string[] = []
  hub.on('topicOpen', (topic) => opened.push(topic))
  subscribe(ws, 'news')
  ws.finishClose()
  decision.resolve(true)
  await decision.promise
  await nextTurn()
  assert.equal(hub.subscriptionCount, 0)
  assert.equal(hub.topicCount, 0)
  assert.deepEqual(opened, [])
})

test('a plain (unframed) client cannot subscribe: its frames are ignored', async () => {
  const hub = new Hub(options)
  hub.authorizeTopic = () => true
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket)
  subscribe(ws, 'news')
  await nextTurn()
  assert.deepEqual(ws.sent, [])
  assert.equal(hub.subscriptionCount, 0)
})
