// Session control on one node, as the backend uses it: who is online, kicking a user
// (may reconnect, or for good), and revoking a user's tokens issued before a time.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { CloseCode } from '../../app.js'
import { connect, connectAs, connectFramed, get, metrics, post, refusedUpgrade, startHub, token, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  hub = await startHub({ maxBatchSize: 3 })
})
after(() => hub.app.close())

const nowSeconds = () => Math.floor(Date.now() / 1000)

test('GET /users/:uid and POST /presence say who is online, with how many connections, in request order', async () => {
  assert.deepEqual((await get(hub, '/users/nobody')).body, { uid: 'nobody', online: false, connections: 0, nodes: 0 })
  const [one, two] = await Promise.all([connectAs(hub, 'present'), connectAs(hub, 'present')])
  // A uid that needs escaping in a path arrives whole.
  const odd = await connectAs(hub, 'ü/ser 1')
  assert.deepEqual((await get(hub, '/users/present')).body, { uid: 'present', online: true, connections: 2, nodes: 1 })
  assert.deepEqual((await get(hub, `/users/${encodeURIComponent('ü/ser 1')}`)).body, { uid: 'ü/ser 1', online: true, connections: 1, nodes: 1 })
  const presence = await post(hub, '/presence', { uids: ['nobody', 'present', 'ü/ser 1'] })
  assert.equal(presence.status, 200)
  assert.deepEqual(presence.body.results, [
    { uid: 'nobody', online: false, connections: 0 },
    { uid: 'present', online: true, connections: 2 },
    { uid: 'ü/ser 1', online: true, connections: 1 },
  ])
  const stats = await get(hub, '/stats')
  assert.deepEqual(stats.body, { nodes: 1, connections: 3, users: 2, node: { id: 'local', connections: 3, users: 2 } })
  await Promise.all([one.close(), two.close(), odd.close()])
})

test('presence refuses what it cannot answer: too many uids, a malformed uid, no API key', async () => {
  const tooMany = await post(hub, '/presence', { uids: ['a', 'b', 'c', 'd'] })
  assert.equal(tooMany.status, 400)
  assert.match(tooMany.body.message, /uids/)
  const surrogate = await post(hub, '/presence', { uids: ['fine', 'v\ud800'] })
  assert.equal(surrogate.status, 400)
  assert.equal(surrogate.body.code, 'PUSHER_ERR_INVALID_UID')
  assert.match(surrogate.body.message, /^uids\[1\]: uid must be well-formed Unicode/)
  for (const [method, path] of [['GET', '/users/someone'], ['POST', '/presence'], ['GET', '/stats'], ['POST', '/users/someone/disconnect'], ['POST', '/users/someone/revoke']]) {
    const response = await fetch(`${hub.url}${path}`, { method })
    assert.equal(response.status, 401, `${method} ${path}`)
    assert.equal(((await response.json()) as { code: string }).code, 'PUSHER_ERR_SENDER_UNAUTHORIZED')
  }
})

test('a kick closes every connection of the user with 4002, and with reconnect: false, 4003; others stay', async () => {
  const [first, second, bystander] = await Promise.all([connectAs(hub, 'kicked'), connectAs(hub, 'kicked'), connectAs(hub, 'bystander')])
  const closes = [first.closed(), second.closed()]
  const kick = await post(hub, '/users/kicked/disconnect')
  assert.equal(kick.status, 200)
  assert.deepEqual(kick.body, { disconnected: 2, nodes: 1 })
  for (const { code, reason } of await Promise.all(closes)) {
    assert.equal(code, CloseCode.DISCONNECTED)
    assert.match(reason, /reconnect later/)
  }

  const again = await connectAs(hub, 'kicked')
  const closed = again.closed()
  assert.deepEqual((await post(hub, '/users/kicked/disconnect', { reconnect: false })).body, { disconnected: 1, nodes: 1 })
  const { code, reason } = await closed
  assert.equal(code, CloseCode.DISCONNECTED_FOR_GOOD)
  assert.match(reason, /do not reconnect/)

  assert.deepEqual((await post(hub, '/users/nobody/disconnect', {})).body, { disconnected: 0, nodes: 0 })
  assert.deepEqual((await post(hub, '/send', { uid: 'bystander', message: 'still here' })).body, { delivered: 1, nodes: 1 })
  const series = await metrics(hub)
  assert.equal(series.get('pusher_disconnects_total{reason="kicked"}'), 3)
  assert.equal(series.get('pusher_session_requests_total{action="disconnect"}'), 3)
  await bystander.close()
})

