// The Authenticator extension point: a function or object in the options, or a
// decorator set before registering, replaces JWT for every connection.
import assert from 'node:assert/strict'
import Fastify, { type FastifyRequest } from 'fastify'
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
