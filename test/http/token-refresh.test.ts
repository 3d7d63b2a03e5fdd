// In-band token refresh on real sockets with real JWTs: a framed client sends a fresh
// token before its own expires and stays connected past the old exp; a token of another
// user, or a bad one, closes it with 4005. The client library does it by itself.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import WebSocket, { WebSocketServer } from 'ws'
import { PusherClient } from '../../client/index.js'
import { connect, expiringToken, FramedClient, metrics, post, startHub, token, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())


/** Connects with the framed protocol and `jwt` in the bearer subprotocol, as the client library does. */
async function connectFramedWith(jwt: string): Promise<FramedClient> {
  const ws = new WebSocket(`${hub.wsUrl}/ws`, ['pusher.framed.v1', `bearer.${jwt}`])
  const client = new FramedClient(ws)
  await once(ws, 'open')
  return client
}

function sendRefresh(client: { ws: WebSocket }, jwt: string): void {
  client.ws.send(JSON.stringify({ type: 'refresh', token: jwt }))
}

/** The client's closes, and a promise of its second open: it reconnected. */
function untilReconnected(client: PusherClient): { closes: Array<{ code: number; willReconnect: boolean }>; reopened: Promise<void> } {
  const closes: Array<{ code: number; willReconnect: boolean }> = []
  client.on('close', ({ code, willReconnect }) => closes.push({ code, willReconnect }))
  let opens = 0
  const reopened = new Promise<void>((resolve) => client.on('open', () => ++opens === 2 && resolve()))
  return { closes, reopened }
}

test('a framed client that refreshes stays open past its first token\'s exp; a plain one cannot refresh and is closed with 4001', async () => {
  const { token: short, exp } = expiringToken('renewing', 2)
  const framed = await connectFramedWith(short)
  const plain = await connect(hub, { token: short })
  const plainClosed = plain.closed()
  const later = exp + 60
  const fresh = token({ uid: 'renewing', exp: later, iat: Math.floor(Date.now() / 1000) })
  sendRefresh(framed, fresh)
  sendRefresh(plain, fresh)
  assert.deepEqual(JSON.parse((await framed.received(1))[0]!), { type: 'refreshed', expiresAt: later * 1000 })

  // The plain client's frame was ignored: it goes at the first exp, in the same tick of
  // the hub's expiry wheel that would have closed the framed one.
  const { code, reason } = await plainClosed
  assert.ok(Date.now() >= exp * 1000, `closed ${exp * 1000 - Date.now()} ms before exp`)
  assert.equal(code, 4001)
  assert.match(reason, /token expired/)
  assert.deepEqual((await post(hub, '/send', { uid: 'renewing', message: 'after the first exp' })).body, { delivered: 1, nodes: 1 })
  const [, message] = await framed.envelopes(2)
  assert.equal(message!.data, 'after the first exp')
  const series = await metrics(hub)
  assert.equal(series.get('pusher_token_refreshes_total{outcome="ok"}'), 1)
  assert.equal(series.get('pusher_disconnects_total{reason="token_expired"}'), 1)
  await framed.close()
})

test('a refresh with a token of another user, a bad signature or an expired token closes with 4005', async () => {
  const cases = [
    { jwt: token({ uid: 'someone-else' }), reason: /another user/ },
    { jwt: token({ uid: 'victim' }, { key: 'not-the-hub-secret-but-long-enough-for-hs256' }), reason: /\(bad_signature\)/ },
    { jwt: token({ uid: 'victim', exp: Math.floor(Date.now() / 1000) - 10 }), reason: /\(expired\)/ },
  ]
  const start = await metrics(hub)
  for (const { jwt, reason } of cases) {
    const victim = await connectFramedWith(token({ uid: 'victim' }))
    const closed = victim.closed()
    sendRefresh(victim, jwt)
    const close = await closed
    assert.equal(close.code, 4005)
    assert.match(close.reason, reason)
    assert.match(close.reason, /fetch a fresh token/)
  }
  const series = await metrics(hub)
  const grown = (name: string) => series.get(name)! - (start.get(name) ?? 0)
  assert.equal(grown('pusher_token_refreshes_total{outcome="refused"}'), 3)
  assert.equal(grown('pusher_disconnects_total{reason="refresh_refused"}'), 3)
  assert.equal(hub.app.hub.connectionsOf('victim'), 0)
})

