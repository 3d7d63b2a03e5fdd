// What the standalone server logs, as an attacker would try to abuse it: no query string
// or body ever reaches a line (a query may hold a token or a message), refusal lines
// carry the client's address, and a flood of refusals is summed up instead of filling
// the disk.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect as tcpConnect } from 'node:net'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import Fastify from 'fastify'
import pusher, { options } from '../../app.js'
import { API_KEY, refusedUpgrade, SECRET, token, type TestHub } from '../support/helpers.js'

const lines: Array<Record<string, unknown>> = []
const stream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
    done()
  },
})
/** Every line written since `from`, as its raw JSON text. */
const textSince = (from: number) => lines.slice(from).map((line) => JSON.stringify(line)).join('\n')

let hub: TestHub
before(async () => {
  // The options `npm start` runs with, logging to a stream the test reads.
  const app = Fastify({ ...options, logger: { level: 'info', stream } })
  await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, store: { path: ':memory:' }, bodyTimeoutMs: 200 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  hub = { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` }
})
after(() => hub.app.close())

test('a 5xx line names the route, never the query string', async () => {
  const from = lines.length
  await hub.app.store!.close()
  const secret = 'the-message-text-nobody-may-read'
  const response = await fetch(`${hub.url}/send?uid=someone&message=${secret}&ttl=60`, { headers: { authorization: `Bearer ${API_KEY}` } })
  assert.equal(response.status, 503)
  const logged = lines.slice(from).filter((line) => line.level === 50)
  assert.equal(logged.length, 1)
  assert.equal(logged[0]!.route, '/send')
  assert.equal(logged[0]!.address, '127.0.0.1')
  assert.doesNotMatch(textSince(from), new RegExp(secret))
  assert.doesNotMatch(textSince(from), /\?uid=/)
})

test('refusal lines carry the address and never the token; a storm of them is summed up', async () => {
  const from = lines.length
  const bad = token({ uid: 'x' }, { key: 'another-secret-another-secret-another-secret' })
  for (let i = 0; i < 5; i++) assert.equal((await refusedUpgrade(`${hub.wsUrl}/ws?token=${bad}`)).status, 401)
  for (let i = 0; i < 45; i++) {
    const response = await fetch(`${hub.url}/send?uid=x&message=y`, { headers: { authorization: `Bearer wrong-key-${i}` } })
    assert.equal(response.status, 401)
  }
  const refusals = lines.slice(from).filter((line) => line.reason !== undefined)
  // The first 20 of the interval one by one, each with the client's address.
  assert.equal(refusals.length, 20)
  for (const line of refusals) assert.equal(line.address, '127.0.0.1')
  assert.equal(refusals.filter((line) => line.reason === 'bad_signature').length, 5)
  hub.app.pusherLimits.refusals.summarise()
  const summary = lines.at(-1)!
  assert.equal(summary.suppressed, 30)
  assert.deepEqual(summary.reasons, { api_key: 30 })
  assert.deepEqual(summary.addresses, { '127.0.0.1': 30 })
  const text = textSince(from)
  assert.doesNotMatch(text, new RegExp(bad.split('.')[2]!))
  assert.doesNotMatch(text, /wrong-key/)
})

test('a timed-out body is logged by its route, without the query string', async () => {
  hub.app.pusherLimits.refusals.summarise()
  const from = lines.length
  const socket = tcpConnect({ port: Number(new URL(hub.url).port), host: '127.0.0.1' })
  await once(socket, 'connect')
  socket.write(`POST /send?uid=a&message=private-words HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${API_KEY}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{')
  socket.resume()
  await once(socket, 'close')
  const timeout = lines.slice(from).find((line) => line.reason === 'timeout')
  assert.ok(timeout !== undefined, 'no timeout line')
  assert.match(String(timeout.msg), /^POST \/send: body not received/)
  assert.doesNotMatch(textSince(from), /private-words/)
})
