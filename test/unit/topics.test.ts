// Topics in the hub, without sockets: who watches what (Hub.subscribe, unsubscribe,
// changeTopics, topicSubscribers over the TopicIndex), what a publish writes to plain
// and framed connections, that an ended connection leaves every topic it watched, the
// open/close events a cluster bus listens to, and the one rule for topic names.
import assert from 'node:assert/strict'
import { afterEach, mock, test } from 'node:test'
import { checkIdentity } from '../../lib/auth/identity.js'
import { CloseCode } from '../../lib/hub/close-codes.js'
import { Hub } from '../../lib/hub/hub.js'
import { assertTopics, topicProblem } from '../../lib/topics/name.js'
import { FakeWs } from '../support/fake-ws.js'

const options = { maxBufferedBytes: 1024, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1, closeGraceMs: 1000 }
const START = 1_700_000_000_000
afterEach(() => mock.timers.reset())

/** A hub that records its topic events, in order, as "open:<topic>" and "close:<topic>". */
function recordingHub(extra: { maxTopicsPerConnection?: number } = {}): { hub: Hub; events: string[] } {
  const hub = new Hub({ ...options, ...extra })
  const events: string[] = []
  hub.on('topicOpen', (topic) => events.push(`open:${topic}`))
  hub.on('topicClose', (topic) => events.push(`close:${topic}`))
  return { hub, events }
}

test('subscribe answers subscribed, then already; past maxTopicsPerConnection too_many, and the refused topic gets nothing', () => {
  const hub = new Hub({ ...options, maxTopicsPerConnection: 2 })
  const ws = new FakeWs()
  const connection = hub.add('alice', ws.asWebSocket)
  assert.equal(hub.subscribe(connection, 'news'), 'subscribed')
  assert.equal(hub.subscribe(connection, 'news'), 'already')
  assert.equal(hub.subscribe(connection, 'sport'), 'subscribed')
  assert.equal(hub.subscribe(connection, 'weather'), 'too_many')
  assert.equal(hub.subscriptionCount, 2)
  assert.equal(hub.topicCount, 2)
  assert.deepEqual([...hub.topics()].sort(), ['news', 'sport'])
  assert.equal(hub.publish('weather', 'rain'), 0)
  assert.deepEqual(ws.sent, [])

  // A topic left makes room for another.
  assert.equal(hub.unsubscribe(connection, 'news'), true)
  assert.equal(hub.unsubscribe(connection, 'news'), false)
  assert.equal(hub.subscribe(connection, 'weather'), 'subscribed')
  assert.equal(hub.publish('weather', 'rain'), 1)
  assert.equal(hub.publish('news', 'headline'), 0)
  assert.deepEqual(ws.sent, ['rain'])
})

test('publish writes the bare text to plain subscribers and {"topic","time","data"} to framed ones, and counts them', async () => {
  mock.timers.enable({ apis: ['Date'], now: START })
  const hub = new Hub(options)
  const [plain, framed, elsewhere] = [new FakeWs(), new FakeWs(), new FakeWs()]
  hub.subscribe(hub.add('alice', plain.asWebSocket), 'doc/42')
  hub.subscribe(hub.add('bob', framed.asWebSocket, { framed: true }), 'doc/42')
  // The same user as a subscriber, on a connection that does not watch the topic.
  hub.subscribe(hub.add('alice', elsewhere.asWebSocket, { framed: true }), 'doc/43')

  assert.equal(hub.publish('doc/42', 'saved "v2" ✓'), 2)
  assert.deepEqual(plain.sent, ['saved "v2" ✓'])
  assert.deepEqual(framed.sent.map((frame) => JSON.parse(frame)), [{ topic: 'doc/42', time: START, data: 'saved "v2" ✓' }])
  assert.equal(framed.sent[0], `{"topic":"doc/42","time":${START},"data":"saved \\"v2\\" ✓"}`)
  assert.deepEqual(elsewhere.sent, [])
  assert.equal(hub.publish('doc/44', 'nobody'), 0)
  assert.deepEqual(hub.stats.topics, { publishes: 2, delivered: 2, replayed: 0 })

  // A second publish in the same turn queues behind the first and leaves with the flush.
  assert.equal(hub.publish('doc/42', Buffer.from('second')), 2)
  assert.deepEqual(await plain.frames(2), ['saved "v2" ✓', 'second'])
  assert.deepEqual(JSON.parse((await framed.frames(2))[1]!), { topic: 'doc/42', time: START, data: 'second' })
})

test('a user message to a framed subscriber carries no topic: only a publish does', () => {
  mock.timers.enable({ apis: ['Date'], now: START })
  const hub = new Hub(options)
  const ws = new FakeWs()
  hub.subscribe(hub.add('alice', ws.asWebSocket, { framed: true }), 'news')
  assert.equal(hub.send('alice', 'direct'), 1)
  assert.deepEqual(JSON.parse(ws.sent[0]!), { time: START, data: 'direct' })
})

