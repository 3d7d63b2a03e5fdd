// Reference server: fastify-pusher's hot path with the framework taken out. A bare
// node:http handler does the work the /send route does (an API key compared in constant
// time, the form read and merged with the query, the same schema check, the size
// check, the hub's write, the route histogram, a JSON answer), and upgrades go straight
// to ws and the hub. Not a product: nothing here runs a Fastify hook, so a host app's
// rate limit or tracing would be skipped. bench/RESULTS.md uses it to show what leaving
// Fastify's request lifecycle for /send would buy.
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createVerifier } from 'fast-jwt'
import { parse } from 'fast-querystring'
import { Registry } from 'prom-client'
import { WebSocketServer } from 'ws'
import { Hub } from '../../lib/hub/hub.js'
import type { HistogramSeries } from '../../lib/metrics/histogram.js'
import { httpDurationHistogram } from '../../lib/metrics/metrics.js'
import { senderSchemas } from '../../routes/schemas.js'
import { compileCheck } from '../../lib/schema-check.js'

// No cache, as fastify-pusher verifies HMAC tokens (lib/config/jwt.ts: cacheVerified).
const verify = createVerifier({ key: process.env.JWT_SECRET ?? 'secret', algorithms: ['HS256'], cache: false })
const apiKey = Buffer.from(`Bearer ${process.env.PUSHER_API_KEY ?? ''}`)
const maxMessageBytes = 64 * 1024
const hub = new Hub({ maxBufferedBytes: 1 << 20, heartbeatIntervalMs: 30_000, heartbeatTimeoutMs: 10_000 })
const schemas = senderSchemas({ maxUidLength: 256, maxBatchSize: 1000 })
const sendBody = compileCheck(schemas.SendBody)
const broadcastBody = compileCheck(schemas.BroadcastBody)
const durations = httpDurationHistogram(new Registry())
// One series per method, route and status, found without building a key (as the
// metrics plugin does: its hook closes over the route).
const series = new Map<string, Map<string, Map<number, HistogramSeries>>>()
const seriesOf = (method: string, route: string, status: number): HistogramSeries => {
  let byRoute = series.get(method)
  if (byRoute === undefined) series.set(method, (byRoute = new Map()))
  let byStatus = byRoute.get(route)
  if (byStatus === undefined) byRoute.set(route, (byStatus = new Map()))
  let found = byStatus.get(status)
  if (found === undefined) byStatus.set(status, (found = durations.labels({ method, route, status_code: status })))
  return found
}
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })

function answer(response: ServerResponse, status: number, body: object): void {
  const json = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) })
  response.end(json)
}

function authorized(request: IncomingMessage): boolean {
  const header = request.headers.authorization
  if (header === undefined || header.length !== apiKey.length) return false
  return timingSafeEqual(Buffer.from(header), apiKey)
}

/** The body's form fields over the query's, as the route's preValidation hook merges them. */
function readFields(request: IncomingMessage, then: (fields: Record<string, unknown>) => void): void {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    const query = request.url!.indexOf('?')
    const fields = query === -1 ? {} : parse(request.url!.slice(query + 1))
    then({ ...fields, ...parse(Buffer.concat(chunks).toString('utf8')) })
  })
}

const server = createServer((request, response) => {
  const started = performance.now()
  const route = request.url!.split('?', 1)[0]!
  const done = (status: number, body: object) => {
    answer(response, status, body)
    seriesOf(request.method!, route, status).observe((performance.now() - started) / 1000)
  }
  if (request.method !== 'POST' || (route !== '/send' && route !== '/broadcast')) return done(404, { error: 'not found' })
  if (!authorized(request)) return done(401, { error: 'a valid API key is required' })
  readFields(request, (fields) => {
    const tooLarge = (message: string) => Buffer.byteLength(message) > maxMessageBytes
    if (route === '/broadcast') {
      if (broadcastBody(fields).length > 0) return done(400, { error: 'invalid body' })
      const { message } = fields as { message: string }
      if (tooLarge(message)) return done(413, { error: 'message too large' })
      return done(200, { delivered: hub.broadcast(message), nodes: 1 })
    }
    if (sendBody(fields).length > 0) return done(400, { error: 'invalid body' })
    const { uid, message } = fields as { uid: string; message: string }
    if (tooLarge(message)) return done(413, { error: 'message too large' })
    const delivered = hub.send(uid, message)
    if (delivered === 0) return done(404, { error: 'user offline' })
    done(200, { delivered, nodes: 1 })
  })
})

server.on('upgrade', (request: IncomingMessage, socket, head) => {
  let uid: string
  try {
    uid = verify(new URL(request.url!, 'http://x').searchParams.get('token') ?? '').uid
  } catch {
    socket.destroy()
    return
  }
  wss.handleUpgrade(request, socket, head, (ws) => hub.add(uid, ws))
})

server.listen(Number(process.env.PORT ?? 8182), '127.0.0.1')
