// The connection guard when the host app terminates TLS in Node (Fastify's `https`
// option). Node gives the guard the TCP socket first and runs HTTP on the TLS socket
// made after the handshake: a WebSocket or a keep-alive connection over TLS must not be
// taken for a socket that never sent a request, and a socket that does send nothing
// must still be closed, with a 408 the client can read (over TLS) where it got that far.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request as httpsRequest } from 'node:https'
import { connect as tcpConnect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import pusher from '../../app.js'
import { API_KEY, SECRET, token } from '../support/helpers.js'
import { root } from '../support/paths.js'

const cert = readFileSync(join(root, 'test/support/tls/cert.pem'))
const key = readFileSync(join(root, 'test/support/tls/key.pem'))
const HEAD_TIMEOUT_MS = 300

describe('the connection guard over HTTPS', () => {
  let app: FastifyInstance
  let port: number
  before(async () => {
    app = Fastify({ logger: false, https: { key, cert } })
    await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, headersTimeoutMs: HEAD_TIMEOUT_MS, bodyTimeoutMs: HEAD_TIMEOUT_MS })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as { port: number }).port
  })
  after(() => app.close())

  /** A GET over `agent`; resolves with its status and the local port of the connection it went on. */
  const get = (agent: Agent, path: string) => new Promise<{ status: number; localPort: number }>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, agent, ca: cert }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode!, localPort: req.socket!.localPort! }))
    })
    req.on('error', reject)
    req.end()
  })

  test('a TLS socket that sends no request gets a 408 over TLS; a WebSocket and a keep-alive connection opened before it stay', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?token=${token({ uid: 'tls-user' })}`, { ca: cert })
    await once(ws, 'open')
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const first = await get(agent, '/health')

    // Opened after both, idle: closed once the head timeout has passed for it, and so for them.
    const idle = tlsConnect({ host: '127.0.0.1', port, ca: cert })
    await once(idle, 'secureConnect')
    const started = performance.now()
    let answer = ''
    idle.on('data', (chunk: Buffer) => { answer += chunk })
    await once(idle, 'close')
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout/)
    assert.ok(performance.now() - started >= HEAD_TIMEOUT_MS - 50, 'closed before the head timeout')

    assert.equal(ws.readyState, WebSocket.OPEN, 'the WebSocket over TLS was closed as if idle')
    const received = once(ws, 'message')
    assert.equal(app.hub.send('tls-user', 'still here'), 1)
    assert.equal(String((await received)[0]), 'still here')
    const second = await get(agent, '/health')
    assert.deepEqual([first.status, second.status], [200, 200])
    assert.equal(second.localPort, first.localPort, 'the keep-alive connection was closed as if idle')
    agent.destroy()
    ws.close()
  })

  test('a TCP socket that never starts its TLS handshake is closed after the head timeout, without a plain-text answer', async () => {
    const socket = tcpConnect({ port, host: '127.0.0.1' })
    await once(socket, 'connect')
    const started = performance.now()
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk })
    await once(socket, 'close')
    assert.ok(performance.now() - started >= HEAD_TIMEOUT_MS - 50, 'closed before the head timeout')
    assert.equal(answer, '')
  })
})