test('a connection that ends leaves all its topics; topicOpen and topicClose fire once, at the first and the last subscriber', () => {
  const { hub, events } = recordingHub()
  const [a, b] = [new FakeWs(), new FakeWs()]
  const first = hub.add('alice', a.asWebSocket)
  const second = hub.add('bob', b.asWebSocket)
  for (const topic of ['t1', 't2', 't3']) hub.subscribe(first, topic)
  hub.subscribe(second, 't2')
  assert.deepEqual(events, ['open:t1', 'open:t2', 'open:t3'])
  assert.equal(hub.subscriptionCount, 4)

  a.finishClose()
  assert.deepEqual(events, ['open:t1', 'open:t2', 'open:t3', 'close:t1', 'close:t3'])
  assert.equal(hub.topicCount, 1)
  assert.equal(hub.subscriptionCount, 1)
  assert.deepEqual(hub.topicSubscribers('t2'), { subscribers: 1, users: 1 })
  assert.equal(hub.publish('t1', 'x'), 0)

  b.finishClose()
  assert.deepEqual(events.slice(5), ['close:t2'])
  assert.equal(hub.topicCount, 0)
  assert.equal(hub.subscriptionCount, 0)
  assert.deepEqual([...hub.topics()], [])
})

test('a topic opens again after it closed; subscribers joining and leaving in between fire neither event', () => {
  const { hub, events } = recordingHub()
  const [x, y] = [hub.add('u', new FakeWs().asWebSocket), hub.add('v', new FakeWs().asWebSocket)]
  const changes: string[] = []
  hub.on('topicChange', (topic) => changes.push(topic))
  hub.subscribe(x, 'room')
  hub.subscribe(y, 'room')
  hub.unsubscribe(x, 'room')
  assert.deepEqual(events, ['open:room'])
  assert.equal(changes.length, 3, 'each subscriber that came or went is a change')
  hub.unsubscribe(y, 'room')
  hub.subscribe(x, 'room')
  assert.deepEqual(events, ['open:room', 'close:room', 'open:room'])
})

test('a subscriber cut off as a slow consumer during a publish is not counted, and leaves the topic', () => {
  const { hub, events } = recordingHub()
  const [slow, fast] = [new FakeWs(), new FakeWs()]
  hub.subscribe(hub.add('slow', slow.asWebSocket), 'feed')
  hub.subscribe(hub.add('fast', fast.asWebSocket), 'feed')
  slow.bufferedAmount = 1020
  assert.equal(hub.publish('feed', 'x'.repeat(100)), 1)
  assert.equal(slow.closedWith?.code, CloseCode.SLOW_CONSUMER)
  assert.deepEqual(fast.sent, ['x'.repeat(100)])
  assert.deepEqual(hub.topicSubscribers('feed'), { subscribers: 1, users: 1 })
  assert.equal(hub.subscriptionCount, 1)
  assert.deepEqual(events, ['open:feed'])
})

test('a connection added with topics (a token\'s claim) watches them from the start: a publish from a connect listener reaches it', () => {
  const hub = new Hub(options)
  const ws = new FakeWs()
  const reached: number[] = []
  hub.on('connect', () => reached.push(hub.publish('alerts', 'first')))
  hub.add('alice', ws.asWebSocket, { topics: ['alerts', 'news'] })
  assert.deepEqual(reached, [1])
  assert.deepEqual(ws.sent, ['first'])
  assert.deepEqual(hub.topicSubscribers('news'), { subscribers: 1, users: 1 })
})

test('changeTopics applies to every open connection of the user and counts subscribed, unsubscribed and refused', () => {
  const hub = new Hub({ ...options, maxTopicsPerConnection: 2 })
  const [one, two, three] = [new FakeWs(), new FakeWs(), new FakeWs()]
  const c1 = hub.add('alice', one.asWebSocket)
  const c2 = hub.add('alice', two.asWebSocket)
  hub.add('alice', three.asWebSocket)
  const other = hub.add('bob', new FakeWs().asWebSocket)
  hub.subscribe(c1, 'x')
  hub.subscribe(c2, 'p')
  hub.subscribe(c2, 'q')
  hub.subscribe(other, 'q')

  // c1: x already, y new (now full). c2: q left first, so x fits and y does not. c3: x and y new.
  assert.deepEqual(hub.changeTopics('alice', ['x', 'y'], ['q']), { connections: 3, subscribed: 4, unsubscribed: 1, refused: 1 })
  assert.deepEqual(hub.topicSubscribers('x'), { subscribers: 3, users: 1 })
  assert.deepEqual(hub.topicSubscribers('y'), { subscribers: 2, users: 1 })
  assert.deepEqual(hub.topicSubscribers('q'), { subscribers: 1, users: 1 }, 'bob still watches q')
  assert.equal(hub.publish('y', 'why'), 2)
  assert.deepEqual([one.sent, two.sent, three.sent], [['why'], [], ['why']])

  assert.deepEqual(hub.changeTopics('alice', [], ['x', 'y', 'never']), { connections: 3, subscribed: 0, unsubscribed: 5, refused: 0 })
  assert.deepEqual(hub.changeTopics('nobody', ['x'], []), { connections: 0, subscribed: 0, unsubscribed: 0, refused: 0 })
  assert.equal(hub.topicCount, 2, 'p (alice on c2) and q (bob) are left')
})

