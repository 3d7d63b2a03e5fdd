// Decorates `fastify.pusherReadiness`: whether this node can deliver now
// (lib/health/readiness.ts), read by GET /ready and the pusher_ready gauge. A change
// between ready and not ready is logged once, with the failing checks.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { failures, Readiness } from '../lib/health/readiness.js'

declare module 'fastify' {
  interface FastifyInstance {
    pusherReadiness: Readiness
  }
}

async function healthPlugin(fastify: FastifyInstance) {
  const readiness = new Readiness({ hub: fastify.hub, bus: fastify.bus, store: fastify.store })
  readiness.onChange = (report) => {
    if (report.ready) fastify.log.info('ready again: every readiness check passes')
    else fastify.log.warn(`not ready: ${failures(report)}`)
  }
  fastify.decorate('pusherReadiness', readiness)
}

export default fp(healthPlugin, { fastify: '5.x', name: 'pusher-health', dependencies: ['pusher-hub', 'pusher-bus', 'pusher-store'] })
