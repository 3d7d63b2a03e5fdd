// Reference server: the floor's hub (bench/reference/floor-hub.mjs) written as a plain
// Fastify app: routing, @fastify/formbody and @fastify/websocket, and nothing else (no
// sender authentication, no validation, no metrics). What it costs above the floor is
// what the framework's request lifecycle costs; bench/RESULTS.md compares it with
// fastify-pusher, which carries that lifecycle plus its own checks.
import formbody from '@fastify/formbody'
import websocket from '@fastify/websocket'
import { createVerifier } from 'fast-jwt'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'

const verify = createVerifier({ key: process.env.JWT_SECRET ?? 'secret', algorithms: ['HS256'], cache: true })
const users = new Map<string, Set<WebSocket>>()
let pending = 0

const app = Fastify()
await app.register(formbody)
await app.register(websocket)
app.decorateRequest('uid', '')

type Fields = { uid?: string; message?: string }
const fields = (request: FastifyRequest): Fields => ({ ...(request.query as Fields), ...(request.body as Fields | undefined) })
const write = (socket: WebSocket, message: string) => {
  pending++
  socket.send(message, () => { pending-- })
}

app.get('/ws', {
  websocket: true,
  onRequest: (request, reply, done) => {
    try {
      request.uid = verify((request.query as { token?: string }).token ?? '').uid
      done()
    } catch {
      reply.code(401).send()
    }
  },
}, (socket, request) => {
  const uid = request.uid
  let set = users.get(uid)
  if (set === undefined) users.set(uid, (set = new Set()))
  set.add(socket)
  socket.on('close', () => {
    set.delete(socket)
    if (set.size === 0) users.delete(uid)
  })
})

app.post('/send', (request, reply: FastifyReply) => {
  const { uid = '', message = '' } = fields(request)
  const set = users.get(uid)
  if (set === undefined) return reply.code(400).send('client not found')
  for (const socket of set) write(socket, message)
  return 'ok'
})

app.post('/broadcast', (request) => {
  const { message = '' } = fields(request)
  for (const set of users.values()) for (const socket of set) write(socket, message)
  return 'ok'
})

app.get('/metrics', () => {
  let connections = 0
  for (const set of users.values()) connections += set.size
  return `# TYPE connections gauge\nconnections ${connections}\n# TYPE pending gauge\npending ${pending}\n`
})

declare module 'fastify' {
  interface FastifyRequest {
    uid: string
  }
}

await app.listen({ port: Number(process.env.PORT ?? 8182), host: '127.0.0.1' })