test('topicSubscribers counts connections, and users once however many connections they watch from', () => {
  const hub = new Hub(options)
  const alice1 = new FakeWs()
  const alice2 = new FakeWs()
  hub.subscribe(hub.add('alice', alice1.asWebSocket), 'room')
  hub.subscribe(hub.add('alice', alice2.asWebSocket), 'room')
  const bob = hub.add('bob', new FakeWs().asWebSocket)
  hub.subscribe(bob, 'room')
  assert.deepEqual(hub.topicSubscribers('room'), { subscribers: 3, users: 2 })
  alice1.finishClose()
  assert.deepEqual(hub.topicSubscribers('room'), { subscribers: 2, users: 2 })
  alice2.finishClose()
  assert.deepEqual(hub.topicSubscribers('room'), { subscribers: 1, users: 1 })
  hub.unsubscribe(bob, 'room')
  assert.deepEqual(hub.topicSubscribers('room'), { subscribers: 0, users: 0 })
  assert.deepEqual(hub.topicSubscribers('never'), { subscribers: 0, users: 0 })
})

test('topic names: 1 to maxLength letters, digits and _-.:@/', () => {
  for (const name of ['a', 'order:1234', 'doc/42/cursor', 'user@example.com', 'A_b-c.d', '0', 'x'.repeat(200)]) {
    assert.equal(topicProblem(name, 200), undefined, name)
  }
  const refused: Array<[unknown, RegExp]> = [
    ['', /must not be empty/],
    ['x'.repeat(201), /at most 200 characters, not 201/],
    ['has space', /only letters, digits/],
    ['news\n', /only letters, digits/],
    ['tab\tbed', /only letters, digits/],
    ['café', /only letters, digits/],
    ['a*', /only letters, digits/],
    ['a#b', /only letters, digits/],
    ['a,b', /only letters, digits/],
    ['x\u0000', /only letters, digits/],
    [42, /must be a string/],
    [null, /must be a string/],
    [undefined, /must be a string/],
    [['news'], /must be a string/],
    [{ topic: 'news' }, /must be a string/],
  ]
  for (const [name, problem] of refused) assert.match(topicProblem(name, 200) ?? 'accepted', problem, JSON.stringify(name))
  assert.match(topicProblem('abcd', 3)!, /at most 3/)
})

test('assertTopics refuses a list whole with a 400 naming the field and the index', () => {
  assert.doesNotThrow(() => assertTopics(['a', 'b'], 200, 'subscribe'))
  assert.throws(() => assertTopics(['ok', 'not ok'], 200, 'subscribe'), (error: Error & { statusCode?: number; code?: string }) => {
    assert.equal(error.statusCode, 400)
    assert.equal(error.code, 'PUSHER_ERR_INVALID_TOPIC')
    assert.match(error.message, /^subscribe\[1\]: topic may hold only/)
    return true
  })
  assert.throws(() => assertTopics([''], 200), { message: 'topic must not be empty; nothing was published or changed' })
})

test('a topics claim: valid names within the limit, duplicates once; anything else is invalid_topics', () => {
  const limits = { maxUidLength: 256, maxTopicLength: 10, maxTopicsPerConnection: 3 }
  const checked = checkIdentity({ uid: 'u', topics: ['a', 'b', 'a'] }, limits, 0)
  assert.ok(!('reason' in checked))
  assert.deepEqual(checked.topics, ['a', 'b'])
  assert.equal((checkIdentity({ uid: 'u', topics: [] }, limits, 0) as { topics?: unknown }).topics, undefined)
  assert.equal((checkIdentity('u', limits, 0) as { topics?: unknown }).topics, undefined)

  const invalid: unknown[] = [
    'a', // not an array
    { 0: 'a', length: 1 },
    ['a', 'b', 'c', 'd'], // past maxTopicsPerConnection
    ['ok', 'not ok'],
    ['x'.repeat(11)],
    [42],
    [''],
    // eslint-disable-next-line no-sparse-arrays
    ['a', , 'b'], // a hole (from a custom authenticator) is no name: it would be subscribed as undefined
  ]
  for (const topics of invalid) {
    const problem = checkIdentity({ uid: 'u', topics }, limits, 0)
    assert.equal((problem as { reason?: string }).reason, 'invalid_topics', JSON.stringify(topics))
  }
})
