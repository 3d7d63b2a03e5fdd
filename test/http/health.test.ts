// GET /health and GET /ready on one node: no API key, 200 while all is well, and 503
// naming the failing check while the hub shuts down or the SQLite store cannot write;
// pusher_ready follows /ready.
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import type Database from 'better-sqlite3'
import Fastify from 'fastify'
import pusher from '../../app.js'
import type { TimedStore } from '../../lib/store/timing.js'
import { API_KEY, connectAs, metrics, post, SECRET, startHub, tempDir, type TestHub } from '../support/helpers.js'

const dir = tempDir('health')

async function get(hub: TestHub, path: string): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${hub.url}${path}`)
  return { status: response.status, body: await response.json(), headers: response.headers }
}

/**
 * GET /ready until it answers `status`. The store probe's answer is reused for a second,
 * so a change shows within about that: the test looks again every 100 ms, for 5 s at most.
 */
async function readyAnswers(hub: TestHub, status: number): Promise<any> {
  const deadline = Date.now() + 5000
  for (;;) {
    const answer = await get(hub, '/ready')
    if (answer.status === status || Date.now() > deadline) {
      assert.equal(answer.status, status, JSON.stringify(answer.body))
      return answer.body
    }
    await sleep(100)
  }
}

test('one node: /health and /ready answer 200 without an API key, uncached, and pusher_ready is 1', async () => {
  const hub = await startHub()
  try {
    const health = await get(hub, '/health')
    assert.equal(health.status, 200)
    assert.deepEqual(health.body, { status: 'ok' })
    assert.equal(health.headers.get('cache-control'), 'no-store')
    const ready = await get(hub, '/ready')
    assert.equal(ready.status, 200)
    assert.deepEqual(ready.body, { status: 'ready', checks: { shutdown: { ok: true } } })
    assert.equal(ready.headers.get('cache-control'), 'no-store')
    assert.equal((await metrics(hub)).get('pusher_ready'), 1)
  } finally {
    await hub.app.close()
  }
})

test('the probes live under the prefix with every other route', async () => {
  const hub = await startHub({}, '/push')
  try {
    assert.equal((await get(hub, '/health')).status, 200)
    assert.equal((await get(hub, '/ready')).status, 200)
  } finally {
    await hub.app.close()
  }
})

test('a SQLite store that cannot write turns /ready to 503 naming the store, as durable sends fail; it recovers when it can write again', async () => {
  const hub = await startHub({ store: { path: join(dir, 'ready.db') } })
  try {
    assert.deepEqual(await readyAnswers(hub, 200), { status: 'ready', checks: { shutdown: { ok: true }, store: { ok: true } } })
    // SQLITE_READONLY, as from a file system remounted read-only: through the store's
    // own connection (query_only), since a file's mode does not bind a handle already open.
    const db = ((hub.app.store as TimedStore).inner as unknown as { db: Database.Database }).db
    db.pragma('query_only = ON')

    const body = await readyAnswers(hub, 503)
    assert.equal(body.statusCode, 503)
    assert.equal(body.code, 'PUSHER_ERR_NOT_READY')
    assert.equal(body.error, 'Service Unavailable')
    assert.equal(body.status, 'not_ready')
    assert.deepEqual(body.checks.shutdown, { ok: true })
    assert.equal(body.checks.store.ok, false)
    assert.match(body.checks.store.reason, /cannot write \(attempt to write a readonly database\)/)
    assert.match(body.message, /^This node cannot deliver messages now \(store: the message store cannot write/)
    // What the probe says is what a sender meets.
    const durable = await post(hub, '/send', { uid: 'nobody', message: 'keep me', ttl: 60 })
    assert.equal(durable.status, 503)
    assert.equal(durable.body.code, 'PUSHER_ERR_STORE_UNAVAILABLE')
    assert.equal((await metrics(hub)).get('pusher_ready'), 0)
    // Liveness is not readiness: the process still serves.
    assert.equal((await get(hub, '/health')).status, 200)

    db.pragma('query_only = OFF')
    await readyAnswers(hub, 200)
    assert.equal((await metrics(hub)).get('pusher_ready'), 1)
    assert.equal((await post(hub, '/send', { uid: 'nobody', message: 'keep me', ttl: 60 })).status, 202)
  } finally {
    await hub.app.close()
  }
})

/** Starts closing `hub` and holds the close open: one client stops reading, so the hub waits shutdownTimeoutMs for it. */
async function closeSlowly(hub: TestHub): Promise<{ closing: Promise<void>; release: () => void }> {
  const stuck = await connectAs(hub, 'stuck')
  const socket = (stuck.ws as unknown as { _socket: Socket })._socket
  socket.pause()
  const closed = stuck.closed()
  const closing = hub.app.close()
  // The hub is closing once its connections were told so.
  while (!hub.app.hub.isClosing) await new Promise((resolve) => setImmediate(resolve))
  return {
    closing: closing.then(() => closed).then(() => {}),
    release: () => socket.resume(),
  }
}

test('while the hub shuts down, /ready answers 503 (Fastify turns away every request once close has begun)', async () => {
  const hub = await startHub({ shutdownTimeoutMs: 3000 })
  const { closing, release } = await closeSlowly(hub)
  const ready = await fetch(`${hub.url}/ready`)
  assert.equal(ready.status, 503)
  await ready.body?.cancel()
  release()
  await closing
})

test('an app that serves during shutdown (return503OnClosing: false) gets the shutdown check from /ready', async () => {
  const app = Fastify({ logger: false, return503OnClosing: false })
  await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, shutdownTimeoutMs: 3000 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const hub: TestHub = { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` }
  const { closing, release } = await closeSlowly(hub)
  const { status, body } = await get(hub, '/ready')
  assert.equal(status, 503)
  assert.equal(body.code, 'PUSHER_ERR_NOT_READY')
  assert.equal(body.checks.shutdown.ok, false)
  assert.match(body.checks.shutdown.reason, /shutting down/)
  release()
  await closing
})
