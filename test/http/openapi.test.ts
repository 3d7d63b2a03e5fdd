// GET /openapi.json: a valid OpenAPI 3.1 document (checked by a validator of the
// specification's own JSON Schema) that lists every route the hub registers, whoever
// added it, says truly which need the API key, and describes the answers the hub gives.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify, { type FastifyInstance } from 'fastify'
import pusher from '../../app.js'
import { compileCheck } from '../../lib/schema-check.js'
import { API_KEY, connectAs, post, SECRET, startHub, tempDir, type TestHub } from '../support/helpers.js'

type Operation = { security?: Array<Record<string, string[]>>; responses: Record<string, { content?: Record<string, { schema: object }> }> }
type Document = { openapi: string; security: Array<Record<string, string[]>>; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } }

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

let app: FastifyInstance
let hub: TestHub
let document: Document
/** Every route as Fastify declared it, collected by a hook on the root, before the hub registers anything. */
const registered: Array<{ method: string; url: string }> = []

before(async () => {
  app = Fastify({ logger: false })
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url })
  })
  // Everything on: a store, so every route has something to answer with.
  await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, store: { path: join(tempDir('openapi'), 'hub.db') } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  hub = { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` }
  const response = await fetch(`${hub.url}/openapi.json`)
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type')!, /^application\/json/)
  document = await response.json() as Document
})
after(() => app.close())

/** Fastify's /messages/:id is OpenAPI's /messages/{id}; a wildcard, /topics/*, is /topics/{*} (as @fastify/swagger writes it). */
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}')

/** Each documented operation, with the security that applies to it (its own, or the document's). */
function operations(): Array<{ method: string; path: string; operation: Operation; security: Array<Record<string, string[]>> }> {
  return Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, operation]) => ({ method, path, operation, security: operation.security ?? document.security })))
}

/** Checks `body` against the schema the document gives for `status` of `operation` (its $refs to components resolved). */
function assertDocumented(operation: Operation, status: number, body: unknown, where: string): void {
  const response = operation.responses[String(status)]
  assert.ok(response !== undefined, `${where}: answered ${status}, which the document does not list: add it to the route's schema.response (errorResponses() for an error)`)
  const schema = response.content?.['application/json']?.schema
  assert.ok(schema !== undefined, `${where}: no JSON schema for ${status}: give the route's schema.response[${status}] one`)
  const withDefs = JSON.parse(JSON.stringify({ ...schema, $defs: document.components.schemas }).replaceAll('#/components/schemas/', '#/$defs/'))
  const problems = compileCheck(withDefs)(body)
  assert.equal(problems.length, 0, `${where}: the ${status} answer ${JSON.stringify(body)} is not what the document says: ${JSON.stringify(problems.slice(0, 3))}`)
}

test('the document is valid OpenAPI 3.1', async () => {
  assert.equal(document.openapi, '3.1.0')
  const validator = new Validator()
  const result = await validator.validate(document)
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
  assert.equal(validator.version, '3.1')
})

test('every route the hub registers is in the document, under its method and path', () => {
  // Fastify adds a HEAD twin to every GET by itself; the GET stands for both.
  const routes = registered.filter(({ method }) => method !== 'HEAD')
  assert.ok(routes.length >= 14, `only ${routes.length} routes were seen`)
  const missing = routes.filter(({ method, url }) => document.paths[openapiPath(url)]?.[method.toLowerCase()] === undefined)
  assert.deepEqual(missing, [], 'routes missing from /openapi.json: give each a schema (docs/api.md says how)')
  for (const [method, url] of [['GET', '/ws'], ['POST', '/send'], ['GET', '/send'], ['POST', '/send/batch'], ['POST', '/broadcast'],
    ['GET', '/messages/:id'], ['GET', '/users/:uid'], ['POST', '/presence'], ['GET', '/stats'], ['POST', '/users/:uid/disconnect'],
    ['POST', '/users/:uid/revoke'], ['POST', '/publish'], ['POST', '/publish/batch'], ['POST', '/users/:uid/topics'], ['GET', '/topics/*'],
    ['GET', '/metrics'], ['GET', '/health'], ['GET', '/ready'], ['GET', '/openapi.json']]) {
    assert.ok(routes.some((route) => route.method === method && route.url === url), `${method} ${url} was not registered`)
  }
})

