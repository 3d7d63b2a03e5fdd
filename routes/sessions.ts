// Session control for the backend: who is online (GET /users/:uid, POST /presence,
// GET /stats), ending a user's sessions (POST /users/:uid/disconnect) and revoking their
// tokens (POST /users/:uid/revoke). Cluster-wide through the bus; every route needs an
// API key, as the sender API does.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { isClusterBus } from '../lib/bus/bus.js'
import type { PusherConfig } from '../lib/config/config.js'
import { errorResponses } from './error-schema.js'
import { sessionSchemas } from './session-schemas.js'
import { senderErrors } from './schemas.js'
import { checkWithTypeBox, formatValidationErrors } from './validation.js'

export interface SessionRoutesOptions {
  config: PusherConfig
}

async function sessionRoutes(instance: FastifyInstance, { config }: SessionRoutesOptions) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  fastify.setValidatorCompiler(checkWithTypeBox)
  fastify.setSchemaErrorFormatter(formatValidationErrors)
  fastify.addHook('onRequest', fastify.verifySender)

  const schemas = sessionSchemas(config)
  const errors = errorResponses(senderErrors(400, 401, 503))
  const { bus, hub } = fastify

  fastify.get('/users/:uid', {
    schema: { params: schemas.UserParams, response: { 200: schemas.UserPresence, ...errors } },
  }, async (request) => (await bus.presenceOf([request.params.uid]))[0]!)

  fastify.post('/presence', {
    schema: { body: schemas.PresenceBody, response: { 200: schemas.PresenceResults, ...errors } },
  }, async (request) => ({
    results: (await bus.presenceOf(request.body.uids)).map(({ uid, online, connections }) => ({ uid, online, connections })),
  }))

  fastify.get('/stats', {
    schema: { response: { 200: schemas.ClusterStats, ...errorResponses(senderErrors(401)) } },
  }, () => ({
    ...bus.cluster(),
    node: { id: isClusterBus(bus) ? bus.nodeId : 'local', connections: hub.connectionCount, users: hub.userCount },
  }))

  fastify.post('/users/:uid/disconnect', {
    preValidation: noBodyAsEmpty,
    schema: { params: schemas.UserParams, body: schemas.DisconnectBody, response: { 200: schemas.Disconnection, ...errors } },
  }, (request) => bus.disconnect(request.params.uid, { reconnect: request.body.reconnect }))

  fastify.post('/users/:uid/revoke', {
    preValidation: noBodyAsEmpty,
    schema: { params: schemas.UserParams, body: schemas.RevokeBody, response: { 200: schemas.Revocation, ...errors } },
  }, (request) => {
    const before = request.body.before
    return bus.revoke(request.params.uid, { beforeMs: before === undefined ? undefined : before * 1000 })
  })
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
