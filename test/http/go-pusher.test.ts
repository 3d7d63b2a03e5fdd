// The Go original's own flow must work unchanged: its test token, GET /send with query
// parameters, a plain text frame, and the two gauges in /metrics.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { API_KEY, connect, metrics, post, startHub, type TestHub, token } from '../support/helpers.js'

// From go-pusher's tests: HS256 with secret "secret", no exp, nbf in 2015, uid "123".
const GO_PUSHER_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjE0NDQ0Nzg0MDAsInVpZCI6IjEyMyJ9.9yJ-ABQGJkdnDqHo-wV-vojQFEQGt-I0dyva1w6EQ7E'

let hub: TestHub
const connectAs = (_hub: TestHub, uid: string) => connect(hub, { token: token({ uid }, { key: 'secret' }) })
before(async () => {
  hub = await startHub({ jwt: { secret: 'secret' } })
})
after(() => hub.app.close())

test('the go-pusher test vector connects, receives GET /send as a text frame, and /metrics shows it', async () => {
  const client = await connect(hub, { token: GO_PUSHER_TOKEN })
  const response = await fetch(`${hub.url}/send?uid=123&message=Hello%20World`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  })
  assert.equal(response.status, 200)
  assert.deepEqual(await response.json(), { delivered: 1, nodes: 1 })
  assert.deepEqual(await client.received(1), ['Hello World'])

  await hub.app.hub.drained()
  const series = await metrics(hub)
  assert.equal(series.get('connections'), 1)
  assert.equal(series.get('pending'), 0)
  await client.close()
})

test('POST /send takes a form body, a JSON body, or query parameters alone', async () => {
  const client = await connectAs(hub, 'form-user')
  assert.equal((await post(hub, '/send', 'uid=form-user&message=from%20a%20form')).status, 200)
  assert.equal((await post(hub, '/send', { uid: 'form-user', message: 'from JSON' })).status, 200)
  assert.equal((await post(hub, '/send?uid=form-user&message=from%20the%20query')).status, 200)
  // r.FormValue merged query and form: a form may leave a field to the query string.
  assert.equal((await post(hub, '/send?uid=form-user', 'message=mixed')).status, 200)
  assert.deepEqual(await client.received(4), ['from a form', 'from JSON', 'from the query', 'mixed'])
  await client.close()
})

test('a message with multi-byte characters arrives byte for byte', async () => {
  const client = await connectAs(hub, 'unicode')
  const message = 'héllo wörld ✓ 你好 🚀'
  assert.equal((await post(hub, '/send', { uid: 'unicode', message })).status, 200)
  assert.deepEqual(await client.received(1), [message])
  await client.close()
})
