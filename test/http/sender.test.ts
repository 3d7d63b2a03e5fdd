// Senders: an API key is required on every send route, and every malformed request
// gets a clear 4xx, never a 5xx, while connected users keep being served.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { API_KEY, connectAs, post, startHub, type TestHub } from '../support/helpers.js'

const SECOND_KEY = 'second-api-key-abcdefghij'
let hub: TestHub
before(async () => {
  hub = await startHub({ apiKeys: [API_KEY, SECOND_KEY], maxMessageBytes: 1024, maxBatchSize: 5 })
})
after(() => hub.app.close())

describe('sender authentication', () => {
  const routes: Array<[string, string, string | undefined]> = [
    ['POST', '/send', 'uid=a&message=b'],
    ['GET', '/send?uid=a&message=b', undefined],
    ['POST', '/send/batch', undefined],
    ['POST', '/broadcast', 'message=b'],
  ]
  for (const [method, path, body] of routes) {
    for (const [what, authorization] of [['no key', undefined], ['an unknown key', 'Bearer not-a-key'], ['a Basic credential', `Basic ${API_KEY}`]] as const) {
      test(`${method} ${path} with ${what}: 401 and nothing is sent`, async () => {
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
        if (authorization !== undefined) headers.authorization = authorization
        const response = await fetch(`${hub.url}${path}`, { method, headers, body })
        assert.equal(response.status, 401)
        assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="fastify-pusher"')
        assert.equal((await response.json()).code, 'PUSHER_ERR_SENDER_UNAUTHORIZED')
      })
    }
  }

  test('any of several configured keys is accepted', async () => {
    const client = await connectAs(hub, 'keyed')
    const response = await post(hub, '/send', { uid: 'keyed', message: 'second key' }, { authorization: `Bearer ${SECOND_KEY}` })
    assert.equal(response.status, 200)
    assert.deepEqual(await client.received(1), ['second key'])
    await client.close()
  })
})

describe('bad input', () => {
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, RegExp?]> = [
    ['a user with no connection', () => post(hub, '/send', { uid: 'offline', message: 'x' }), 404, /PUSHER_ERR_USER_OFFLINE/],
    ['malformed JSON', () => post(hub, '/send', '{"uid": "a", "message": ', json), 400],
    ['an unknown content type', () => post(hub, '/send', '<uid>a</uid>', { 'content-type': 'application/xml' }), 415],
    ['a plain-text body', () => post(hub, '/send', 'hello', { 'content-type': 'text/plain' }), 400],
    ['a message over maxMessageBytes', () => post(hub, '/send', { uid: 'a', message: 'x'.repeat(1025) }), 413, /PUSHER_ERR_MESSAGE_TOO_LARGE/],
    ['a message over the limit in bytes though not in characters', () => post(hub, '/send', { uid: 'a', message: '✓'.repeat(400) }), 413, /1200 bytes/],
    ['a body far over the limit', () => post(hub, '/send', { uid: 'a', message: 'x'.repeat(200_000) }), 413, /FST_ERR_CTP_BODY_TOO_LARGE/],
    ['an unknown field', () => post(hub, '/send', { uid: 'a', message: 'x', priority: 'high' }), 400, /unknown field\(s\): priority/],
    ['a missing message', () => post(hub, '/send', { uid: 'a' }), 400, /message/],
    ['an empty uid', () => post(hub, '/send', { uid: '', message: 'x' }), 400, /uid/],
    ['a uid over maxUidLength', () => post(hub, '/send', { uid: 'u'.repeat(1000), message: 'x' }), 400, /uid/],
    ['a huge uid, past the body limit', () => post(hub, '/send', { uid: 'u'.repeat(100_000), message: 'x' }), 413],
    ['a numeric uid', () => post(hub, '/send', { uid: 42, message: 'x' }), 400, /uid/],
    ['a message that is an object', () => post(hub, '/send', { uid: 'a', message: { text: 'x' } }), 400, /message/],
    ['a JSON array body', () => post(hub, '/send', [{ uid: 'a', message: 'x' }]), 400],
    ['an unknown query parameter', () => post(hub, '/send?uid=a&message=x&debug=1'), 400, /debug/],
    ['GET /send without a message', () => fetch(`${hub.url}/send?uid=a`, { headers: { authorization: `Bearer ${API_KEY}` } }).then(async (r) => ({ status: r.status, body: await r.json() })), 400],
    ['an empty batch', () => post(hub, '/send/batch', { messages: [] }), 400],
    ['a batch over maxBatchSize', () => post(hub, '/send/batch', { messages: Array.from({ length: 6 }, () => ({ uid: 'a', message: 'x' })) }), 400],
    ['a batch item with an unknown field', () => post(hub, '/send/batch', { messages: [{ uid: 'a', message: 'x', ttl: 5 }] }), 400, /ttl/],
    ['a broadcast without a message', () => post(hub, '/broadcast', {}), 400],
  ]
  for (const [what, request, status, pattern] of cases) {
    test(`${what}: ${status}`, async () => {
      const response = await request()
      assert.equal(response.status, status, JSON.stringify(response.body))
      assert.equal(typeof response.body.message, 'string')
      if (pattern) assert.match(JSON.stringify(response.body), pattern)
    })
  }

  test('a batch with one oversized message is refused whole: nothing of it is sent', async () => {
    const client = await connectAs(hub, 'batched')
    const response = await post(hub, '/send/batch', {
      messages: [{ uid: 'batched', message: 'fine' }, { uid: 'batched', message: 'x'.repeat(2000) }],
    })
    assert.equal(response.status, 413)
    assert.equal((await post(hub, '/send', { uid: 'batched', message: 'after' })).status, 200)
    assert.deepEqual(await client.received(1), ['after'])
    await client.close()
  })

  test('after all of the above the hub still serves its users', async () => {
    const client = await connectAs(hub, 'survivor')
    assert.equal((await post(hub, '/send', 'uid=survivor&message=alive')).status, 200)
    assert.deepEqual(await client.received(1), ['alive'])
    await client.close()
  })
})