test('the client library refreshes by itself before exp and stays connected past it', { timeout: 15_000 }, async () => {
  // Every token lasts one to two seconds: the client refreshes at half of what remains.
  const issued: number[] = []
  const client = new PusherClient({
    url: `${hub.wsUrl}/ws`,
    WebSocket,
    token: () => {
      const { token: fresh, exp } = expiringToken('self-renewing', 2)
      issued.push(exp * 1000)
      return fresh
    },
  })
  const closes: number[] = []
  client.on('close', ({ code }) => closes.push(code))
  let opens = 0
  client.on('open', () => opens++)
  // Refreshes until one is answered after the first token's exp (and the wheel's next tick).
  const pastFirstExp = new Promise<void>((resolve) => client.on('refresh', ({ expiresAt }) => {
    assert.equal(expiresAt, issued.at(-1))
    if (Date.now() > issued[0]! + 250) resolve()
  }))
  client.connect()
  try {
    await pastFirstExp
    const received = new Promise<string>((resolve) => client.on('message', (message) => resolve(message.data)))
    assert.deepEqual((await post(hub, '/send', { uid: 'self-renewing', message: 'still here' })).body, { delivered: 1, nodes: 1 })
    assert.equal(await received, 'still here')
    assert.deepEqual(closes, [], 'never closed')
    assert.equal(opens, 1, 'one connection throughout')
    assert.ok(issued.length >= 2)
  } finally {
    await client.close()
  }
})

test('the client library meets a refused refresh (4005) with a fresh token and an immediate reconnect', { timeout: 15_000 }, async () => {
  // First a token that lasts 3-4 s (so the connection outlives the one-second guard
  // against reconnect loops, even when a loaded machine takes a second to open it), then
  // one of another user for the refresh, then a good one.
  const tokens = [expiringToken('switching', 4).token, token({ uid: 'not-switching' }), token({ uid: 'switching' })]
  let calls = 0
  const client = new PusherClient({
    url: `${hub.wsUrl}/ws`,
    WebSocket,
    token: () => tokens[Math.min(calls++, 2)]!,
    // A reconnect after the backoff delay would miss the test's timeout.
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  })
  const { closes, reopened } = untilReconnected(client)
  client.connect()
  try {
    await reopened
    assert.deepEqual(closes, [{ code: 4005, willReconnect: true }])
    assert.equal(calls, 3)
  } finally {
    await client.close()
  }
})

test('the client library falls back to reconnecting when its token is too large for a refresh frame (1009)', { timeout: 15_000 }, async () => {
  const small = await startHub({ maxInboundBytes: 512 })
  // Claims no hub needs, but tokens do carry such things: too large for a 512-byte frame.
  const bulky = (seconds: number) => token({ uid: 'bulky', exp: Math.floor(Date.now() / 1000) + seconds, groups: 'g'.repeat(600) })
  let calls = 0
  // The first lasts 3-4 s, as above: the connection outlives the guard against reconnect loops.
  const client = new PusherClient({ url: `${small.wsUrl}/ws`, WebSocket, token: () => bulky(calls++ === 0 ? 4 : 60), backoff: { initialMs: 60_000, maxMs: 60_000 } })
  const { closes, reopened } = untilReconnected(client)
  const errors: string[] = []
  client.on('error', (error) => errors.push(error.message))
  client.connect()
  try {
    await reopened
    assert.deepEqual(closes, [{ code: 1009, willReconnect: true }])
    assert.match(errors.join('\n'), /1009.*when sent a token refresh: renewing the token by reconnecting/)
  } finally {
    await client.close()
    await small.app.close()
  }
})

test('against a hub older than refresh (1008 unknown frame type) the client reconnects instead of stopping', { timeout: 15_000 }, async () => {
  // What a hub without refresh does: acks are fine, anything else is closed with 1008.
  const old = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has('pusher.framed.v1') ? 'pusher.framed.v1' : false) })
  await once(old, 'listening')
  const frames: string[] = []
  old.on('connection', (socket) => socket.on('message', (data) => {
    frames.push(JSON.parse(data.toString()).type)
    socket.close(1008, 'unknown frame type: send {"type":"ack","seq":<n>} as a text frame')
  }))
  const client = new PusherClient({
    url: `ws://127.0.0.1:${(old.address() as { port: number }).port}/ws`,
    WebSocket,
    token: () => expiringToken('upgrading', 4).token,
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  })
  const { closes, reopened } = untilReconnected(client)
  client.connect()
  try {
    await reopened
    assert.deepEqual(closes, [{ code: 1008, willReconnect: true }])
    assert.deepEqual(frames, ['refresh'])
  } finally {
    await client.close()
    for (const socket of old.clients) socket.terminate()
    await new Promise((resolve) => old.close(resolve))
  }
})
