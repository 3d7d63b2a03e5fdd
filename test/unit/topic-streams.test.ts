// Topic history meets framed subscribers, without sockets or a store: a subscribe with
// `since` gets what it missed, in order, then the live messages held meanwhile, with no
// duplicate; one without gets the topic's last seq to resume from; a live message ahead
// of the next one due is held while the gap is read, one read for every connection that
// shares it. The history here is a list the test controls, and its reads wait until the
// test lets them through, so "while the read runs" is a place the test stands in.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ReplayedMessage } from '../../lib/hub/connection.js'
import { Hub, type HubOptions } from '../../lib/hub/hub.js'
import { FakeWs } from '../support/fake-ws.js'

const options = { maxBufferedBytes: 1 << 20, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1, closeGraceMs: 1000 }
const T0 = 1_800_000_000_000
/** The seq of the topic's nth message. */
const nth = (n: number) => T0 * 1000 + n

/** A topic's history the test fills; reads resolve when release() is called (or at once with `open`). */
class History {
  readonly messages: ReplayedMessage[] = []
  lastSeq = 0
  firstSeq = 0
  reads: Array<{ topic: string; after: number }> = []
  open = true
  private waiting: Array<() => void> = []

  add(...ns: number[]): this {
    for (const n of ns) {
      this.messages.push({ data: `m${n}`, meta: { id: `id${n}`, seq: nth(n), time: T0 + n } })
      this.lastSeq = nth(n)
      if (this.firstSeq === 0) this.firstSeq = nth(n)
    }
    return this
  }

  /** Forgets the oldest, as a history over its size does. */
  trim(keep: number): void {
    this.messages.splice(0, this.messages.length - keep)
  }

  readonly reader = {
    after: async (topic: string, after: number, limit: number) => {
      this.reads.push({ topic, after })
      if (!this.open) await new Promise<void>((resolve) => this.waiting.push(resolve))
      return { messages: this.messages.filter((m) => m.meta.seq > after).slice(0, limit), lastSeq: this.lastSeq, firstSeq: this.firstSeq }
    },
    warn: (message: string) => assert.fail(message),
  }

