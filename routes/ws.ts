// GET /ws: authenticate first, answer 401 before any upgrade, then hand the socket to
// the hub. go-pusher clients connect unchanged with ?token=<jwt>.
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import type { WebSocket } from 'ws'
import { CloseCode } from '../lib/hub/close-codes.js'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'
import { parseSince } from '../lib/hub/envelope.js'
import { releaseUpgradeResponse } from '../lib/hub/raw-socket.js'
import { PROTOCOL_FRAMED, selectProtocol } from '../lib/auth/token.js'
import { Type } from 'typebox'
import { errorResponses } from './error-schema.js'

export interface WsRouteOptions {
  config: PusherConfig
}

async function wsRoute(fastify: FastifyInstance, { config }: WsRouteOptions) {
  const hub = fastify.hub
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
      hub.close(config.shutdownTimeoutMs).then(() => done(), done)
    },
  })

  const { refusals, guard } = fastify.pusherLimits
  const { revocations } = fastify
  const { allowedOrigins, maxConnections, maxConnectionsPerUser } = config

  /** The per-user cap, checked once the user is known and again when the socket is taken. */
  const userCapReached = (request: FastifyRequest): boolean => {
    if (hub.connectionsOf(request.uid) < maxConnectionsPerUser) return false
    refusals.refuse('user_cap', request.ip, `user ${JSON.stringify(request.uid)} already holds ${maxConnectionsPerUser} connections: 429`)
    return true
  }

  /** Upgrades whose authenticator answered asynchronously: others may have passed the user cap meanwhile. */
  const authenticatedLater = new WeakSet<FastifyRequest>()

  /** The last check, once the user is known. */
  const admit = (request: FastifyRequest, done: HookHandlerDoneFunction) => {
    if (userCapReached(request)) return done(new PusherError.TOO_MANY_CONNECTIONS(request.uid, maxConnectionsPerUser))
    done()
  }
  const refuse = (reply: FastifyReply, error: Error & { retryAfter?: number }, done: HookHandlerDoneFunction) => {
    if (error.retryAfter !== undefined) reply.header('retry-after', error.retryAfter)
    done(error)
  }

  fastify.route({
    method: 'GET',
    url: '/ws',
    schema: WS_SCHEMA,
    // The schema documents the query; onRequest has already read and checked it, so a
    // second check per handshake would cost without refusing anything more.
    validatorCompiler: () => acceptAll,
    onRequest: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      if (!request.ws) return done(new PusherError.UPGRADE_REQUIRED())
      guard.admitted(request.raw.socket)
      if (hub.isClosing) return done(new PusherError.SHUTTING_DOWN())
      // Browsers always send Origin on a WebSocket handshake; other clients may not, and
      // cannot be made to by a page on another site, so a missing Origin passes.
      const origin = request.headers.origin
      if (allowedOrigins !== undefined && origin !== undefined && !allowedOrigins.has(origin)) {
        refusals.refuse('origin', request.ip, `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed: 403`)
        return done(new PusherError.ORIGIN_FORBIDDEN())
      }
      if (Number.isNaN(parseSince(request.query))) return done(new PusherError.INVALID_SINCE())
      if (hub.connectionCount >= maxConnections) {
        refusals.refuse('connection_cap', request.ip, `${maxConnections} connections open (PUSHER_MAX_CONNECTIONS): 503`)
        return done(new PusherError.HUB_FULL(maxConnections))
      }
      let authenticated: void | Promise<void>
      try {
        authenticated = fastify.authenticateConnection(request)
      } catch (error) {
        return refuse(reply, error as Error, done)
      }
      if (authenticated === undefined) return admit(request, done)
      authenticatedLater.add(request)
      authenticated.then(() => admit(request, done), (error: Error) => refuse(reply, error, done))
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
      releaseUpgradeResponse(request.raw.socket)
      if (hub.isClosing) {
        socket.close(1001, 'server shutting down')
        return
      }
      // An asynchronous authenticator lets several upgrades of one user pass the check
      // at once; the last ones over the cap are closed here. (A synchronous one, JWT,
      // runs check and upgrade in one turn: nothing can come between them.)
      if (authenticatedLater.has(request) && userCapReached(request)) {
        socket.close(CloseCode.POLICY_VIOLATION, `too many connections for this user (at most ${maxConnectionsPerUser})`)
        return
      }
      // A revocation that arrived during the upgrade (after the token was checked) still applies.
      if (revocations.isRevoked(request.uid, request.uidIssuedAt)) {
        socket.close(CloseCode.TOKEN_REVOKED, 'token revoked: fetch a fresh token and reconnect')
        return
      }
      // ?since= means something to framed clients only: plain ones cannot tell seqs apart.
      const framed = socket.protocol === PROTOCOL_FRAMED
      hub.add(request.uid, socket, {
        framed,
        since: framed ? parseSince(request.query) : undefined,
        expiresAt: request.uidExpiresAt === 0 ? undefined : request.uidExpiresAt,
        issuedAt: request.uidIssuedAt,
        tcp: request.raw.socket,
        topics: request.uidTopics ?? undefined,
      })
    },
  })
}