test('a revocation closes connections opened with older tokens (4004) and refuses those tokens; newer ones connect', async () => {
  const cut = nowSeconds() - 60
  const oldToken = token({ uid: 'revoked', iat: cut - 10 })
  const newToken = token({ uid: 'revoked', iat: cut })
  const [old, fresh, noIat] = await Promise.all([
    connect(hub, { token: oldToken }),
    connect(hub, { token: newToken }),
    // A token that does not say when it was issued falls under any cut.
    connect(hub, { token: token({ uid: 'revoked' }, { noTimestamp: true }) }),
  ])
  const closes = [old.closed(), noIat.closed()]
  const revoked = await post(hub, '/users/revoked/revoke', { before: cut })
  assert.equal(revoked.status, 200)
  assert.equal(revoked.body.uid, 'revoked')
  assert.equal(revoked.body.before, cut)
  assert.equal(revoked.body.nodes, 1)
  // Kept a day (PUSHER_REVOCATION_TTL_S) from now, since the cut is in the past.
  assert.ok(Math.abs(revoked.body.keptUntil - (nowSeconds() + 86_400)) <= 2, `keptUntil ${revoked.body.keptUntil}`)
  for (const { code, reason } of await Promise.all(closes)) {
    assert.equal(code, CloseCode.TOKEN_REVOKED)
    assert.match(reason, /fetch a fresh token/)
  }

  const refused = await refusedUpgrade(`${hub.wsUrl}/ws?token=${oldToken}`)
  assert.equal(refused.status, 401)
  assert.match(refused.body.message, /\(revoked\)/)
  const again = await connect(hub, { token: newToken })
  assert.deepEqual((await post(hub, '/send', { uid: 'revoked', message: 'to the newer tokens' })).body, { delivered: 2, nodes: 1 })
  assert.deepEqual(await fresh.received(1), ['to the newer tokens'])

  const series = await metrics(hub)
  assert.equal(series.get('pusher_disconnects_total{reason="revoked"}'), 2)
  assert.equal(series.get('pusher_auth_failures_total{reason="revoked"}'), 1)
  assert.equal(series.get('pusher_revocations'), 1)
  await Promise.all([fresh.close(), again.close()])
})

test('a revocation without before cuts at now; one too far in the future is refused', async () => {
  const open = await connectAs(hub, 'now-revoked')
  const closed = open.closed()
  const revoked = await post(hub, '/users/now-revoked/revoke', {})
  assert.equal(revoked.status, 200)
  assert.ok(Math.abs(revoked.body.before - nowSeconds()) <= 1)
  assert.equal((await closed).code, CloseCode.TOKEN_REVOKED)

  const future = await post(hub, '/users/someone/revoke', { before: nowSeconds() + 2 * 86_400 })
  assert.equal(future.status, 400)
  assert.equal(future.body.code, 'PUSHER_ERR_INVALID_REVOCATION')
  const unknownField = await post(hub, '/users/someone/revoke', { after: 1 })
  assert.equal(unknownField.status, 400)
  assert.match(unknownField.body.message, /unknown field/)
})

test('a token issued before a revocation cannot extend a connection through an in-band refresh either', async () => {
  const cut = nowSeconds() - 60
  await post(hub, '/users/refreshing-revoked/revoke', { before: cut })
  // Opened with a token issued after the cut; the refresh carries one issued before it.
  const framed = await connectFramed(hub, 'refreshing-revoked')
  const closed = framed.closed()
  framed.ws.send(JSON.stringify({ type: 'refresh', token: token({ uid: 'refreshing-revoked', iat: cut - 10 }) }))
  const { code, reason } = await closed
  assert.equal(code, CloseCode.REFRESH_REFUSED)
  assert.match(reason, /revoked/)
})
