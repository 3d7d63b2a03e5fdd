// Session control for the backend: who is online (GET /users/:uid, POST /presence,
// GET /stats), ending a user's sessions (POST /users/:uid/disconnect) and revoking their
// tokens (POST /users/:uid/revoke). Cluster-wide through the bus; every route needs an
// API key, as the sender API does.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { isClusterBus } from '../lib/bus/bus.js'
import type { PusherConfig } from '../lib/config/config.js'
import { errorResponses } from './error-schema.js'
import { sessionSchemas } from './session-schemas.js'
import { SENDER_ERRORS } from './schemas.js'
import { senderScope } from './validation.js'

export interface SessionRoutesOptions {
  config: PusherConfig
}

async function sessionRoutes(instance: FastifyInstance, { config }: SessionRoutesOptions) {
  const fastify = senderScope(instance)

  const schemas = sessionSchemas(config)
  const errors = errorResponses(SESSION_ERRORS)
  const tags = ['sessions']
  const { bus, hub } = fastify

  fastify.get('/users/:uid', {
    schema: {
      summary: 'Whether a user is online, on any node',
      tags,
      params: schemas.UserParams,
      response: { 200: { ...schemas.UserPresence, description: 'the user\'s connections, on every node' }, ...errors },
    },
  }, async (request) => (await bus.presenceOf([request.params.uid]))[0]!)

  fastify.post('/presence', {
    schema: {
      summary: 'Whether each of many users is online',
      tags,
      body: schemas.PresenceBody,
      response: { 200: { ...schemas.PresenceResults, description: 'one result per uid, in request order' }, ...errors },
    },
  }, async (request) => ({
    results: (await bus.presenceOf(request.body.uids)).map(({ uid, online, connections }) => ({ uid, online, connections })),
  }))

  fastify.get('/stats', {
    schema: {
      summary: 'Connections and users online: the cluster and this node',
      tags,
      response: {
        200: { ...schemas.ClusterStats, description: 'the cluster\'s numbers, and this node\'s own' },
        ...errorResponses({ 401: SESSION_ERRORS[401], 429: SESSION_ERRORS[429] }),
      },
    },
  }, () => ({
    ...bus.cluster(),
    node: { id: isClusterBus(bus) ? bus.nodeId : 'local', connections: hub.connectionCount, users: hub.userCount },
  }))

  fastify.post('/users/:uid/disconnect', {
    preValidation: noBodyAsEmpty,
    schema: {
      summary: 'Close every connection of a user, on every node',
      description: 'Close code 4002 (the client may reconnect), or 4003 with `reconnect: false` (it must not). The body may be left out.',
      tags,
      params: schemas.UserParams,
      body: schemas.DisconnectBody,
      response: { 200: { ...schemas.Disconnection, description: 'the connections closed, on every node' }, ...errors },
    },
  }, (request) => bus.disconnect(request.params.uid, { reconnect: request.body.reconnect }))

  fastify.post('/users/:uid/revoke', {
    preValidation: noBodyAsEmpty,
    schema: {
      summary: 'Revoke a user\'s tokens issued before a time, and close the connections they opened',
      description: 'Tokens of the user issued (iat) before `before` (default: now) are refused with 401 (reason revoked), on every node, and the connections they opened are closed with 4004. The body may be left out.',
      tags,
      params: schemas.UserParams,
      body: schemas.RevokeBody,
      response: { 200: { ...schemas.Revocation, description: 'the cut in force, and how long it is kept' }, ...errors },
    },
  }, (request) => {
    const before = request.body.before
    return bus.revoke(request.params.uid, { beforeMs: before === undefined ? undefined : before * 1000 })
  })
}

/** What each error status of the session routes means (the OpenAPI document lists them). */
const SESSION_ERRORS = {
  400: 'A uid that is empty, too long or not well-formed Unicode (PUSHER_ERR_INVALID_UID), or a missing, unknown or mistyped field (FST_ERR_VALIDATION)',
  401: SENDER_ERRORS[401],
  429: 'Too many failed authentications from this address (PUSHER_ERR_TOO_MANY_FAILURES, with Retry-After)',
  503: 'Cluster mode: Redis is unreachable, so the other nodes could not be asked or told (PUSHER_ERR_CLUSTER_UNAVAILABLE); or the hub is shutting down. Retry shortly',
}

/** Every field of a kick or a revocation is optional: a POST without a body means the defaults. */
function noBodyAsEmpty(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  request.body ??= {}
  done()
}

export default fp(sessionRoutes, {
  fastify: '5.x',
  name: 'pusher-session-routes',
  dependencies: ['pusher-auth', 'pusher-bus'],
  encapsulate: true,
})