/**
 * For the OpenAPI document, which has no words for a WebSocket: the upgrade as the GET it
 * starts with. The query is read by the onRequest hook above, before validation runs;
 * this schema accepts whatever that hook accepted.
 */
const WS_SCHEMA: FastifySchema = {
  summary: 'Connect a user\'s device: a WebSocket upgrade',
  description: 'A WebSocket handshake (Upgrade: websocket). The JWT comes as ?token=, as "Authorization: Bearer <jwt>", or as the subprotocol "bearer.<jwt>" next to "pusher.v1" (or "pusher.framed.v1" for the framed protocol, which resuming with ?since= needs). Every refusal is an HTTP answer before the upgrade. Messages then arrive as text frames; docs/api.md describes the protocol and its close codes.',
  tags: ['clients'],
  security: [{ clientToken: [] }, { clientTokenQuery: [] }],
  querystring: Type.Object({
    token: Type.Optional(Type.String({ description: 'the user\'s JWT, when it is not in a header or subprotocol' })),
    since: Type.Optional(Type.String({ description: 'framed protocol: the seq of the last message the client processed; what was kept after it is written first (0: everything kept)' })),
  }),
  response: {
    101: { description: 'Switching Protocols: the connection is a WebSocket from now on', type: 'null' },
    ...errorResponses({
      400: '?since= is not a whole number (PUSHER_ERR_INVALID_SINCE)',
      401: 'No token, or a token that is malformed, badly signed, expired or without a valid uid (PUSHER_ERR_TOKEN_MISSING, PUSHER_ERR_TOKEN_INVALID; the message names the reason)',
      403: 'A browser page from an origin not in PUSHER_ALLOWED_ORIGINS (PUSHER_ERR_ORIGIN_FORBIDDEN)',
      426: 'A plain GET without the WebSocket upgrade (PUSHER_ERR_UPGRADE_REQUIRED)',
      429: 'The user holds PUSHER_MAX_CONNECTIONS_PER_USER connections here, or this address failed too often (with Retry-After)',
      503: 'This node is full (PUSHER_ERR_HUB_FULL) or shutting down (PUSHER_ERR_SHUTTING_DOWN): connect to another node',
    }),
  },
}

const acceptAll = () => true

// Protocol errors (a frame over maxInboundBytes, bad UTF-8) already make ws close the
// connection with the right code; the hub learns of it through 'close'.
function onSocketError(): void {}

export default fp(wsRoute, {
  fastify: '5.x',
  name: 'pusher-ws-route',
  dependencies: ['pusher-auth', 'pusher-hub', 'pusher-limits'],
  encapsulate: true,
})
