// GET /health (liveness: the process answers) and GET /ready (readiness: this node can
// deliver, lib/health/readiness.ts), for load balancers, orchestrators and people. No
// API key: a probe has none, and neither answer says more than whether to send traffic.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Type } from 'typebox'
import { PusherError } from '../lib/errors.js'
import { failures } from '../lib/health/readiness.js'

/** One check's result; `description` says when it fails. */
const check = (description: string) => Type.Optional(Type.Object({
  ok: Type.Boolean(),
  reason: Type.Optional(Type.String({ description: 'set when the check fails: what is wrong and what it breaks' })),
}, { description }))
const Checks = Type.Object({
  shutdown: check('fails while the hub shuts down'),
  redis: check('cluster mode: fails while the command connection to Redis is down'),
  relay: check('cluster mode: fails while this node does not hear what other nodes relay to it'),
  store: check('with a message store: fails while it cannot write'),
}, { description: 'each check that applies to this node, by name' })

const Health = Type.Object({ status: Type.Literal('ok') }, { description: 'the process serves HTTP' })
const Ready = Type.Object({ status: Type.Literal('ready'), checks: Checks }, { description: 'every check passes: send traffic here' })
const NotReady = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Literal('PUSHER_ERR_NOT_READY'),
  error: Type.String(),
  message: Type.String({ description: 'the failing checks and why, in one line' }),
  status: Type.Literal('not_ready'),
  checks: Checks,
}, { description: 'a check fails: send traffic to another node. The ErrorBody fields, plus status and checks as in the 200 answer' })

/** Probes must see the node as it is now, never a cached answer of a proxy. */
const NO_STORE = { 'cache-control': 'no-store' }

async function healthRoutes(fastify: FastifyInstance) {
  const readiness = fastify.pusherReadiness

  fastify.get('/health', {
    schema: {
      summary: 'Liveness: the process serves',
      description: 'Answers 200 while the process serves HTTP, whatever the state of Redis or the store (GET /ready says whether to send it traffic). During shutdown every route answers 503.',
      tags: ['operations'],
      security: [],
      response: { 200: Health },
    },
  }, (_request, reply) => {
    reply.headers(NO_STORE)
    return { status: 'ok' as const }
  })

  fastify.get('/ready', {
    schema: {
      summary: 'Readiness: this node can deliver messages',
      description: 'Answers 200 when every check passes; 503 with the failing checks while the hub shuts down, while (cluster mode) its Redis link or relay subscription is down, or while the message store cannot write. The store is probed at most once a second.',
      tags: ['operations'],
      security: [],
      response: { 200: Ready, 503: NotReady },
    },
  }, async (_request, reply) => {
    reply.headers(NO_STORE)
    const report = await readiness.check()
    if (report.ready) return { status: 'ready' as const, checks: report.checks }
    const error = new PusherError.NOT_READY(failures(report))
    reply.code(503)
    return {
      statusCode: 503, code: 'PUSHER_ERR_NOT_READY' as const, error: 'Service Unavailable', message: error.message,
      status: 'not_ready' as const, checks: report.checks,
    }
  })
}

export default fp(healthRoutes, {
  fastify: '5.x',
  name: 'pusher-health-routes',
  dependencies: ['pusher-health'],
  encapsulate: true,
})