  /** Lets the reads waiting so far finish. */
  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

function hubWith(history: History, extra: Partial<HubOptions> = {}): Hub {
  const hub = new Hub({ ...options, ...extra })
  hub.authorizeTopic = () => true
  hub.useTopicHistory(history.reader)
  return hub
}

function subscribe(ws: FakeWs, topic: string, since?: number): void {
  ws.emit('message', Buffer.from(JSON.stringify({ type: 'subscribe', topic, since })), false)
}

/** Publishes the topic's nth message live, as the bus does once it is stored. */
function publish(hub: Hub, topic: string, n: number): number {
  return hub.publish(topic, `m${n}`, { id: `id${n}`, seq: nth(n), time: T0 + n })
}

/** Everything the client got so far, as short strings: "m<n>" for a topic message, or the answer. */
function seen(ws: FakeWs): string[] {
  return ws.sent.map((text) => {
    const frame = JSON.parse(text) as { type?: string; data?: string; seq?: number; recovered?: boolean; topic: string }
    if (frame.type === undefined) {
      assert.equal(frame.seq, nth(Number(frame.data!.slice(1))), 'a stored topic message carries its seq')
      return frame.data!
    }
    const recovered = frame.recovered === undefined ? '' : ` recovered=${frame.recovered}`
    return `${frame.type} ${frame.topic} at ${frame.seq === undefined ? '-' : frame.seq - T0 * 1000}${recovered}`
  })
}

/** Lets promise jobs and this turn's writes run. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

test('a subscribe with since gets what it missed, in order, then what was published during the read, each once', async () => {
  const history = new History().add(1, 2, 3, 4, 5)
  history.open = false
  const hub = hubWith(history)
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'prices', nth(2))
  await nextTurn()
  assert.deepEqual(history.reads, [{ topic: 'prices', after: nth(2) }])
  // While the read runs: 5 again (stored before the read, heard live after) and 6, new.
  history.add(6)
  assert.equal(publish(hub, 'prices', 6), 1)
  assert.equal(publish(hub, 'prices', 5), 1)
  assert.deepEqual(seen(ws), [], 'held back while the history is read')
  history.release()
  await ws.frames(5)
  assert.deepEqual(seen(ws), ['m3', 'm4', 'm5', 'm6', 'subscribed prices at 6 recovered=true'])
  assert.equal(hub.stats.topics.replayed, 4)
  publish(hub, 'prices', 7)
  await nextTurn()
  assert.deepEqual(seen(ws).slice(5), ['m7'])
})

test('a since older than what the history keeps gets what is left, and recovered: false', async () => {
  const history = new History().add(1, 2, 3, 4, 5)
  history.trim(2)
  const hub = hubWith(history)
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'prices', nth(1))
  await ws.frames(3)
  assert.deepEqual(seen(ws), ['m4', 'm5', 'subscribed prices at 5 recovered=false'])

  // Caught up exactly: nothing to write, and nothing missed.
  const again = new FakeWs()
  hub.add('bob', again.asWebSocket, { framed: true })
  subscribe(again, 'prices', nth(5))
  await again.frames(1)
  assert.deepEqual(seen(again), ['subscribed prices at 5 recovered=true'])
})

test('a since of 0 gets the topic\'s whole stream when the history keeps it all: recovered, since no seq before the first existed', async () => {
  const history = new History().add(1, 2)
  const hub = hubWith(history)
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'prices', 0)
  await ws.frames(3)
  assert.deepEqual(seen(ws), ['m1', 'm2', 'subscribed prices at 2 recovered=true'])

  // Once the first is gone, a since of 0 missed it.
  history.trim(1)
  const late = new FakeWs()
  hub.add('bob', late.asWebSocket, { framed: true })
  subscribe(late, 'prices', 0)
  await late.frames(2)
  assert.deepEqual(seen(late), ['m2', 'subscribed prices at 2 recovered=false'])
})

test('a subscribe without since is told the topic\'s last seq, and gets only what is stored after it', async () => {
  const history = new History().add(1, 2)
  const hub = hubWith(history)
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'prices')
  await ws.frames(1)
  assert.deepEqual(seen(ws), ['subscribed prices at 2'])
  // Stored before the subscribe, heard late: the client was told it starts after it.
  publish(hub, 'prices', 2)
  publish(hub, 'prices', 3)
  await nextTurn()
  assert.deepEqual(seen(ws), ['subscribed prices at 2', 'm3'])
})

test('a live message ahead of the next one due is held while the gap is read; connections sharing the gap share one read', async () => {
  const history = new History().add(1)
  const hub = hubWith(history)
  const [a, b, plain] = [new FakeWs(), new FakeWs(), new FakeWs()]
  for (const [uid, ws] of [['alice', a], ['bob', b]] as const) hub.subscribe(hub.add(uid, ws.asWebSocket, { framed: true }), 'doc')
  hub.subscribe(hub.add('carol', plain.asWebSocket), 'doc')
  // The first stored message a connection sees starts its stream.
  publish(hub, 'doc', 1)
  // 2 and 3 are stored; 3 arrives first (published through another node, say).
  history.add(2, 3)
  history.open = false
  assert.equal(publish(hub, 'doc', 3), 3)
  assert.deepEqual([seen(a), seen(b)], [['m1'], ['m1']])
  assert.deepEqual(history.reads, [{ topic: 'doc', after: nth(1) }], 'one read for both connections')
  history.release()
  await Promise.all([a.frames(3), b.frames(3)])
  publish(hub, 'doc', 2)
  await nextTurn()
  assert.deepEqual([seen(a), seen(b)], [['m1', 'm2', 'm3'], ['m1', 'm2', 'm3']])
  // A plain client has no seq to order by: it gets each message as it comes.
  assert.deepEqual(plain.sent, ['m1', 'm3', 'm2'])
})

test('a topic the connection watches already (its token\'s) recovers from since only while nothing was written live', async () => {
  const history = new History().add(1, 2, 3)
  const hub = hubWith(history)
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true, topics: ['doc'] })
  subscribe(ws, 'doc', nth(1))
  await ws.frames(3)
  assert.deepEqual(seen(ws), ['m2', 'm3', 'subscribed doc at 3 recovered=true'])

  // Another connection got a live message before its subscribe: what it missed before
  // that cannot come in order any more, and it is told so.
  const late = new FakeWs()
  hub.add('bob', late.asWebSocket, { framed: true, topics: ['doc'] })
  history.add(4)
  publish(hub, 'doc', 4)
  subscribe(late, 'doc', nth(1))
  await late.frames(2)
  assert.deepEqual(seen(late), ['m4', 'subscribed doc at 4 recovered=false'])
})

test('an unsubscribe during the read ends the stream: nothing more is written, and no answer', async () => {
  const history = new History().add(1, 2)
  history.open = false
  const hub = hubWith(history)
  const ws = new FakeWs()
  const connection = hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'doc', 0)
  await nextTurn()
  history.add(3)
  publish(hub, 'doc', 3)
  hub.unsubscribe(connection, 'doc')
  assert.equal(connection.heldBytes, 0, 'what was held is let go')
  history.release()
  await nextTurn()
  assert.deepEqual(ws.sent, [])
})

test('held messages count against the slow-consumer bound', async () => {
  const history = new History().add(1)
  history.open = false
  const hub = hubWith(history, { maxBufferedBytes: 64 })
  const ws = new FakeWs()
  hub.add('alice', ws.asWebSocket, { framed: true })
  subscribe(ws, 'doc', 0)
  await nextTurn()
  assert.equal(hub.publish('doc', 'x'.repeat(40), { id: 'a', seq: nth(2), time: T0 }), 1)
  assert.equal(hub.publish('doc', 'y'.repeat(40), { id: 'b', seq: nth(3), time: T0 }), 0)
  assert.equal(ws.closedWith?.code, 4008)
})
