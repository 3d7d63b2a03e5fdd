// In-band token refresh in the hub, without sockets: a framed client's refresh frame,
// checked by the hub's verifier, moves its connection's expiry, or closes it with 4005.
// Time is node:test's mock timers (the expiry wheel reads Date.now and ticks on setInterval).
import assert from 'node:assert/strict'
import { afterEach, mock, test } from 'node:test'
import { CloseCode } from '../../lib/hub/close-codes.js'
import { Hub, type RefreshedCredentials } from '../../lib/hub/hub.js'
import { FakeWs } from '../support/fake-ws.js'

const options = { maxBufferedBytes: 1024, heartbeatIntervalMs: 0, heartbeatTimeoutMs: 1, closeGraceMs: 1000 }
const START = 1_000_000
afterEach(() => mock.timers.reset())

function refresh(ws: FakeWs, token: string): void {
  ws.emit('message', Buffer.from(JSON.stringify({ type: 'refresh', token })), false)
}

/** A hub whose verifier reads tokens of the form `<uid>:<expiresAt>:<issuedAt>`, and one framed connection of dave expiring at START + 2 s. */
function hubWithDave(): { hub: Hub; ws: FakeWs; verified: string[] } {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: START })
  const hub = new Hub(options)
  const verified: string[] = []
  hub.verifyRefresh = (token) => {
    verified.push(token)
    const [uid, expiresAt, issuedAt] = token.split(':')
    if (uid === 'bad') throw Object.assign(new Error('signature mismatch'), { reason: 'bad_signature' })
    return { uid: uid!, expiresAt: Number(expiresAt), issuedAt: Number(issuedAt) }
  }
  const ws = new FakeWs()
  hub.add('dave', ws.asWebSocket, { framed: true, expiresAt: START + 2000, issuedAt: START - 60_000 })
  return { hub, ws, verified }
}

test('a refresh with a token of the same user moves the expiry: open past the old exp, closed with 4001 at the new one', () => {
  const { hub, ws } = hubWithDave()
  const connection = [...hub.connections()][0]!
  mock.timers.tick(1000)
  refresh(ws, `dave:${START + 10_000}:${START + 1000}`)
  assert.deepEqual(ws.sent.map((frame) => JSON.parse(frame)), [{ type: 'refreshed', expiresAt: START + 10_000 }])
  assert.equal(connection.expiresAt, START + 10_000)
  assert.equal(connection.issuedAt, START + 1000, 'revocations judge the connection by the new token')
  mock.timers.tick(5000)
  assert.equal(ws.closedWith?.code, undefined, 'still open 4 s after the first token expired')
  assert.equal(hub.send('dave', 'still here'), 1)
  mock.timers.tick(4249)
  assert.equal(ws.closedWith?.code, undefined)
  mock.timers.tick(1)
  assert.equal(ws.closedWith?.code, CloseCode.TOKEN_EXPIRED)
  assert.deepEqual(hub.stats.refreshes, { ok: 1, refused: 0 })
})

test('a refresh with a token without exp keeps the connection open for good, and says expiresAt null', () => {
  const { hub, ws } = hubWithDave()
  refresh(ws, 'dave:0:0')
  assert.deepEqual(JSON.parse(ws.sent[0]!), { type: 'refreshed', expiresAt: null })
  mock.timers.tick(60_000)
  assert.equal(ws.closedWith, undefined)
  assert.equal(hub.connectionCount, 1)
})

test('a token of another user closes the connection with 4005 and says what to do', () => {
  const { hub, ws } = hubWithDave()
  refresh(ws, `mallory:${START + 10_000}:${START}`)
  assert.equal(ws.closedWith?.code, CloseCode.REFRESH_REFUSED)
  assert.match(ws.closedWith!.reason, /another user.*fetch a fresh token/)
  assert.deepEqual(ws.sent, [])
  assert.equal(hub.connectionCount, 0)
  assert.equal(hub.stats.disconnects.refresh_refused, 1)
  assert.deepEqual(hub.stats.refreshes, { ok: 0, refused: 1 })
})

test('a token the verifier refuses closes the connection with 4005, naming the reason but not the error message', () => {
  const { hub, ws } = hubWithDave()
  refresh(ws, 'bad:0:0')
  assert.deepEqual(ws.closedWith, { code: CloseCode.REFRESH_REFUSED, reason: 'token refresh refused (bad_signature): fetch a fresh token and reconnect' })
  assert.deepEqual(hub.stats.refreshes, { ok: 0, refused: 1 })
})