test('every error answer in the document is the shared ErrorBody, or carries its fields', () => {
  const errorBody = document.components.schemas.ErrorBody as { properties: Record<string, unknown> }
  assert.deepEqual(Object.keys(errorBody.properties), ['statusCode', 'code', 'error', 'message'])
  for (const { method, path, operation } of operations()) {
    for (const [status, response] of Object.entries(operation.responses)) {
      if (Number(status) < 400) continue
      const schema = response.content?.['application/json']?.schema as { $ref?: string; properties?: Record<string, unknown> } | undefined
      const where = `${method.toUpperCase()} ${path} ${status}`
      assert.ok(schema !== undefined, `${where} has no JSON schema`)
      if (schema.$ref !== undefined) assert.equal(schema.$ref, '#/components/schemas/ErrorBody', where)
      else for (const field of ['statusCode', 'code', 'error', 'message']) assert.ok(field in schema.properties!, `${where} lacks ${field}`)
    }
  }
})

test('what the document says of the API key is what the hub does: 401 without it where it is required, served without it elsewhere', async () => {
  const apiKeyOnly = JSON.stringify([{ apiKey: [] }])
  let checked = 0
  for (const { method, path, operation, security } of operations()) {
    const where = `${method.toUpperCase()} ${path}`
    const url = `${hub.url}${path.replace(/\{\w+\}/g, 'x')}`
    if (JSON.stringify(security) === apiKeyOnly) {
      const response = await fetch(url, { method })
      const body = await response.json()
      assert.equal(response.status, 401, `${where} answered without an API key: if it needs none, say security: [] in its schema`)
      assert.equal(body.code, 'PUSHER_ERR_SENDER_UNAUTHORIZED', where)
      assertDocumented(operation, 401, body, where)
      checked++
    } else if (security.length === 0) {
      const response = await fetch(url, { method })
      assert.equal(response.status, 200, `${where} is documented as open but answered ${response.status}`)
      if (response.headers.get('content-type')?.startsWith('application/json')) assertDocumented(operation, 200, await response.json(), where)
      else await response.text()
      checked++
    }
  }
  // The sender and session routes, and the open ones (health, ready, metrics, this document).
  assert.ok(checked >= 14, `only ${checked} operations checked`)
  // /ws names the client's token, in a header or the query, not the API key.
  assert.deepEqual(document.paths['/ws']!.get!.security, [{ clientToken: [] }, { clientTokenQuery: [] }])
})

