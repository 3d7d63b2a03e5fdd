// A Fastify user registers the suite inside their own app: routes go under a prefix,
// `app.hub` is theirs to use, and nothing of the suite clashes with their own plugins.
import assert from 'node:assert/strict'
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import { test } from 'node:test'
import * as promClient from 'prom-client'
import pusher from '../../app.js'
import hubPlugin from '../../plugins/hub.js'
import limitsPlugin from '../../plugins/limits.js'
import wsRoute from '../../routes/ws.js'
import { resolveConfig } from '../../lib/config/config.js'
import { API_KEY, connect, SECRET, token, type TestHub } from '../support/helpers.js'

test('registered under /push next to the host app\'s own routes, JWT and metrics', async () => {
  const app = Fastify()
  // The host has its own @fastify/jwt (for its own API) and its own global prom-client metric.
  await app.register(fastifyJwt, { secret: 'the-host-apps-own-secret-for-its-api' })
  const hostCounter = new promClient.Counter({ name: 'host_orders_total', help: 'the host app\'s own metric' })
  app.post('/orders/:id/ship', async (request) => {
    const { id } = request.params as { id: string }
    // The host pushes to the buyer through the hub it got from the suite.
    const delivered = app.hub.send('buyer-1', `order ${id} shipped`)
    hostCounter.inc()
    return { delivered }
  })
  await app.register(pusher, { prefix: '/push', jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {} })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const hub: TestHub = { app, url: `http://127.0.0.1:${port}/push`, wsUrl: `ws://127.0.0.1:${port}/push` }

  try {
    const buyer = await connect(hub, { token: token({ uid: 'buyer-1' }) })
    const shipped = await fetch(`http://127.0.0.1:${port}/orders/42/ship`, { method: 'POST' })
    assert.deepEqual(await shipped.json(), { delivered: 1 })

    const sent = await fetch(`${hub.url}/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ uid: 'buyer-1', message: 'through the prefixed API' }),
    })
    assert.equal(sent.status, 200)
    assert.deepEqual(await buyer.received(2), ['order 42 shipped', 'through the prefixed API'])

    // Nothing is mounted outside the prefix.
    assert.equal((await fetch(`http://127.0.0.1:${port}/send`, { method: 'POST' })).status, 404)
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404)

    // The host's JWT decorator is still the host's: it signs with the host's secret.
    const hostToken = app.jwt.sign({ uid: 'buyer-1' })
    assert.deepEqual(app.jwt.verify<{ uid: string }>(hostToken).uid, 'buyer-1')
    const hostSigned = await fetch(`${hub.url}/metrics`)
    const text = await hostSigned.text()
    assert.match(text, /^connections 1$/m)
    assert.match(text, /http_request_duration_seconds_count\{method="POST",route="\/push\/send",status_code="200"\} 1/)
    // The host's global registry is untouched by the suite's metrics.
    assert.doesNotMatch(await promClient.register.metrics(), /^connections /m)
    await buyer.close()
  } finally {
    await app.close()
    promClient.register.removeSingleMetric('host_orders_total')
  }
})

test('a part registered without what it depends on fails at start, naming the missing plugin', async () => {
  const config = resolveConfig({ jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {} }, false)
  const app = Fastify()
  await app.register(limitsPlugin, { config })
  await app.register(hubPlugin, { config })
  app.register(wsRoute, { config })
  await assert.rejects(async () => { await app.ready() }, /pusher-auth/)
})
