// The client library (client/) on Node with `ws`: against the real hub for delivery,
// acks, resume and token refresh; against a scripted server for what the real hub does
// not do on demand (send a seq twice, send garbage, speak an older protocol).
import assert from 'node:assert/strict'
import { type IncomingMessage, request } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { backoffDelay, PusherClient, type PusherClientEvents, type PusherMessage } from '../../client/index.js'
import { API_KEY, post, startHub, tempDir, token, type TestHub } from '../support/helpers.js'
import { client, collector, next } from '../support/client-helpers.js'

const dir = tempDir('client')

/** A hub with the SQLite store at `db`, on `port` (0: any); a restart passes the old port so the client finds it. */
function hubOn(db: string, port = 0): Promise<TestHub> {
  return startHub({ store: { path: join(dir, db) } }, '', port)
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

/** Every message `pusher` emits, in order, and a way to wait for the first `count`. */
function inbox(pusher: PusherClient) {
  const box = collector<PusherMessage>()
  pusher.on('message', (message) => box.push(message))
  return { messages: box.items, received: box.first }
}

/** A token function that counts its calls and can hold the next one until released. */
function tokenHook(uid: string) {
  const hook = {
    calls: 0,
    hold: undefined as Promise<void> | undefined,
    asked: deferred(),
    fn: async () => {
      hook.calls++
      hook.asked.resolve()
      if (hook.hold !== undefined) await hook.hold
      return token({ uid })
    },
    /** Holds the next call; resolves `asked` once it is made. Returns the release. */
    holdNext(): () => void {
      const release = deferred()
      hook.hold = release.promise
      hook.asked = deferred()
      return () => {
        hook.hold = undefined
        release.resolve()
      }
    },
  }
  return hook
}

/**
 * An API call on a connection of its own: fetch would reuse a keep-alive connection to
 * a hub that has just been closed (same address as its successor) and fail.
 */
function api(hub: TestHub, method: string, path: string, body?: object): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const req = request(`${hub.url}${path}`, { method, headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
    })
    req.on('error', reject).end(body === undefined ? undefined : JSON.stringify(body))
  })
}

async function send(hub: TestHub, uid: string, message: string, durable = true) {
  const response = await api(hub, 'POST', '/send', durable ? { uid, message, ttl: 60 } : { uid, message })
  assert.ok(response.status === 200 || response.status === 202, `send answered ${response.status}`)
  return response.body as { id?: string; seq?: number; status?: string }
}

/** Waits (polling the hub's own API, no fixed sleep) until message `id` is acked. */
async function acked(hub: TestHub, id: string): Promise<void> {
  const deadline = Date.now() + 5000
  for (;;) {
    const { status } = (await api(hub, 'GET', `/messages/${id}`)).body as { status: string }
    if (status === 'acked') return
    if (Date.now() > deadline) assert.fail(`message ${id} is still ${status}`)
    await sleep(20)
  }
}

test('backoff: full jitter under a cap that doubles from initialMs up to maxMs', () => {
  const top = () => 0.999999
  const caps = Array.from({ length: 8 }, (_, attempt) => backoffDelay(attempt, {}, top) + 1)
  assert.deepEqual(caps, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000])
  assert.equal(backoffDelay(3, {}, () => 0), 0)
  assert.equal(backoffDelay(2, { initialMs: 100, maxMs: 1000 }, () => 0.5), 200)
  assert.equal(backoffDelay(10_000, { initialMs: 100, maxMs: 1000 }, top), 999, 'no overflow past maxMs')
  for (let attempt = 0; attempt < 50; attempt++) {
    const delay = backoffDelay(attempt, { initialMs: 10, maxMs: 300 })
    assert.ok(Number.isInteger(delay) && delay >= 0 && delay < Math.min(300, 10 * 2 ** attempt), `attempt ${attempt}: ${delay}`)
  }
})

