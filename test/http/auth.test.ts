// Connecting clients: every way a token can be wrong gets HTTP 401 with a reason
// before any upgrade; every way a valid token can travel is accepted.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { connect, metrics, post, refusedUpgrade, startHub, type TestHub, token } from '../support/helpers.js'

const now = () => Math.floor(Date.now() / 1000)
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('HS256 hub', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub()
  })
  after(() => hub.app.close())

  const refusals: Array<[string, () => string | undefined, string, string]> = [
    ['no token at all', () => undefined, 'PUSHER_ERR_TOKEN_MISSING', 'missing_token'],
    ['a token that is not a JWT', () => 'not-a-jwt', 'PUSHER_ERR_TOKEN_INVALID', 'malformed'],
    ['a token signed with another secret', () => token({ uid: 'u' }, { key: 'another-secret-another-secret-another' }), 'PUSHER_ERR_TOKEN_INVALID', 'bad_signature'],
    ['an unsigned token (alg none)', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ uid: 'u' })}.`, 'PUSHER_ERR_TOKEN_INVALID', 'algorithm'],
    ['a token with an algorithm the hub does not pin (HS512)', () => token({ uid: 'u' }, { algorithm: 'HS512' }), 'PUSHER_ERR_TOKEN_INVALID', 'algorithm'],
    ['an expired token', () => token({ uid: 'u', exp: now() - 60 }), 'PUSHER_ERR_TOKEN_INVALID', 'expired'],
    ['a token not valid yet (nbf)', () => token({ uid: 'u', nbf: now() + 3600 }), 'PUSHER_ERR_TOKEN_INVALID', 'not_yet_valid'],
    ['a token with neither uid nor sub', () => token({ name: 'u' }), 'PUSHER_ERR_TOKEN_INVALID', 'invalid_uid'],
    ['a numeric uid', () => token({ uid: 123 }), 'PUSHER_ERR_TOKEN_INVALID', 'invalid_uid'],
    ['an empty uid', () => token({ uid: '' }), 'PUSHER_ERR_TOKEN_INVALID', 'invalid_uid'],
    ['a uid longer than maxUidLength', () => token({ uid: 'x'.repeat(257) }), 'PUSHER_ERR_TOKEN_INVALID', 'invalid_uid'],
  ]

  for (const [what, makeToken, code, reason] of refusals) {
    test(`${what}: 401 ${code} (${reason}) before the upgrade`, async () => {
      const jwt = makeToken()
      const before = (await metrics(hub)).get(`pusher_auth_failures_total{reason="${reason}"}`) ?? 0
      const { status, body } = await refusedUpgrade(jwt === undefined ? `${hub.wsUrl}/ws` : `${hub.wsUrl}/ws?token=${jwt}`)
      assert.equal(status, 401)
      assert.equal(body.code, code)
      if (code === 'PUSHER_ERR_TOKEN_INVALID') assert.match(body.message, new RegExp(`\\(${reason}\\)`))
      assert.equal(hub.app.hub.connectionCount, 0)
      assert.equal((await metrics(hub)).get(`pusher_auth_failures_total{reason="${reason}"}`), before + 1)
    })
  }

  test('the token is accepted from the Authorization header', async () => {
    const client = await connect(hub, { headers: { authorization: `Bearer ${token({ uid: 'by-header' })}` } })
    assert.equal(hub.app.hub.isOnline('by-header'), true)
    await client.close()
  })

  test('the token is accepted as a bearer.<jwt> subprotocol, and the hub answers with pusher.v1, not the token', async () => {
    const client = await connect(hub, { protocols: ['pusher.v1', `bearer.${token({ uid: 'browser' })}`] })
    assert.equal(client.ws.protocol, 'pusher.v1')
    assert.equal((await post(hub, '/send', { uid: 'browser', message: 'hi' })).status, 200)
    assert.deepEqual(await client.received(1), ['hi'])
    await client.close()
  })

  test('the registered claim sub identifies the user when uid is absent', async () => {
    const client = await connect(hub, { token: token({ sub: 'subject-7' }) })
    assert.equal(hub.app.hub.isOnline('subject-7'), true)
    await client.close()
  })

  test('a token that is still valid (exp in the future) connects', async () => {
    const client = await connect(hub, { token: token({ uid: 'fresh' }, { expiresIn: 60_000 }) })
    await client.close()
  })

  test('refused clients do not disturb connected ones', async () => {
    const client = await connect(hub, { token: token({ uid: 'steady' }) })
    await Promise.all(Array.from({ length: 20 }, () => refusedUpgrade(`${hub.wsUrl}/ws?token=garbage`)))
    assert.equal((await post(hub, '/send', { uid: 'steady', message: 'still served' })).status, 200)
    assert.deepEqual(await client.received(1), ['still served'])
    await client.close()
  })

  test('a plain GET /ws without an upgrade gets 426', async () => {
    const response = await fetch(`${hub.url}/ws?token=${token({ uid: 'u' })}`)
    assert.equal(response.status, 426)
  })
})

describe('public-key hubs', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = (key: typeof rsa.publicKey) => key.export({ type: 'spki', format: 'pem' }).toString()
  const privatePem = (key: typeof rsa.privateKey) => key.export({ type: 'pkcs8', format: 'pem' }).toString()

  test('RS256: a token signed with the private key connects; HS256 signed with the public key (RS/HS confusion) is refused', async () => {
    const hub = await startHub({ jwt: { publicKey: pem(rsa.publicKey) } })
    try {
      const client = await connect(hub, { token: token({ uid: 'rsa-user' }, { key: privatePem(rsa.privateKey), algorithm: 'RS256' }) })
      assert.equal(hub.app.hub.isOnline('rsa-user'), true)
      await client.close()
      const forged = token({ uid: 'attacker' }, { key: pem(rsa.publicKey), algorithm: 'HS256' })
      const { status, body } = await refusedUpgrade(`${hub.wsUrl}/ws?token=${forged}`)
      assert.equal(status, 401)
      assert.match(body.message, /\(algorithm\)/)
    } finally {
      await hub.app.close()
    }
  })

  test('ES256 with issuer and audience pinned: the right claims connect, a wrong audience is refused', async () => {
    const hub = await startHub({ jwt: { publicKey: pem(ec.publicKey), issuer: 'login.example', audience: 'pusher' } })
    try {
      const key = privatePem(ec.privateKey)
      const good = token({ uid: 'ec-user', iss: 'login.example', aud: 'pusher' }, { key, algorithm: 'ES256' })
      await (await connect(hub, { token: good })).close()
      const wrongAudience = token({ uid: 'ec-user', iss: 'login.example', aud: 'billing' }, { key, algorithm: 'ES256' })
      const { status, body } = await refusedUpgrade(`${hub.wsUrl}/ws?token=${wrongAudience}`)
      assert.equal(status, 401)
      assert.match(body.message, /\(claims\)/)
    } finally {
      await hub.app.close()
    }
  })
})
