// Shared test fixtures: a hub on a real port of 127.0.0.1, real `ws` clients, tokens,
// and a reader for the hub's own /metrics output.
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket, { type ClientOptions } from 'ws'
import pusher, { type PusherOptions } from '../../app.js'

// The fixtures that need no hub live in fixtures.ts, which unit tests import alone.
import { API_KEY, SECRET, token } from './fixtures.js'
export { API_KEY, expiringToken, SECRET, tempDir, token } from './fixtures.js'

export interface TestHub {
  app: FastifyInstance
  /** http://127.0.0.1:<port><prefix> */
  url: string
  /** ws://127.0.0.1:<port><prefix> */
  wsUrl: string
}

/** Starts a Fastify app with the pusher suite on `port` (0: a free one); options default to a test secret and key. */
export async function startHub(options: PusherOptions = {}, prefix = '', port = 0): Promise<TestHub> {
  const app = Fastify({ logger: false })
  await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, prefix, ...options })
  await app.listen({ port, host: '127.0.0.1' })
  const { port: bound } = app.server.address() as { port: number }
  return { app, url: `http://127.0.0.1:${bound}${prefix}`, wsUrl: `ws://127.0.0.1:${bound}${prefix}` }
}

/** A connected client that keeps every text frame it receives, in order. */
export class Client {
  readonly messages: string[] = []
  private waiters: Array<() => void> = []

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(data.toString())
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  /** Resolves with the first `count` messages once they have arrived. */
  async received(count: number): Promise<string[]> {
    while (this.messages.length < count) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed after ${this.messages.length}/${count} messages`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        this.ws.once('close', resolve)
      })
    }
    return this.messages.slice(0, count)
  }

  /** Resolves with the close code and reason once the connection has closed. */
  async closed(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.CLOSED) throw new Error('already closed; call closed() before the close happens')
    const [code, reason] = (await once(this.ws, 'close')) as [number, Buffer]
    return { code, reason: reason.toString() }
  }

  close(): Promise<unknown> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    const done = once(this.ws, 'close')
    this.ws.close()
    return done
  }
}

/** Opens a WebSocket to `<wsUrl>/ws` and resolves once it is open. */
export async function connect(hub: TestHub | string, auth: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}, options: ClientOptions = {}): Promise<Client> {
  const base = typeof hub === 'string' ? hub : hub.wsUrl
  const url = auth.token !== undefined ? `${base}/ws?token=${auth.token}` : `${base}/ws`
  const ws = new WebSocket(url, auth.protocols ?? [], { ...options, headers: auth.headers })
  const client = new Client(ws)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
    ws.once('unexpected-response', (_request, response) => {
      reject(new Error(`unexpected response ${response.statusCode}`))
    })
  })
  return client
}

/** Connects as `uid` with a token from the test secret. */
export function connectAs(hub: TestHub, uid: string, options: ClientOptions = {}): Promise<Client> {
  return connect(hub, { token: token({ uid }) }, options)
}

/** What a framed connection receives for each message. */
export interface Envelope {
  id?: string
  seq?: number
  time: number
  data: string
}

/** A client of the framed protocol: the envelopes it received, and acks. */
export class FramedClient extends Client {
  async envelopes(count: number): Promise<Envelope[]> {
    return (await this.received(count)).map((text) => JSON.parse(text) as Envelope)
  }

  ack(seq: number): void {
    this.ws.send(JSON.stringify({ type: 'ack', seq }))
  }
}

/** Connects as `uid` with the framed protocol, the token in the bearer subprotocol as a browser sends it. */
export async function connectFramed(hub: TestHub, uid: string, since?: number): Promise<FramedClient> {
  const query = since === undefined ? '' : `?since=${since}`
  const ws = new WebSocket(`${hub.wsUrl}/ws${query}`, ['pusher.framed.v1', `bearer.${token({ uid })}`])
  const client = new FramedClient(ws)
  await once(ws, 'open')
  if (ws.protocol !== 'pusher.framed.v1') throw new Error(`the hub selected "${ws.protocol}", not the framed protocol`)
  return client
}

/** Tries to connect (from `localAddress`, any loopback address) and returns the HTTP status and JSON body the hub refused the upgrade with. */
export async function refusedUpgrade(url: string, protocols: string[] = [], headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number; body: { code: string; message: string } }> {
  const ws = new WebSocket(url, protocols, { headers, ...(localAddress !== undefined && { localAddress }) })
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    ws.once('error', (error) => reject(new Error(`refused without an HTTP answer: ${error.message}`)))
    ws.once('unexpected-response', (request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk })
      response.on('end', () => {
        request.destroy()
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) })
      })
    })
  })
}

/** POSTs `body` (an object sent as JSON, or a string sent as a form) with the test API key. */
export async function post(hub: TestHub, path: string, body?: object | string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, ...headers } }
  if (typeof body === 'string') {
    init.body = body
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/x-www-form-urlencoded'
  } else if (body !== undefined) {
    init.body = JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
  }
  const response = await fetch(`${hub.url}${path}`, init)
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

/** GETs `path` with the test API key: the HTTP status and the JSON body. */
export async function get(hub: TestHub, path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  return { status: response.status, body: await response.json() }
}

/** GET /messages/:id with the test API key: the HTTP status and the message's state. */
export async function messageState(hub: TestHub, id: string): Promise<{ code: number; body: any }> {
  const response = await fetch(`${hub.url}/messages/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  return { code: response.status, body: await response.json() }
}

/** The hub's /metrics, as a map from series (`name{labels}` as printed) to value. */
export async function metrics(hub: TestHub): Promise<Map<string, number>> {
  const text = await (await fetch(`${hub.url}/metrics`)).text()
  const series = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    series.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return series
}