test('durable messages arrive in order, are acked, and close() ends with a final close event', { timeout: 15_000 }, async () => {
  const hub = await hubOn('order.db')
  try {
    const queued = [await send(hub, 'reader', 'one'), await send(hub, 'reader', 'two')]
    const pusher = client(hub, { token: token({ uid: 'reader' }) })
    const box = inbox(pusher)
    pusher.connect()
    const live = await send(hub, 'reader', 'three')
    const messages = await box.received(3)
    assert.deepEqual(messages.map((m) => m.data), ['one', 'two', 'three'])
    assert.deepEqual(messages.map((m) => m.id), [...queued, live].map((r) => r.id))
    assert.deepEqual(messages.map((m) => m.seq), [...queued, live].map((r) => r.seq))
    assert.ok(messages.every((m) => typeof m.time === 'number'))
    assert.equal(pusher.lastSeq, live.seq)
    // Acked while still connected: the coalesced ack, not the one close() sends.
    for (const { id } of [...queued, live]) await acked(hub, id!)

    const closed = next(pusher, 'close')
    await pusher.close()
    assert.deepEqual(await closed, { code: 1000, reason: '', willReconnect: false })
  } finally {
    await hub.app.close()
  }
})

test('a plain (not durable) send arrives too, without id or seq, and does not move lastSeq', { timeout: 15_000 }, async () => {
  const hub = await hubOn('plain.db')
  const pusher = client(hub, { token: token({ uid: 'plain' }) })
  try {
    const box = inbox(pusher)
    const opened = next(pusher, 'open')
    pusher.connect()
    await opened
    await send(hub, 'plain', 'just now', false)
    const [message] = await box.received(1)
    assert.equal(message!.data, 'just now')
    assert.equal(message!.id, undefined)
    assert.equal(message!.seq, undefined)
    assert.equal(pusher.lastSeq, 0)
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('after the hub restarts, the client reconnects with a fresh token, resumes, and sees every message once, in order', { timeout: 20_000 }, async () => {
  let hub = await hubOn('resume.db')
  const port = Number(new URL(hub.url).port)
  const hook = tokenHook('roamer')
  const pusher = client(hub, { token: hook.fn })
  try {
    const box = inbox(pusher)
    pusher.connect()
    await send(hub, 'roamer', 'm1')
    await send(hub, 'roamer', 'm2')
    await box.received(2)

    // The next connection attempt waits at its token request, so the test knows the
    // client is away while it sends m3 and m4.
    const release = hook.holdNext()
    const closed = next(pusher, 'close')
    await hub.app.close()
    assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down', willReconnect: true })
    await hook.asked.promise
    hub = await hubOn('resume.db', port)
    assert.equal((await send(hub, 'roamer', 'm3')).status, 'queued')
    assert.equal((await send(hub, 'roamer', 'm4')).status, 'queued')

    const opened = next(pusher, 'open')
    release()
    await opened
    const last = await send(hub, 'roamer', 'm5')
    await box.received(5)
    // m5 came after the replay on the same socket: a duplicate would have come before it.
    assert.deepEqual(box.messages.map((m) => m.data), ['m1', 'm2', 'm3', 'm4', 'm5'])
    const seqs = box.messages.map((m) => m.seq!)
    assert.ok(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!), `seqs increase: ${seqs}`)
    assert.equal(pusher.lastSeq, last.seq)
    assert.equal(hook.calls, 2, 'one token per connection')
    for (const message of box.messages) await acked(hub, message.id!)
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('a token the hub refuses (401) is followed by a fresh one from the hook, which connects', { timeout: 15_000 }, async () => {
  const hub = await hubOn('refresh.db')
  const tokens = ['expired-or-bogus', token({ uid: 'fresh' })]
  const pusher = client(hub, { token: () => tokens.shift()! })
  try {
    const errors: Error[] = []
    pusher.on('error', (error) => errors.push(error))
    const closes: Array<PusherClientEvents['close']> = []
    pusher.on('close', (info) => closes.push(info))
    const opened = next(pusher, 'open')
    pusher.connect()
    await opened
    assert.equal(tokens.length, 0, 'the hook was asked twice')
    assert.match(errors[0]!.message, /401/)
    assert.deepEqual(closes, [{ code: 1006, reason: '', willReconnect: true }])
    const box = inbox(pusher)
    await send(hub, 'fresh', 'welcome')
    assert.equal((await box.received(1))[0]!.data, 'welcome')
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('kicked with 4002 the client reconnects after its backoff; revoked (4004) it fetches a fresh token; kicked for good (4003) it stops', { timeout: 15_000 }, async () => {
  const hub = await hubOn('kicks.db')
  let issued = 0
  // Tokens issued a minute apart, so that a revocation between two of them cuts cleanly.
  const base = Math.floor(Date.now() / 1000) - 3600
  const pusher = client(hub, { token: () => token({ uid: 'kickable', iat: base + 60 * issued++ }) })
  const closes: Array<PusherClientEvents['close']> = []
  pusher.on('close', (info) => closes.push(info))
  try {
    const opened = next(pusher, 'open')
    pusher.connect()
    await opened
    // A kick that allows a reconnect: back after the backoff, with the token function asked again.
    let reopened = next(pusher, 'open')
    await post(hub, '/users/kickable/disconnect', {})
    await reopened
    assert.deepEqual(closes.at(-1), { code: 4002, reason: 'disconnected by the server: reconnect later', willReconnect: true })
    // The token the client holds now was issued at base + 60; tokens issued before base + 90 are revoked.
    reopened = next(pusher, 'open')
    await post(hub, '/users/kickable/revoke', { before: base + 90 })
    await reopened
    assert.equal(closes.at(-1)!.code, 4004)
    assert.equal(issued, 3, 'a fresh token after the revocation')
    // For good: no reconnect, and close() has nothing left to do.
    const closed = next(pusher, 'close')
    await post(hub, '/users/kickable/disconnect', { reconnect: false })
    assert.deepEqual(await closed, { code: 4003, reason: 'disconnected by the server: do not reconnect', willReconnect: false })
    assert.equal(issued, 3, 'no token asked for after 4003')
    // Stopped for good, as after close(): it will not connect again.
    assert.throws(() => pusher.connect(), /this client was closed/)
    assert.equal((await post(hub, '/send', { uid: 'kickable', message: 'anyone?' })).status, 404)
  } finally {
    await pusher.close()
    await hub.app.close()
  }
})

test('close() while the hub is down stops the reconnect attempts', { timeout: 15_000 }, async () => {
  const hub = await hubOn('stop.db')
  const hook = tokenHook('quitter')
  const pusher = client(hub, { token: hook.fn, backoff: { initialMs: 1, maxMs: 5 } })
  const opened = next(pusher, 'open')
  pusher.connect()
  await opened
  // Once a few attempts have been refused, close() while the client waits out its
  // backoff delay: the microtask runs right after the client has scheduled the retry.
  const stopped = new Promise<void>((resolve) => {
    pusher.on('close', ({ willReconnect }) => {
      if (willReconnect && hook.calls >= 3) queueMicrotask(() => void pusher.close().then(resolve))
    })
  })
  await hub.app.close()
  await stopped
  const calls = hook.calls
  // A negative can only be watched for: 200 ms is 40 times the longest delay configured.
  await sleep(200)
  assert.equal(hook.calls, calls)
  assert.throws(() => pusher.connect(), /closed/)
})

// --- a scripted server on 127.0.0.1, for what the hub does not do on demand ---

interface Scripted {
  url: string
  connections: Array<{ socket: WebSocket; request: IncomingMessage }>
  /** Resolves with connection `n` (0-based) once it is open. */
  connection(n: number): Promise<{ socket: WebSocket; request: IncomingMessage }>
  close(): Promise<void>
}

async function scripted(protocol: string | false = 'pusher.framed.v1'): Promise<Scripted> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => protocol })
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const connections: Scripted['connections'] = []
  const waiters = new Set<() => void>()
  server.on('connection', (socket, request) => {
    connections.push({ socket, request })
    for (const wake of waiters) wake()
  })
  return {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections,
    async connection(n) {
      while (connections.length <= n) await new Promise<void>((resolve) => waiters.add(() => resolve()))
      return connections[n]!
    },
    close: () => {
      for (const { socket } of connections) socket.terminate()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

const durable = (seq: number, data = `#${seq}`) => JSON.stringify({ id: `id-${seq}`, seq, time: 1_700_000_000_000 + seq, data })
const nextFrame = (socket: WebSocket) => new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())))

test('a seq sent again after a reconnect is dropped; the client resumes with ?since= and acks', { timeout: 15_000 }, async () => {
  const server = await scripted()
  const pusher = client(server.url, { token: 'tok', ackDelayMs: 0 })
  try {
    const box = inbox(pusher)
    pusher.connect()
    const first = await server.connection(0)
    assert.equal(new URL(first.request.url!, 'ws://x').searchParams.get('since'), null)
    assert.deepEqual(first.request.headers['sec-websocket-protocol']?.split(/,\s*/), ['pusher.framed.v1', 'pusher.v1', 'bearer.tok'])
    first.socket.send(durable(1))
    first.socket.send(durable(2))
    await box.received(2)
    first.socket.terminate()

    const second = await server.connection(1)
    assert.equal(new URL(second.request.url!, 'ws://x').searchParams.get('since'), '2')
    assert.deepEqual(JSON.parse(await nextFrame(second.socket)), { type: 'ack', seq: 2 }, 'acks on open what it emitted')
    const ack = nextFrame(second.socket)
    second.socket.send(durable(2)) // at-least-once: the same message again
    second.socket.send(durable(1))
    second.socket.send(durable(4)) // a gap: seq 3 expired
    assert.deepEqual((await box.received(3)).map((m) => m.seq), [1, 2, 4])
    assert.deepEqual(JSON.parse(await ack), { type: 'ack', seq: 4 })
    assert.equal(box.messages.length, 3)
  } finally {
    await pusher.close()
    await server.close()
  }
})

test('malformed frames are error events; the stream goes on', { timeout: 15_000 }, async () => {
  const server = await scripted()
  const pusher = client(server.url, { token: 'tok', lastSeq: 7 })
  try {
    const errors: Error[] = []
    pusher.on('error', (error) => errors.push(error))
    const box = inbox(pusher)
    pusher.connect()
    const { socket, request } = await server.connection(0)
    assert.equal(new URL(request.url!, 'ws://x').searchParams.get('since'), '7', 'resumes from the lastSeq option')
    for (const frame of ['not json', '[1]', '{"time":1}', '{"seq":8,"time":1,"data":"no id"}', '{"id":"x","seq":0,"time":1,"data":"seq 0"}']) socket.send(frame)
    socket.send(Buffer.from('binary'), { binary: true })
    socket.send(durable(8, 'fine'))
    assert.deepEqual((await box.received(1)).map((m) => m.data), ['fine'])
    assert.equal(errors.length, 6, errors.map((e) => e.message).join('; '))
    assert.equal(pusher.lastSeq, 8)
  } finally {
    await pusher.close()
    await server.close()
  }
})

test('a hub that does not select pusher.framed.v1 is reported, and tried again later (it may be upgraded)', { timeout: 15_000 }, async () => {
  // A hub older than the framed protocol selects pusher.v1, which the client offers for this.
  const server = await scripted('pusher.v1')
  const pusher = client(server.url, { token: 'tok' })
  try {
    let opened = 0
    pusher.on('open', () => opened++)
    const error = next(pusher, 'error')
    const closed = next(pusher, 'close')
    pusher.connect()
    ;(await server.connection(0)).socket.send('bare text, as go-pusher sends it')
    assert.match((await error).message, /did not select the pusher\.framed\.v1 subprotocol \(it selected "pusher\.v1"\)/)
    assert.equal((await closed).willReconnect, true)
    await server.connection(1)
    assert.equal(opened, 0)
  } finally {
    await pusher.close()
    await server.close()
  }
})

test('a close with 1008 (the hub refused a client frame) is reported and not retried', { timeout: 15_000 }, async () => {
  const server = await scripted()
  const pusher = client(server.url, { token: 'tok' })
  try {
    const error = next(pusher, 'error')
    const closed = next(pusher, 'close')
    pusher.connect()
    ;(await server.connection(0)).socket.close(1008, 'unknown frame type')
    assert.match((await error).message, /1008.*unknown frame type/)
    assert.deepEqual(await closed, { code: 1008, reason: 'unknown frame type', willReconnect: false })
  } finally {
    await pusher.close()
    await server.close()
  }
})

test('options are checked: a WebSocket class (Node 20 has no global one), a ws: url, a lastSeq', () => {
  if ((globalThis as { WebSocket?: unknown }).WebSocket === undefined) {
    assert.throws(() => new PusherClient({ url: 'ws://127.0.0.1:1/ws', token: 't' }), /no global WebSocket.*pass one/)
  }
  assert.throws(() => new PusherClient({ url: 'http://127.0.0.1:1/ws', token: 't', WebSocket }), /ws: or wss:/)
  assert.throws(() => new PusherClient({ url: 'ws://127.0.0.1:1/ws', token: 't', WebSocket, lastSeq: -1 }), /lastSeq/)
})
