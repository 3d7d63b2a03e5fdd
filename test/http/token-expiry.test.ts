// A connection lives no longer than the token it was opened with: at `exp` the hub
// closes it with 4001, and the client library fetches a fresh token and reconnects.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import WebSocket from 'ws'
import { PusherClient } from '../../client/index.js'
import { connect, connectAs, expiringToken, metrics, post, refusedUpgrade, startHub, token, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub()
})
after(() => hub.app.close())


test('a connection is closed with 4001 at its token\'s exp, and receives until then', async () => {
  const { token: short, exp } = expiringToken('expiring', 2)
  const client = await connect(hub, { token: short })
  const lasting = await connectAs(hub, 'expiring')
  const closed = client.closed()
  assert.deepEqual((await post(hub, '/send', { uid: 'expiring', message: 'before exp' })).body, { delivered: 2, nodes: 1 })
  assert.deepEqual(await client.received(1), ['before exp'])
  const { code, reason } = await closed
  assert.ok(Date.now() >= exp * 1000, `closed ${exp * 1000 - Date.now()} ms before exp`)
  assert.equal(code, 4001)
  assert.match(reason, /token expired/)
  // The user's other connection, with a token without exp, stays.
  assert.deepEqual((await post(hub, '/send', { uid: 'expiring', message: 'after exp' })).body, { delivered: 1, nodes: 1 })
  assert.deepEqual(await lasting.received(2), ['before exp', 'after exp'])
  assert.equal((await metrics(hub)).get('pusher_disconnects_total{reason="token_expired"}'), 1)
  await lasting.close()
})

test('a custom authenticator can give an expiry; one already past is refused before the upgrade', async () => {
  const custom = await startHub({
    authenticator: (request) => {
      const { ms } = request.query as { ms: string }
      return { uid: 'custom', expiresAt: Date.now() + Number(ms) }
    },
  })
  try {
    const opened = Date.now()
    const ws = new WebSocket(`${custom.wsUrl}/ws?ms=300`)
    await once(ws, 'open')
    const [code] = await once(ws, 'close')
    assert.equal(code, 4001)
    assert.ok(Date.now() - opened >= 300)
    const refused = await refusedUpgrade(`${custom.wsUrl}/ws?ms=-1`)
    assert.equal(refused.status, 401)
    assert.match(refused.body.message, /expired/)
  } finally {
    await custom.app.close()
  }
})

test('the client library asks for a fresh token at 4001 and reconnects with it', async () => {
  const issued: number[] = []
  let cached: { token: string; exp: number } | undefined
  const client = new PusherClient({
    url: `${hub.wsUrl}/ws`,
    WebSocket,
    // A token function that caches its token until it expires, as many do: asked for an
    // in-band refresh before exp, it hands back the same token, which cannot extend the
    // connection, so the client lets the hub close it at exp and reconnects.
    token: () => {
      if (cached !== undefined && cached.exp * 1000 > Date.now()) return cached.token
      // The first token expires in 2 s; the next one lasts.
      cached = issued.length === 0 ? expiringToken('refreshing', 2) : { token: token({ uid: 'refreshing' }), exp: Infinity }
      issued.push(Date.now())
      return cached.token
    },
  })
  const closes: number[] = []
  client.on('close', ({ code, willReconnect }) => {
    closes.push(code)
    assert.equal(willReconnect, true)
  })
  let opens = 0
  const reopened = new Promise<void>((resolve) => client.on('open', () => {
    if (++opens === 2) resolve()
  }))
  client.connect()
  try {
    await reopened
    assert.deepEqual(closes, [4001])
    assert.equal(issued.length, 2)
    const received = new Promise<string>((resolve) => client.on('message', (message) => resolve(message.data)))
    assert.equal((await post(hub, '/send', { uid: 'refreshing', message: 'on the fresh token' })).status, 200)
    assert.equal(await received, 'on the fresh token')
  } finally {
    await client.close()
  }
})
