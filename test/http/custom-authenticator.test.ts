// The Authenticator extension point: a function or object in the options, or a
// decorator set before registering, replaces JWT for every connection.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import Fastify, { type FastifyRequest } from 'fastify'
import WebSocket from 'ws'
import { test } from 'node:test'
import pusher from '../../app.js'
import { API_KEY, connect, post, refusedUpgrade, startHub, type TestHub } from '../support/helpers.js'

// An app that already has sessions: the session cookie's id names the user.
const sessions = new Map([['session-carol', 'carol'], ['session-empty', '']])
async function sessionAuthenticator(request: FastifyRequest): Promise<string> {
  const id = /session=([\w-]+)/.exec(request.headers.cookie ?? '')?.[1]
  if (id === undefined) throw Object.assign(new Error('log in first: no session cookie'), { statusCode: 403 })
  const uid = sessions.get(id)
  if (uid === undefined) throw new Error('session expired')
  return uid
}

test('a custom authenticator replaces JWT: no JWT key is needed, and its answer names the user', async () => {
  const hub = await startHub({ jwt: undefined, authenticator: sessionAuthenticator })
  try {
    const client = await connect(hub, { headers: { cookie: 'session=session-carol' } })
    assert.equal((await post(hub, '/send', { uid: 'carol', message: 'via session' })).status, 200)
    assert.deepEqual(await client.received(1), ['via session'])
    await client.close()
  } finally {
    await hub.app.close()
  }
})

test('what a custom authenticator refuses: its own 4xx is kept, a plain error is a 401, an empty uid is a 401', async () => {
  const hub = await startHub({ jwt: undefined, authenticator: { authenticate: sessionAuthenticator } })
  try {
    const noCookie = await refusedUpgrade(`${hub.wsUrl}/ws`)
    assert.equal(noCookie.status, 403)
    assert.match(noCookie.body.message, /log in first/)

    const expired = await refusedUpgrade(`${hub.wsUrl}/ws`, [], { cookie: 'session=session-unknown' })
    assert.equal(expired.status, 401)
    assert.match(expired.body.message, /\(rejected\).*session expired/)

    const empty = await refusedUpgrade(`${hub.wsUrl}/ws`, [], { cookie: 'session=session-empty' })
    assert.equal(empty.status, 401)
    assert.match(empty.body.message, /\(invalid_uid\)/)
    assert.equal(hub.app.authFailures.rejected, 2)
    assert.equal(hub.app.authFailures.invalid_uid, 1)
  } finally {
    await hub.app.close()
  }
})

test('an authenticator decorated on the app before registering is used', async () => {
  const app = Fastify()
  app.decorate('authenticator', { authenticate: (request: FastifyRequest) => String(request.headers['x-user']) })
  await app.register(pusher, { apiKeys: [API_KEY], env: {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const hub: TestHub = { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` }
  try {
    const client = await connect(hub, { headers: { 'x-user': 'decorated' } })
    assert.equal(app.hub.isOnline('decorated'), true)
    await client.close()
  } finally {
    await app.close()
  }
})

/** Opens a framed connection with `headers`, sends `refresh` as a refresh frame, and resolves with the answer or the close. */
async function refreshOnce(hub: TestHub, headers: Record<string, string>, refresh: string): Promise<{ answer?: unknown; close?: { code: number; reason: string } }> {
  const ws = new WebSocket(`${hub.wsUrl}/ws`, ['pusher.framed.v1'], { headers })
  await once(ws, 'open')
  ws.send(JSON.stringify({ type: 'refresh', token: refresh }))
  const outcome = await new Promise<{ answer?: unknown; close?: { code: number; reason: string } }>((resolve) => {
    ws.once('message', (data) => resolve({ answer: JSON.parse(data.toString()) }))
    ws.once('close', (code, reason) => resolve({ close: { code, reason: reason.toString() } }))
  })
  if (ws.readyState !== WebSocket.CLOSED) {
    ws.close()
    await once(ws, 'close')
  }
  return outcome
}

test('a custom authenticator with refresh(token) renews connections; one without refuses refreshes with 4005', async () => {
  const until = Date.now() + 3_600_000
  // Refresh tokens of this app: "renew:<uid>"; its answer gets the same checks as authenticate's.
  const renewing = await startHub({
    jwt: undefined,
    authenticator: {
      authenticate: (request: FastifyRequest) => ({ uid: String(request.headers['x-user']), expiresAt: Date.now() + 60_000 }),
      refresh: async (token: string) => {
        if (!token.startsWith('renew:')) throw Object.assign(new Error('not a renewal token'), { reason: 'rejected' })
        return { uid: token.slice('renew:'.length), expiresAt: until }
      },
    },
  })
  const fixed = await startHub({ jwt: undefined, authenticator: (request: FastifyRequest) => String(request.headers['x-user']) })
  try {
    const headers = { 'x-user': 'dora' }
    assert.deepEqual(await refreshOnce(renewing, headers, 'renew:dora'), { answer: { type: 'refreshed', expiresAt: until } })
    const other = await refreshOnce(renewing, headers, 'renew:')
    assert.equal(other.close?.code, 4005, 'an empty uid fails the uid check, as at connect')
    assert.match(other.close!.reason, /\(invalid_uid\)/)
    assert.equal((await refreshOnce(renewing, headers, 'renew:eve')).close?.code, 4005)
    assert.match((await refreshOnce(renewing, headers, 'junk')).close!.reason, /\(rejected\)/)
    const unsupported = await refreshOnce(fixed, headers, 'renew:dora')
    assert.equal(unsupported.close?.code, 4005)
    assert.match(unsupported.close!.reason, /not supported/)
  } finally {
    await renewing.app.close()
    await fixed.app.close()
  }
})
