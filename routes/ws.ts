// GET /ws: authenticate first, answer 401 before any upgrade, then hand the socket to
// the hub. go-pusher clients connect unchanged with ?token=<jwt>.
import websocket from '@fastify/websocket'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import type { WebSocket } from 'ws'
import type { PusherConfig } from '../lib/config.js'
import { PusherError } from '../lib/errors.js'
import { parseSince } from '../lib/envelope.js'
import { PROTOCOL_FRAMED, selectProtocol } from '../lib/token.js'

export interface WsRouteOptions {
  config: PusherConfig
}

async function wsRoute(fastify: FastifyInstance, { config }: WsRouteOptions) {
  await fastify.register(websocket, {
    options: {
      // Inbound frames are not used by the hub; a small bound keeps a client from
      // making it buffer much (ws closes such a connection with 1009).
      maxPayload: config.maxInboundBytes,
      // The hub tracks connections itself; a second Set in ws would cost memory per socket.
      clientTracking: false,
      perMessageDeflate: false,
      handleProtocols: (protocols) => selectProtocol(protocols),
    },
    // Shutdown of the connections happens here rather than in the hub plugin because
    // @fastify/websocket stops listening for upgrades just before this hook: a client
    // that tries to connect while the hub drains then gets a plain HTTP 503 whose
    // socket Node closes, instead of a half-handled upgrade that would hold the
    // server's close open.
    preClose(done) {
      fastify.websocketServer.close()
      fastify.hub.close(config.shutdownTimeoutMs).then(() => done(), done)
    },
  })

  fastify.route({
    method: 'GET',
    url: '/ws',
    onRequest: (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      if (!request.ws) return done(new PusherError.UPGRADE_REQUIRED())
      if (fastify.hub.isClosing) return done(new PusherError.SHUTTING_DOWN())
      if (Number.isNaN(parseSince(request.query))) return done(new PusherError.INVALID_SINCE())
      let uid: string | Promise<string>
      try {
        uid = fastify.authenticateConnection(request)
      } catch (error) {
        return done(error as Error)
      }
      if (typeof uid === 'string') {
        request.uid = uid
        return done()
      }
      uid.then((resolved) => {
        request.uid = resolved
        done()
      }, done)
    },
    handler: async () => {
      throw new PusherError.UPGRADE_REQUIRED()
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      // Let go of what the upgrade request no longer needs, or it lives as long as the
      // socket: @fastify/websocket's error listener closes over the request and reply,
      // and the stand-in HTTP response it routed the upgrade with stays attached to the
      // TCP socket (with the request and its headers behind it).
      socket.removeAllListeners('error')
      socket.on('error', onSocketError)
      const tcp = (socket as unknown as { _socket: Socket & { _httpMessage?: ServerResponse | null } })._socket
      tcp._httpMessage?.detachSocket(tcp)
      if (fastify.hub.isClosing) {
        socket.close(1001, 'server shutting down')
        return
      }
      // ?since= means something to framed clients only: plain ones cannot tell seqs apart.
      const framed = socket.protocol === PROTOCOL_FRAMED
      fastify.hub.add(request.uid, socket, { framed, since: framed ? parseSince(request.query) : undefined })
    },
  })
}

// Protocol errors (a frame over maxInboundBytes, bad UTF-8) already make ws close the
// connection with the right code; the hub learns of it through 'close'.
function onSocketError(): void {}

export default fp(wsRoute, {
  fastify: '5.x',
  name: 'pusher-ws-route',
  dependencies: ['pusher-auth', 'pusher-hub'],
  encapsulate: true,
})