test('without a verifier a refresh is refused with 4005: refresh is not supported', () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: START })
  const hub = new Hub(options)
  const ws = new FakeWs()
  hub.add('erin', ws.asWebSocket, { framed: true, expiresAt: START + 2000 })
  refresh(ws, 'any')
  assert.equal(ws.closedWith?.code, CloseCode.REFRESH_REFUSED)
  assert.match(ws.closedWith!.reason, /not supported.*reconnect/)
})

test('a plain client cannot refresh: its frames are ignored and it is closed with 4001 at exp', () => {
  const { hub, verified } = hubWithDave()
  const plain = new FakeWs()
  hub.add('dave', plain.asWebSocket, { expiresAt: START + 2000 })
  refresh(plain, `dave:${START + 10_000}:${START}`)
  assert.deepEqual(verified, [])
  assert.deepEqual(plain.sent, [])
  mock.timers.tick(2250)
  assert.equal(plain.closedWith?.code, CloseCode.TOKEN_EXPIRED)
})

test('a refresh frame without a token is a protocol error (1008), as any other malformed frame', () => {
  const { hub, ws, verified } = hubWithDave()
  ws.emit('message', Buffer.from('{"type":"refresh"}'), false)
  assert.equal(ws.closedWith?.code, CloseCode.POLICY_VIOLATION)
  assert.match(ws.closedWith!.reason, /"type":"refresh","token"/)
  assert.deepEqual(verified, [])
  assert.deepEqual(hub.stats.refreshes, { ok: 0, refused: 0 })
})

test('refresh frames count against the inbound frame limit like acks', () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: START })
  // Room for the 50 answers, which queue unread on the fake socket.
  const hub = new Hub({ ...options, maxBufferedBytes: 1 << 16, maxInboundFramesPerSecond: 5 })
  hub.verifyRefresh = () => ({ uid: 'flood', expiresAt: 0, issuedAt: 0 })
  const ws = new FakeWs()
  hub.add('flood', ws.asWebSocket, { framed: true })
  // The burst is ten seconds' worth: 50 frames pass, the 51st does not.
  for (let i = 0; i < 50; i++) refresh(ws, 'token')
  assert.equal(ws.closedWith?.code, undefined)
  refresh(ws, 'token')
  assert.equal(ws.closedWith?.code, CloseCode.POLICY_VIOLATION)
  assert.equal(hub.stats.disconnects.frame_flood, 1)
  assert.equal(hub.stats.refreshes.ok, 50)
})

test('an asynchronous verifier: refreshes sent while one is checked are ignored, the answer applies once', async () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: START })
  const hub = new Hub(options)
  const pending: Array<(credentials: RefreshedCredentials) => void> = []
  hub.verifyRefresh = () => new Promise((resolve) => pending.push(resolve))
  const ws = new FakeWs()
  hub.add('gina', ws.asWebSocket, { framed: true, expiresAt: START + 2000 })
  refresh(ws, 'first')
  refresh(ws, 'second')
  assert.equal(pending.length, 1, 'the second refresh is ignored while the first is checked')
  pending[0]!({ uid: 'gina', expiresAt: START + 10_000, issuedAt: START })
  assert.deepEqual(JSON.parse((await ws.frames(1))[0]!), { type: 'refreshed', expiresAt: START + 10_000 })
  mock.timers.tick(5000)
  assert.equal(ws.closedWith, undefined)
  // Once answered, the next refresh is checked again.
  refresh(ws, 'third')
  assert.equal(pending.length, 2)
})

test('an asynchronous verifier that rejects closes with 4005; one that answers after the connection closed changes nothing', async () => {
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: START })
  const hub = new Hub(options)
  const answers: Array<{ resolve: (credentials: RefreshedCredentials) => void; reject: (error: Error) => void }> = []
  hub.verifyRefresh = () => new Promise((resolve, reject) => answers.push({ resolve, reject }))
  const [refused, gone] = [new FakeWs(), new FakeWs()]
  hub.add('hal', refused.asWebSocket, { framed: true })
  hub.add('hal', gone.asWebSocket, { framed: true })
  refresh(refused, 'expired one')
  refresh(gone, 'late one')
  answers[0]!.reject(Object.assign(new Error('jwt expired'), { reason: 'expired' }))
  gone.finishClose()
  answers[1]!.resolve({ uid: 'hal', expiresAt: START + 10_000, issuedAt: START })
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(refused.closedWith, { code: CloseCode.REFRESH_REFUSED, reason: 'token refresh refused (expired): fetch a fresh token and reconnect' })
  assert.deepEqual(gone.sent, [])
  assert.deepEqual(hub.stats.refreshes, { ok: 0, refused: 1 })
  assert.equal(hub.connectionCount, 0)
})