test('the sender routes\' answers, plain and durable, keep every field the document lists', async () => {
  const op = (path: string, method: string) => document.paths[path]![method]!
  const client = await connectAs(hub, 'reader')
  try {
    const sent = await post(hub, '/send', { uid: 'reader', message: 'hi' })
    assert.deepEqual(sent.body, { delivered: 1, nodes: 1 })
    assertDocumented(op('/send', 'post'), 200, sent.body, 'POST /send')
    const durable = await post(hub, '/send', { uid: 'reader', message: 'kept', ttl: 60 })
    assert.deepEqual(Object.keys(durable.body).sort(), ['delivered', 'id', 'nodes', 'seq', 'status'])
    assertDocumented(op('/send', 'post'), 200, durable.body, 'POST /send (durable)')
    const queued = await post(hub, '/send', { uid: 'away', message: 'later', ttl: 60 })
    assert.equal(queued.status, 202)
    assert.equal(queued.body.status, 'queued')
    assertDocumented(op('/send', 'post'), 202, queued.body, 'POST /send (queued)')
    const state = await fetch(`${hub.url}/messages/${queued.body.id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
    assertDocumented(op('/messages/{id}', 'get'), 200, await state.json(), 'GET /messages/{id}')
    const batch = await post(hub, '/send/batch', { messages: [{ uid: 'reader', message: 'a' }, { uid: 'away', message: 'b', ttl: 60 }] })
    assert.deepEqual(Object.keys(batch.body.results[1]).sort(), ['delivered', 'id', 'seq', 'status', 'uid'])
    assertDocumented(op('/send/batch', 'post'), 200, batch.body, 'POST /send/batch')
    assertDocumented(op('/broadcast', 'post'), 200, (await post(hub, '/broadcast', { message: 'all' })).body, 'POST /broadcast')
    const offline = await post(hub, '/send', { uid: 'away', message: 'now?' })
    assert.equal(offline.status, 404)
    assertDocumented(op('/send', 'post'), 404, offline.body, 'POST /send (offline)')
    const invalid = await post(hub, '/send', { uid: 'reader' })
    assertDocumented(op('/send', 'post'), 400, invalid.body, 'POST /send (invalid)')
  } finally {
    await client.close()
  }
})

test('the topic routes\' answers, and their refusals, are what the document says', async () => {
  const op = (path: string, method: string) => document.paths[path]![method]!
  const client = await connectAs(hub, 'watcher')
  try {
    const changed = await post(hub, '/users/watcher/topics', { subscribe: ['doc/topic'] })
    assert.equal(changed.body.subscribed, 1)
    assertDocumented(op('/users/{uid}/topics', 'post'), 200, changed.body, 'POST /users/{uid}/topics')
    const published = await post(hub, '/publish', { topic: 'doc/topic', message: 'hi' })
    assert.deepEqual(published.body, { delivered: 1, nodes: 1 })
    assertDocumented(op('/publish', 'post'), 200, published.body, 'POST /publish')
    const batch = await post(hub, '/publish/batch', { messages: [{ topic: 'doc/topic', message: 'a' }, { topic: 'doc/none', message: 'b' }] })
    assertDocumented(op('/publish/batch', 'post'), 200, batch.body, 'POST /publish/batch')
    const info = await fetch(`${hub.url}/topics/doc%2Ftopic`, { headers: { authorization: `Bearer ${API_KEY}` } })
    assertDocumented(op('/topics/{*}', 'get'), 200, await info.json(), 'GET /topics/{*}')
    const invalid = await post(hub, '/publish', { topic: 'not a topic', message: 'x' })
    assert.equal(invalid.status, 400)
    assertDocumented(op('/publish', 'post'), 400, invalid.body, 'POST /publish (invalid topic)')
    const large = await post(hub, '/publish', { topic: 'doc/topic', message: 'x'.repeat(64 * 1024 + 1) })
    assert.equal(large.status, 413)
    assertDocumented(op('/publish', 'post'), 413, large.body, 'POST /publish (too large)')
    const empty = await post(hub, '/users/watcher/topics', {})
    assertDocumented(op('/users/{uid}/topics', 'post'), 400, empty.body, 'POST /users/{uid}/topics (nothing to change)')
  } finally {
    await client.close()
  }
})

test('a plain GET of /ws is refused as the document says', async () => {
  const response = await fetch(`${hub.url}/ws`)
  assert.equal(response.status, 426)
  assertDocumented(document.paths['/ws']!.get!, 426, await response.json(), 'GET /ws')
})

test('with swaggerUi on, /docs shows the same document; off (the default), there is no /docs', async () => {
  const withUi = await startHub({ swaggerUi: true })
  try {
    const page = await fetch(`${withUi.url}/docs`)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /swagger-ui/i)
    const shown = await (await fetch(`${withUi.url}/docs/json`)).json()
    assert.deepEqual(shown, await (await fetch(`${withUi.url}/openapi.json`)).json())
  } finally {
    await withUi.app.close()
  }
  assert.equal((await fetch(`${hub.url}/docs`, { headers: { authorization: `Bearer ${API_KEY}` } })).status, 404)
})
